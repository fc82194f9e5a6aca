"""Per-user conversation state (language, open guide, numbered options, source) that survives a restart.

Keyed by a salted hash of the channel's user id (bot.privacy.hash_user): the raw id is never stored.
DatabaseStateStore writes through on every change (SQLite or PostgreSQL, bot.storage); rows are tiny, and
SQLite's WAL makes that cheap.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Protocol

from . import storage


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


class DatabaseStateStore:
    """State in the database (bot.storage: the SQLite file, or PostgreSQL), one row per hashed user.

    One connection behind a lock: the engine's thread and the server's threads share the store."""

    TABLE = "user_state"  # created by the baseline revision (bot/storage/migrations)

    def __init__(self, where: storage.Target | Path | str):
        self._lock = threading.Lock()
        # /forget deletes a row: on SQLite the storage layer turns secure_delete on for every connection
        self.db = storage.connect(where)

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
                "on conflict (user) do update set state = excluded.state, updated = excluded.updated",
                [user, payload, now, now],
            )

    def delete(self, user: str) -> None:
        with self._lock:
            self.db.execute(f"delete from {self.TABLE} where user = ?", [user])

    def close(self) -> None:
        with self._lock:
            self.db.close()


# the old name, while the callers outside bot/state.py move to DatabaseStateStore (remove afterwards)
SqliteStateStore = DatabaseStateStore
