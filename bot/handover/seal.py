"""Where to reach a citizen (a Telegram chat id, a Zalo user id, a web session), sealed before it is stored.

Why: the analytics and state tables know citizens only by a salted hash, which cannot be answered. A
ticket, and a citizen who asked to be told when a question gets an answer, must be reachable until then,
so the address is kept, but encrypted (Fernet: AES-128-CBC with an HMAC-SHA256, from the `cryptography`
package) with a key derived from the server's secret salt. A copy of the database alone reveals no chat
id; the key never leaves the process. Addresses are erased (set to NULL) once they are no longer needed:
a ticket closed or withdrawn, a citizen told, 30 days passed (bot.handover.store).
"""

from __future__ import annotations

import base64
import hashlib

from cryptography.fernet import Fernet, InvalidToken


class Sealer:
    def __init__(self, salt: str):
        if not salt:
            raise ValueError("a secret salt is needed to seal addresses")
        key = hashlib.sha256(b"digiguide/address/v1\0" + salt.encode()).digest()
        self._fernet = Fernet(base64.urlsafe_b64encode(key))

    def seal(self, address: str) -> bytes:
        return self._fernet.encrypt(address.encode())

    def open(self, sealed: bytes | None) -> str | None:
        """The address, or None when it was erased or sealed with another salt."""
        if not sealed:
            return None
        try:
            return self._fernet.decrypt(bytes(sealed)).decode()
        except InvalidToken:
            return None
