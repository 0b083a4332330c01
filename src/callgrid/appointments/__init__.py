"""The appointments API over the calls core."""
