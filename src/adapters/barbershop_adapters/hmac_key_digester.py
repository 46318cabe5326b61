"""HMAC-SHA256 digests of random API keys.

A partner key carries 256 random bits, so a slow hash adds nothing; the keyed hash
means a stolen table of digests is useless without the server's pepper.
"""

from __future__ import annotations

import hashlib
import hmac


class HmacKeyDigester:
    """Implements ``KeyDigester``."""

    def __init__(self, pepper: bytes) -> None:
        if len(pepper) < 16:
            raise ValueError("the key pepper must have at least 16 bytes")
        self._pepper = pepper

    def digest(self, key: str) -> str:
        return hmac.new(self._pepper, key.encode(), hashlib.sha256).hexdigest()
