"""Join tokens and room keys, signed with the server's secret.

- A **join token** is a JWT (HS256, PyJWT): `room` (the room's id), `sub` (the `user_id`),
  `exp`, and an optional display `name`. It is checked at every join: signature, expiry
  (against the app's clock), room. It is not stored; a private room also checks that `sub` is
  still a member at join time.
- A **room key** is an HMAC of the room's id: whoever holds it joins that room as a guest (a
  video call's `meetingUrl` carries it). It is derived, not stored, so rendering a call's link
  costs no read.
- A **media signature** is an HMAC of a room, one of its recordings and an expiry: a replay's
  short-lived link to that recording's file (callgrid.rooms.replay), good for nothing else.

The secret is `CALLGRID_SECRET_KEY`, or one generated on the first start and kept in the
database (`server_secrets`), so every process of an installation signs alike. Tokens and keys
use separate keys derived from it.
"""

import base64
import hashlib
import hmac
from dataclasses import dataclass
from datetime import UTC, datetime
from uuid import UUID

import jwt

from callgrid.db.server_secrets import installation_secret
from callgrid.db.session import Database

AUDIENCE = "callgrid:room"
ALGORITHM = "HS256"


class TokenError(ValueError):
    """Why a token does not let its holder in (the reason of close code 4401)."""


@dataclass(frozen=True)
class JoinClaims:
    room_id: UUID
    user_id: str
    name: str | None
    expires_at: datetime


class RoomSigner:
    """Signs and checks join tokens and room keys with one server secret."""

    def __init__(self, secret: str):
        root = secret.encode()
        self._token_key = hmac.new(root, b"callgrid join tokens", hashlib.sha256).digest()
        self._room_key = hmac.new(root, b"callgrid room keys", hashlib.sha256).digest()
        self._media_key = hmac.new(root, b"callgrid recording media", hashlib.sha256).digest()

    # --- join tokens ---------------------------------------------------------------------

    def issue(self, room_id: UUID, user_id: str, expires_at: datetime, name: str | None = None) -> str:
        claims: dict = {"aud": AUDIENCE, "room": str(room_id), "sub": user_id, "exp": int(expires_at.timestamp())}
        if name:
            claims["name"] = name
        return jwt.encode(claims, self._token_key, algorithm=ALGORITHM)

    def verify(self, token: str, room_id: UUID, now: datetime) -> JoinClaims:
        """The claims of a token valid for `room_id` at `now`, else TokenError saying why."""
        try:
            # Expiry is checked below against the app's clock, not the machine's.
            claims = jwt.decode(
                token,
                self._token_key,
                algorithms=[ALGORITHM],
                audience=AUDIENCE,
                options={"verify_exp": False, "require": ["exp", "sub", "room", "aud"]},
            )
        except jwt.InvalidTokenError as exc:
            raise TokenError(f"invalid token ({type(exc).__name__})") from None
        sub, room, exp, name = claims.get("sub"), claims.get("room"), claims.get("exp"), claims.get("name")
        if not isinstance(sub, str) or not sub or not isinstance(room, str) or not isinstance(exp, int):
            raise TokenError("invalid token (claims)")
        if room != str(room_id):
            raise TokenError("the token is for another room")
        expires_at = datetime.fromtimestamp(exp, UTC)
        if expires_at <= now:
            raise TokenError("the token has expired")
        return JoinClaims(room_id, sub, name if isinstance(name, str) and name else None, expires_at)

    # --- room keys -----------------------------------------------------------------------

    def room_key(self, room_id: UUID) -> str:
        """128 bits of HMAC-SHA256 of the room id, URL-safe."""
        digest = hmac.new(self._room_key, room_id.bytes, hashlib.sha256).digest()[:16]
        return base64.urlsafe_b64encode(digest).decode().rstrip("=")

    def check_room_key(self, room_id: UUID, key: str) -> bool:
        return hmac.compare_digest(self.room_key(room_id).encode(), key.encode("utf-8", "replace"))

    # --- media signatures ----------------------------------------------------------------

    def media_signature(self, room_id: UUID, recording_id: UUID, expires: int) -> str:
        """HMAC-SHA256 of the room, the recording and the expiry (Unix seconds), URL-safe."""
        message = f"{room_id}/{recording_id}/{expires}".encode()
        digest = hmac.new(self._media_key, message, hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).decode().rstrip("=")

    def check_media_signature(self, room_id: UUID, recording_id: UUID, expires: int, signature: str) -> bool:
        expected = self.media_signature(room_id, recording_id, expires).encode()
        return hmac.compare_digest(expected, signature.encode("utf-8", "replace"))


async def load_signer(database: Database, configured: str | None) -> RoomSigner:
    """The installation's signer: `CALLGRID_SECRET_KEY` when set, else the secret kept in the
    database (callgrid.db.server_secrets)."""
    return RoomSigner(configured or await installation_secret(database.write_engine))
