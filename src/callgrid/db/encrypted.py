"""Secrets at rest: column types that store their values encrypted (Fernet, `cryptography`).

The keys are derived (HKDF-SHA256) from the installation's secret key: `CALLGRID_SECRET_KEY`,
or the secret generated once and kept in the database when it is unset (db.server_secrets).
Values are encrypted with the current key and read with it or any previous one
(`CALLGRID_PREVIOUS_SECRET_KEYS`), so the secret key can be rotated; `reseal` rewrites every
stored value under the current key (`callgrid secrets rotate`).

An encrypted value is stored as `fernet:` and the token. A value without that prefix was
written before secrets were encrypted: it is read as it is, and sealed by `callgrid migrate`
(and `serve`, which migrates).

The keyring belongs to an engine (its dialect, which the types are handed): `load_keyring`
puts it there at start-up. An engine without one refuses to read or write these columns.
"""

import base64
from collections.abc import Iterable, Sequence
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import JSON, MetaData, String, TypeDecorator, bindparam, select, type_coerce, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from callgrid.config import Settings
from callgrid.db.server_secrets import installation_secret, stored_secret

PREFIX = "fernet:"
INFO = b"callgrid secrets at rest"
_ATTRIBUTE = "callgrid_keyring"


class UnreadableSecret(Exception):
    """A stored value no configured key decrypts."""


def derive_key(secret: str) -> Fernet:
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=INFO).derive(secret.encode())
    return Fernet(base64.urlsafe_b64encode(key))


def is_sealed(stored: str) -> bool:
    return stored.startswith(PREFIX)


class Keyring:
    """Encrypts with the current secret key; decrypts with it or any of the previous ones."""

    def __init__(self, current: str, previous: Sequence[str] = ()):
        self._fernet = MultiFernet([derive_key(current), *(derive_key(secret) for secret in previous)])

    def seal(self, plaintext: str) -> str:
        return PREFIX + self._fernet.encrypt(plaintext.encode()).decode()

    def open(self, stored: str) -> str:
        if not is_sealed(stored):
            return stored  # plaintext written before secrets were encrypted
        try:
            return self._fernet.decrypt(stored[len(PREFIX):].encode()).decode()
        except InvalidToken:
            raise UnreadableSecret(
                "a stored secret is encrypted with a key that is neither CALLGRID_SECRET_KEY nor one of "
                "CALLGRID_PREVIOUS_SECRET_KEYS"
            ) from None

    def reseal(self, stored: str) -> str:
        """The value encrypted with the current key (a plaintext one encrypted for the first time)."""
        if not is_sealed(stored):
            return self.seal(stored)
        try:
            return PREFIX + self._fernet.rotate(stored[len(PREFIX):].encode()).decode()
        except InvalidToken:
            self.open(stored)  # raises UnreadableSecret
            raise


def attach(keyring: Keyring, *engines: AsyncEngine) -> None:
    for engine in engines:
        setattr(engine.sync_engine.dialect, _ATTRIBUTE, keyring)


def keyring_of(dialect) -> Keyring:
    keyring = getattr(dialect, _ATTRIBUTE, None)
    if keyring is None:
        raise RuntimeError("this engine has no keyring for encrypted columns: call callgrid.db.encrypted.load_keyring first")
    return keyring


def _secret_keys(settings: Settings, stored: str | None) -> tuple[str, list[str]]:
    previous = [key for key in settings.previous_secret_key_list() if key != settings.secret_key]
    if settings.secret_key is None:
        assert stored is not None
        return stored, previous
    # An installation that ran without CALLGRID_SECRET_KEY before: what it encrypted then stays
    # readable until `callgrid secrets rotate` rewrites it under the configured key.
    return settings.secret_key, previous + ([stored] if stored is not None else [])


async def load_keyring(settings: Settings, engine: AsyncEngine, *others: AsyncEngine) -> Keyring:
    """The installation's keyring, attached to `engine` (which writes the generated secret when
    there is none yet and CALLGRID_SECRET_KEY is unset) and to `others` of the same database."""
    stored = await (stored_secret(engine) if settings.secret_key else installation_secret(engine))
    keyring = Keyring(*_secret_keys(settings, stored))
    attach(keyring, engine, *others)
    return keyring


class EncryptedString(TypeDecorator[str]):
    """A string stored encrypted."""

    impl = String
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect) -> str | None:
        return None if value is None else keyring_of(dialect).seal(value)

    def process_result_value(self, value: str | None, dialect) -> str | None:
        return None if value is None else keyring_of(dialect).open(value)


class EncryptedValues(TypeDecorator[dict[str, str]]):
    """A JSON object of strings whose names are stored as they are and whose values encrypted."""

    impl = JSON
    cache_ok = True

    def process_bind_param(self, value: dict[str, str] | None, dialect) -> dict[str, str] | None:
        if value is None:
            return None
        keyring = keyring_of(dialect)
        return {name: keyring.seal(content) for name, content in value.items()}

    def process_result_value(self, value: dict[str, str] | None, dialect) -> dict[str, str] | None:
        if value is None:
            return None
        keyring = keyring_of(dialect)
        return {name: keyring.open(content) for name, content in value.items()}


def _resealed(keyring: Keyring, raw: Any, only_plaintext: bool) -> Any:
    """`raw` (a stored string or object of strings) under the current key; None when unchanged."""
    values = raw if isinstance(raw, dict) else {"": raw}
    if only_plaintext and all(is_sealed(content) for content in values.values()):
        return None
    resealed = {name: keyring.reseal(content) for name, content in values.items()}
    return resealed if isinstance(raw, dict) else resealed[""]


def encrypted_columns(metadata: MetaData) -> Iterable[tuple[Any, list[Any]]]:
    for table in metadata.sorted_tables:
        columns = [c for c in table.columns if isinstance(c.type, EncryptedString | EncryptedValues)]
        if columns:
            yield table, columns


async def reseal(connection: AsyncConnection, metadata: MetaData, *, only_plaintext: bool = False) -> int:
    """Rewrite every encrypted column's values under the current key (`only_plaintext`: only
    values still in plaintext); the number of rows rewritten. The caller commits."""
    keyring = keyring_of(connection.dialect)
    rewritten = 0
    for table, columns in encrypted_columns(metadata):
        primary_key = list(table.primary_key.columns)
        raw = [type_coerce(column, column.type.impl_instance).label(column.name) for column in columns]
        rows = (await connection.execute(select(*primary_key, *raw))).mappings().all()
        changes = []
        for row in rows:
            change = {}
            for column in columns:
                if row[column.name] is not None:
                    resealed = _resealed(keyring, row[column.name], only_plaintext)
                    if resealed is not None:
                        change[f"new_{column.name}"] = resealed
            if change:
                # Every encrypted column of the row is written (unchanged ones as they were).
                changes.append({**{f"new_{c.name}": change.get(f"new_{c.name}", row[c.name]) for c in columns},
                                **{f"key_{c.name}": row[c.name] for c in primary_key}})
        if changes:
            statement = (
                update(table)
                .where(*(c == bindparam(f"key_{c.name}") for c in primary_key))
                # Typed as the stored form: what is written is the new ciphertext, as it is.
                .values({c.name: bindparam(f"new_{c.name}", type_=c.type.impl_instance) for c in columns})
            )
            await connection.execute(statement, changes)
            rewritten += len(changes)
    return rewritten
