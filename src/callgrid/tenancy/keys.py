import hashlib
import secrets

KEY_PREFIX = "cg_"


def generate_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def hash_key(key: str) -> str:
    # Keys carry 256 random bits, so a fast unsalted hash is enough to make a stolen table useless.
    return hashlib.sha256(key.encode()).hexdigest()
