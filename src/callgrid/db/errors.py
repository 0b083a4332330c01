"""What a refused write means, on either database."""

from sqlalchemy.exc import IntegrityError


def is_unique_violation(exc: IntegrityError) -> bool:
    return getattr(exc.orig, "sqlstate", None) == "23505" or "unique constraint" in str(exc.orig).lower()


def is_exclusion_violation(exc: IntegrityError) -> bool:
    """PostgreSQL's exclusion constraint on calls (no double booking) refused the write."""
    return getattr(exc.orig, "sqlstate", None) == "23P01" or "exclusion" in str(exc.orig).lower()
