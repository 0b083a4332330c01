"""What every API repeats, written once: the strict body model, ids in paths, timestamps,
pagination, not-found answers and the clock."""
