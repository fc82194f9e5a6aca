"""Pseudonymous user keys: the same citizen always maps to the same key, which reveals nothing alone."""

from __future__ import annotations

import hashlib
import hmac


def hash_user(salt: str, channel: str, user_id: str) -> str:
    """HMAC-SHA256 of "channel:user_id" with a secret salt, hex, truncated to 32 chars (128 bits)."""
    digest = hmac.new(salt.encode(), f"{channel}:{user_id}".encode(), hashlib.sha256).hexdigest()
    return digest[:32]
