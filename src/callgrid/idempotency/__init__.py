"""`Idempotency-Key` on the POSTs that create: a retry with the same key gets the first
answer, and nothing is created twice (docs/idempotency.md)."""
