"""Per-user conversation state (language, open guide, numbered options, source) that survives a restart.

Keyed by a salted hash of the channel's user id (bot.privacy.hash_user): the raw id is never stored.
The SQLite store writes through on every change; rows are tiny and WAL makes that cheap.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Protocol

import sqlite_utils


@dataclass(frozen=True)
class UserState:
    lang: str | None = None  # None until the user's language is known
    guide_id: str | None = None
    guide_step: int = 0
    options: tuple[str, ...] = ()  # actions of the numbered options shown last ("2" -> options[1])
    suggestions: tuple[str, ...] = ()  # actions behind s:1..s:3
    last_entry: str | None = None
    rated: bool = False  # feedback on last_entry was counted since it was last shown with its 👍/👎 buttons
    source: str | None = None  # first-touch source tag (deep link or poster)
    ward: str | None = None
    # asking an official (bot.handover.flow): the last question typed (redacted), its key and topic, and
    # what the bot did with it ("fallback", "suggest", "faq", ... then entry ids); what the bot waits for
    # ("question" or "addition"); the question and ward of a handover being confirmed
    last_question: str | None = None
    last_key: str | None = None
    last_topic: str | None = None
    last_attempt: tuple[str, ...] = ()
    asking: str | None = None
    draft: str | None = None
    draft_ward: str | None = None

    def evolve(self, **changes) -> "UserState":
        return replace(self, **changes)


class StateStore(Protocol):
    def get(self, user: str) -> UserState: ...
    def put(self, user: str, state: UserState) -> None: ...
    def delete(self, user: str) -> None: ...


class MemoryStateStore:
    """For one-shot commands (`ask`) and tests that do not need persistence."""

    def __init__(self) -> None:
        self._states: dict[str, UserState] = {}

    def get(self, user: str) -> UserState:
        return self._states.get(user, UserState())

    def put(self, user: str, state: UserState) -> None:
        self._states[user] = state

    def delete(self, user: str) -> None:
        self._states.pop(user, None)


_COLUMNS = {f.name for f in fields(UserState)}


class SqliteStateStore:
    """State in a real SQLite file (sqlite-utils), one row per hashed user."""

    TABLE = "user_state"

    def __init__(self, path: Path | str):
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        conn = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA busy_timeout=5000")
        # /forget deletes a row: overwrite its bytes on disk, whatever SQLite's build default is
        conn.execute("PRAGMA secure_delete=ON")
        self.db = sqlite_utils.Database(conn)
        if self.TABLE not in self.db.table_names():
            self.db[self.TABLE].create(
                {"user": str, "state": str, "updated": float, "created": float}, pk="user"
            )

    def get(self, user: str) -> UserState:
        with self._lock:
            row = self.db.execute(f"select state from {self.TABLE} where user = ?", [user]).fetchone()
        if row is None:
            return UserState()
        data = {k: v for k, v in json.loads(row[0]).items() if k in _COLUMNS}
        for key in ("options", "suggestions", "last_attempt"):
            data[key] = tuple(data.get(key) or ())
        return UserState(**data)

    def put(self, user: str, state: UserState) -> None:
        now = time.time()
        payload = json.dumps(asdict(state), ensure_ascii=False)
        with self._lock:
            self.db.execute(
                f"insert into {self.TABLE} (user, state, updated, created) values (?, ?, ?, ?) "
                "on conflict(user) do update set state = excluded.state, updated = excluded.updated",
                [user, payload, now, now],
            )

    def delete(self, user: str) -> None:
        with self._lock:
            self.db.execute(f"delete from {self.TABLE} where user = ?", [user])

    def close(self) -> None:
        self.db.conn.close()
