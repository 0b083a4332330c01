"""The keyring of secrets at rest (callgrid.db.encrypted): Fernet tokens under keys derived from
the secret key, read with previous keys, rewritten under the current one. Stored rows, rotation
through the CLI and the API's answers: tests/webhooks/test_secrets_at_rest.py."""

import pytest
from pydantic import ValidationError

from callgrid.config import Settings
from callgrid.db.encrypted import PREFIX, Keyring, UnreadableSecret, _secret_keys

A = "key-A-0123456789abcdef"
B = "key-B-0123456789abcdef"
SECRET = "whsec_c2VjcmV0LXNpZ25pbmcta2V5LWZvci10ZXN0cw=="


def test_a_sealed_value_is_a_prefixed_fernet_token_without_the_plaintext():
    sealed = Keyring(A).seal(SECRET)
    assert sealed.startswith(PREFIX + "gAAAAA")  # Fernet's version byte, base64
    assert SECRET not in sealed and "c2VjcmV0" not in sealed
    assert Keyring(A).open(sealed) == SECRET
    assert Keyring(A).seal(SECRET) != sealed  # a fresh IV each time


def test_keys_are_derived_from_the_secret_key_alone():
    # Another process (or a restart) with the same secret key reads what this one wrote.
    assert Keyring(A).open(Keyring(A).seal("x")) == "x"
    with pytest.raises(UnreadableSecret, match="CALLGRID_PREVIOUS_SECRET_KEYS"):
        Keyring(B).open(Keyring(A).seal("x"))


def test_previous_keys_read_and_only_the_current_one_writes():
    under_a = Keyring(A).seal(SECRET)
    rotating = Keyring(B, [A])
    assert rotating.open(under_a) == SECRET
    assert Keyring(B).open(rotating.seal(SECRET)) == SECRET
    with pytest.raises(UnreadableSecret):
        Keyring(A).open(rotating.seal(SECRET))
    resealed = rotating.reseal(under_a)
    assert Keyring(B).open(resealed) == SECRET
    with pytest.raises(UnreadableSecret):
        Keyring(A).open(resealed)


def test_plaintext_from_before_encryption_is_read_as_it_is_and_sealed_by_reseal():
    keyring = Keyring(A)
    assert keyring.open(SECRET) == SECRET
    sealed = keyring.reseal(SECRET)
    assert sealed.startswith(PREFIX) and keyring.open(sealed) == SECRET


def test_a_value_under_an_unknown_key_is_not_resealed():
    with pytest.raises(UnreadableSecret):
        Keyring(B).reseal(Keyring(A).seal(SECRET))


def test_previous_secret_keys_setting():
    settings = Settings(secret_key=B, previous_secret_keys=f" {A} ,,{B}")
    assert settings.previous_secret_key_list() == [A, B]
    assert _secret_keys(settings, None) == (B, [A])  # the current key is not listed twice
    # A database that kept a generated secret (the key before CALLGRID_SECRET_KEY was set): read with it too.
    assert _secret_keys(settings, "stored-0123456789") == (B, [A, "stored-0123456789"])
    assert _secret_keys(Settings(), "stored-0123456789") == ("stored-0123456789", [])
    with pytest.raises(ValidationError, match="at least 16 characters"):
        Settings(previous_secret_keys=f"{A},short")
