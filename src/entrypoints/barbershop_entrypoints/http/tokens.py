"""Manager bearer tokens: ``<payload>.<signature>``, HMAC-SHA256 with the container's token key.

The payload is base64url JSON ``{"sub": <manager id>, "ver": <session version>, "exp": <unix
time>, "iat": …}``; a token whose ``ver`` is not the manager's current one is refused. The
signature covers a purpose label too, so a token minted for one use (``bearer``) is never
accepted for another (the web page's session cookie, issue 7, will sign with ``session``).
A standard library HMAC needs no JWT dependency; the format is small and fully checked here.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from datetime import datetime, timedelta

import attrs

from barbershop_core.ports import Clock

_MAX_TOKEN_LENGTH = 512


class InvalidToken(Exception):
    """Malformed, forged, for another purpose, or expired."""


@attrs.frozen
class TokenClaims:
    manager_id: int
    session_version: int
    """Valid only while it is the manager's current one (see ``Manager.end_sessions``)."""

    @property
    def subject_id(self) -> int:
        """Whom the token names: a manager, or a client for the client purposes (``client``, ``client-session``)."""
        return self.manager_id


@attrs.frozen
class IssuedToken:
    token: str
    expires_at: datetime


def _b64encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@attrs.frozen
class TokenSigner:
    key: bytes = attrs.field(repr=False)
    ttl: timedelta
    clock: Clock
    purpose: str = "bearer"

    def issue(self, manager_id: int, session_version: int) -> IssuedToken:
        now = self.clock.now()
        expires_at = now + self.ttl
        payload = {
            "sub": manager_id,
            "ver": session_version,
            "iat": int(now.timestamp()),
            "exp": int(expires_at.timestamp()),
        }
        body = _b64encode(json.dumps(payload, separators=(",", ":")).encode())
        return IssuedToken(f"{body}.{self._sign(body)}", expires_at)

    def verify(self, token: str) -> TokenClaims:
        """Whom the token was issued to, under which session version; raises :class:`InvalidToken`."""
        if len(token) > _MAX_TOKEN_LENGTH or not token.isascii() or token.count(".") != 1:
            raise InvalidToken("malformed")  # a token this server minted is ASCII; compare_digest needs it
        body, signature = token.split(".")
        if not hmac.compare_digest(signature.encode(), self._sign(body).encode()):
            raise InvalidToken("bad signature")
        try:
            payload = json.loads(_b64decode(body))
        except (ValueError, binascii.Error) as exc:
            raise InvalidToken("malformed payload") from exc
        if not isinstance(payload, dict):
            raise InvalidToken("malformed payload")
        subject, version, expires = payload.get("sub"), payload.get("ver"), payload.get("exp")
        if not isinstance(subject, int) or not isinstance(version, int) or not isinstance(expires, int):
            raise InvalidToken("malformed payload")
        if expires <= self.clock.now().timestamp():
            raise InvalidToken("expired")
        return TokenClaims(subject, version)

    def _sign(self, body: str) -> str:
        message = f"{self.purpose}.{body}".encode()
        return _b64encode(hmac.new(self.key, message, hashlib.sha256).digest())
