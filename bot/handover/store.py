"""Tickets (questions a citizen handed over to an official), the officials' replies, the outbox of messages
to deliver, and the citizens waiting to be told when their unanswered question gets an answer.

Tables (in the analytics database file, migrated here; `handover_schema_version` counts the steps):
- tickets: one per confirmed handover. `user` is the salted hash (as everywhere); `address` the sealed
  chat id or web session (bot.handover.seal), erased when the ticket is closed or withdrawn. `question` is
  redacted (bot.redact) before it gets here, and so is every addition. Status: open (waiting for an
  official), answered, closed, withdrawn; a citizen's addition reopens an answered ticket.
- ticket_messages: the conversation on a ticket: the citizen's additions and the officials' replies.
  A reply carries `outbox_id`: its delivery.
- outbox: what must reach a citizen (or an officials' group): the channel, a sealed address, the text and
  an optional entry to attach as a button. queued -> sent | failed; a retryable failure (429, 5xx, network)
  stays queued with `next_try` later (bot.handover.courier). Web chat items are sent when the citizen's
  page fetches them (GET /api/chat/pending).
- watchers: citizens who tapped "tell me when there is an answer" after a fallback, by question key. When
  a cluster of the inbox is resolved with a published entry, `notify_resolved` queues that entry for each
  watcher of its keys, once, and erases the watcher's address; an address is also erased after
  WATCH_DAYS. The row stays (without address) so officials can count citizens notified.

Every write is one transaction committed before the method returns: the engine confirms a ticket to the
citizen only after `open_ticket` returned (acknowledged means stored). One connection, one lock: the
engine thread, the dashboard's threads and the courier share the store.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .seal import Sealer

STATUSES = ("open", "answered", "closed", "withdrawn")
DELIVERIES = ("queued", "sent", "failed")
WATCH_DAYS = 30
MAX_TEXT = 4000  # an official's reply or a citizen's addition, in characters

MIGRATIONS: list[list[str]] = [
    [
        """create table tickets (
            id integer primary key, user text not null, channel text not null, address blob, lang text not null,
            ward text not null default '', topic text, question text not null, question_key text,
            attempt text not null default '{}', status text not null default 'open'
                check (status in ('open', 'answered', 'closed', 'withdrawn')),
            created_at real not null, taken_by text, taken_at real, first_answer_at real, closed_at real,
            content_entry text)""",
        "create index idx_tickets_status on tickets(status, ward, created_at)",
        "create index idx_tickets_user on tickets(user)",
        """create table ticket_messages (
            id integer primary key, ticket_id integer not null references tickets(id) on delete cascade,
            author text not null, text text not null, entry_id text, created_at real not null, outbox_id integer)""",
        "create index idx_ticket_messages_ticket on ticket_messages(ticket_id)",
        """create table outbox (
            id integer primary key, kind text not null, channel text not null, address blob, user text,
            lang text not null default 'vi', text text not null default '', entry_id text, ticket_id integer,
            status text not null default 'queued' check (status in ('queued', 'sent', 'failed')),
            attempts integer not null default 0, next_try real not null, error text,
            created_at real not null, sent_at real)""",
        "create index idx_outbox_due on outbox(status, next_try)",
        "create index idx_outbox_user on outbox(user, status)",
        """create table watchers (
            id integer primary key, user text not null, channel text not null, address blob, lang text not null,
            question_key text not null, topic text, created_at real not null, expires_at real not null,
            notified_at real, entry_id text, unique (user, question_key))""",
        "create index idx_watchers_key on watchers(question_key)",
    ],
]


class TicketError(Exception):
    """A change the store refuses; `code` is stable for the callers' words ("not_found", "closed", ...)."""

    def __init__(self, message: str, code: str):
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class TicketMessage:
    id: int
    ticket_id: int
    author: str  # "citizen" or the official's name
    text: str
    entry_id: str | None
    created_at: float
    delivery: str | None = None  # for an official's reply: queued | sent | failed
    error: str | None = None


@dataclass(frozen=True)
class Ticket:
    id: int
    user: str
    channel: str
    lang: str
    ward: str
    topic: str | None
    question: str
    question_key: str | None
    attempt: dict[str, Any]  # what the bot did last: {"kind": "fallback"|"suggest"|"faq"|..., "entries": [...]}
    status: str
    created_at: float
    taken_by: str | None = None
    taken_at: float | None = None
    first_answer_at: float | None = None
    closed_at: float | None = None
    content_entry: str | None = None
    messages: tuple[TicketMessage, ...] = ()

    @property
    def code(self) -> str:
        """What the citizen and the official call it: "#0042"."""
        return f"#{self.id:04d}"

    @property
    def additions(self) -> list[str]:
        return [m.text for m in self.messages if m.author == "citizen"]


@dataclass(frozen=True)
class OutboxItem:
    id: int
    kind: str  # "reply" (an official's answer on a ticket), "notify" (a watcher's answer), "notice" (officials' group)
    channel: str
    address: str | None  # opened; None when it could not be (another salt)
    user: str | None
    lang: str
    text: str
    entry_id: str | None
    ticket_id: int | None
    attempts: int
    created_at: float

    @property
    def code(self) -> str | None:
        return f"#{self.ticket_id:04d}" if self.ticket_id is not None else None


@dataclass
class Counts:
    """What `notify_resolved` and `expire` did."""

    queued: int = 0
    erased: int = 0
    keys: list[str] = field(default_factory=list)


_TICKET_COLUMNS = "id, user, channel, lang, ward, topic, question, question_key, attempt, status, created_at, taken_by, taken_at, first_answer_at, closed_at, content_entry"


def connect(path: Path | str) -> sqlite3.Connection:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None, timeout=5.0)
    conn.execute("pragma journal_mode=wal")
    conn.execute("pragma synchronous=normal")
    conn.execute("pragma secure_delete=on")  # /forget and erased addresses leave no bytes behind
    conn.execute("pragma foreign_keys=on")
    migrate(conn)
    return conn


def migrate(conn: sqlite3.Connection) -> int:
    """Bring the handover tables to the newest version (safe with several processes: the version is read
    again under the write lock)."""
    conn.execute("create table if not exists handover_schema_version (version integer not null)")
    if conn.execute("select count(*) from handover_schema_version").fetchone()[0] == 0:
        conn.execute("insert into handover_schema_version values (0)")
    while True:
        with conn:
            conn.execute("begin immediate")
            version = conn.execute("select version from handover_schema_version").fetchone()[0]
            if version >= len(MIGRATIONS):
                return version
            for sql in MIGRATIONS[version]:
                conn.execute(sql)
            conn.execute("update handover_schema_version set version = ?", [version + 1])


class TicketStore:
    """See the module docstring. `salt` seals addresses (None: a store that only moves sealed addresses
    around, as `python -m analytics mark` does when it queues answers for watchers); `clock` is time.time
    (tests pass their own)."""

    def __init__(self, path: Path | str, salt: str | None, clock=time.time):
        self.path = Path(path)
        self.sealer = Sealer(salt) if salt else None
        self.clock = clock
        self._conn = connect(self.path)
        self._lock = threading.RLock()

    def close_db(self) -> None:
        """Close the connection (`close` closes a ticket)."""
        with self._lock:
            self._conn.close()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        with self._lock, self._conn:
            self._conn.execute("begin immediate")
            yield self._conn

    def _read(self, sql: str, params: Iterable[Any] = ()) -> list[tuple]:
        with self._lock:
            return self._conn.execute(sql, list(params)).fetchall()

    # -- the citizen's side (the engine thread) ----------------------------------------------------------
    def open_ticket(self, *, user: str, channel: str, address: str, lang: str, ward: str | None, topic: str | None,
                    question: str, question_key: str | None = None, attempt: dict[str, Any] | None = None) -> Ticket:
        """A confirmed handover, committed before this returns (the confirmation may then be sent)."""
        now = self.clock()
        with self._write() as conn:
            cursor = conn.execute(
                "insert into tickets (user, channel, address, lang, ward, topic, question, question_key, attempt, created_at) values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [user, channel, self._seal(address), lang, ward or "", topic, question[:MAX_TEXT], question_key,
                 json.dumps(attempt or {}, ensure_ascii=False), now],
            )
            ticket_id = cursor.lastrowid
        return self.get(ticket_id)  # type: ignore[return-value]

    def current(self, user: str) -> Ticket | None:
        """The citizen's ticket still in play (open or answered), the newest; None without one."""
        rows = self._read("select id from tickets where user = ? and status in ('open', 'answered') order by id desc limit 1", [user])
        return self.get(rows[0][0]) if rows else None

    def add(self, ticket_id: int, text: str) -> Ticket:
        """The citizen adds to their ticket (redacted by the caller); an answered ticket is open again."""
        now = self.clock()
        with self._write() as conn:
            status = self._status(conn, ticket_id)
            if status not in ("open", "answered"):
                raise TicketError(f"ticket {ticket_id} is {status}", status)
            conn.execute("insert into ticket_messages (ticket_id, author, text, created_at) values (?, 'citizen', ?, ?)", [ticket_id, text[:MAX_TEXT], now])
            conn.execute("update tickets set status = 'open' where id = ?", [ticket_id])
        return self.get(ticket_id)  # type: ignore[return-value]

    def withdraw(self, ticket_id: int) -> Ticket:
        """The citizen no longer needs an answer: the ticket ends and its address is erased."""
        now = self.clock()
        with self._write() as conn:
            status = self._status(conn, ticket_id)
            if status not in ("open", "answered"):
                raise TicketError(f"ticket {ticket_id} is {status}", status)
            conn.execute("update tickets set status = 'withdrawn', closed_at = ?, address = null where id = ?", [now, ticket_id])
        return self.get(ticket_id)  # type: ignore[return-value]

    def watch(self, *, user: str, channel: str, address: str, lang: str, question_key: str, topic: str | None) -> bool:
        """Tell this citizen when `question_key` gets an answer (once, within WATCH_DAYS). False when they
        were already waiting for it (the earlier request stands)."""
        now = self.clock()
        with self._write() as conn:
            cursor = conn.execute(
                "insert or ignore into watchers (user, channel, address, lang, question_key, topic, created_at, expires_at) values (?, ?, ?, ?, ?, ?, ?, ?)",
                [user, channel, self._seal(address), lang, question_key, topic, now, now + WATCH_DAYS * 86400],
            )
            return cursor.rowcount == 1

    def forget(self, user: str) -> int:
        """/forget: the citizen's tickets (withdrawn, then deleted with their messages), queued messages
        and watchers. Returns the tickets deleted."""
        with self._write() as conn:
            ids = [r[0] for r in conn.execute("select id from tickets where user = ?", [user])]
            conn.execute("delete from outbox where user = ?", [user])
            for ticket_id in ids:
                conn.execute("delete from outbox where ticket_id = ? and kind = 'reply'", [ticket_id])
                conn.execute("delete from ticket_messages where ticket_id = ?", [ticket_id])
            conn.execute("delete from tickets where user = ?", [user])
            conn.execute("delete from watchers where user = ?", [user])
        return len(ids)

    # -- the officials' side -----------------------------------------------------------------------------
    def get(self, ticket_id: int) -> Ticket | None:
        with self._lock:
            row = self._conn.execute(f"select {_TICKET_COLUMNS} from tickets where id = ?", [ticket_id]).fetchone()
            if row is None:
                return None
            messages = self._conn.execute(
                """select m.id, m.ticket_id, m.author, m.text, m.entry_id, m.created_at, o.status, o.error
                   from ticket_messages m left join outbox o on o.id = m.outbox_id where m.ticket_id = ? order by m.id""",
                [ticket_id],
            ).fetchall()
        return _ticket(row, tuple(TicketMessage(*m) for m in messages))

    def tickets(self, status: str | None = None, wards: Iterable[str] | None = None, limit: int = 500, newest: bool = False) -> list[Ticket]:
        """Tickets oldest first (`newest`: newest first, for the ended ones), by status (None: every one) and
        ward (None: every ward; "" is no ward)."""
        where, params = ["1"], []
        if status is not None:
            if status not in STATUSES:
                raise TicketError(f"status must be one of {', '.join(STATUSES)}", "bad_status")
            where.append("status = ?")
            params.append(status)
        if wards is not None:
            wards = list(wards)
            where.append(f"ward in ({', '.join('?' for _ in wards) or 'null'})")
            params += wards
        rows = self._read(f"select id from tickets where {' and '.join(where)} order by created_at {'desc' if newest else 'asc'}, id {'desc' if newest else 'asc'} limit ?", [*params, limit])
        return [t for (i,) in rows if (t := self.get(i)) is not None]

    def take(self, ticket_id: int, who: str) -> Ticket:
        """An official takes a ticket (others see who is on it); taking it again moves it to `who`."""
        with self._write() as conn:
            status = self._status(conn, ticket_id)
            if status not in ("open", "answered"):
                raise TicketError(f"ticket {ticket_id} is {status}", status)
            conn.execute("update tickets set taken_by = ?, taken_at = ? where id = ?", [who, self.clock(), ticket_id])
        return self.get(ticket_id)  # type: ignore[return-value]

    def reply(self, ticket_id: int, who: str, text: str, entry_id: str | None = None) -> tuple[TicketMessage, int]:
        """An official's reply: stored with its delivery queued on the ticket's channel, in one transaction.
        Returns the message and its outbox id."""
        text = text.strip()
        if not text:
            raise TicketError("the reply is empty", "empty")
        if len(text) > MAX_TEXT:
            raise TicketError(f"the reply is longer than {MAX_TEXT} characters", "too_long")
        now = self.clock()
        with self._write() as conn:
            row = conn.execute("select status, channel, address, user, lang, first_answer_at from tickets where id = ?", [ticket_id]).fetchone()
            if row is None:
                raise TicketError(f"no ticket {ticket_id}", "not_found")
            status, channel, address, user, lang, first = row
            if status not in ("open", "answered") or address is None:
                raise TicketError(f"ticket {ticket_id} is {status}", status)
            outbox = conn.execute(
                "insert into outbox (kind, channel, address, user, lang, text, entry_id, ticket_id, next_try, created_at) values ('reply', ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [channel, address, user, lang, text, entry_id, ticket_id, now, now],
            ).lastrowid
            message = conn.execute(
                "insert into ticket_messages (ticket_id, author, text, entry_id, created_at, outbox_id) values (?, ?, ?, ?, ?, ?)",
                [ticket_id, who, text, entry_id, now, outbox],
            ).lastrowid
            conn.execute(
                "update tickets set status = 'answered', first_answer_at = coalesce(first_answer_at, ?), taken_by = coalesce(taken_by, ?), taken_at = coalesce(taken_at, ?) where id = ?",
                [now, who, now, ticket_id],
            )
        return TicketMessage(message, ticket_id, who, text, entry_id, now, "queued"), outbox

    def close(self, ticket_id: int, who: str) -> Ticket:
        """The official closes the ticket; its address is erased (queued replies keep their own copy)."""
        with self._write() as conn:
            status = self._status(conn, ticket_id)
            if status not in ("open", "answered"):
                raise TicketError(f"ticket {ticket_id} is {status}", status)
            conn.execute("update tickets set status = 'closed', closed_at = ?, address = null, taken_by = coalesce(taken_by, ?) where id = ?", [self.clock(), who, ticket_id])
        return self.get(ticket_id)  # type: ignore[return-value]

    def link_content(self, ticket_id: int, entry_id: str) -> None:
        """The ticket was turned into content (a new entry, or a phrasing of `entry_id`)."""
        with self._write() as conn:
            conn.execute("update tickets set content_entry = ? where id = ?", [entry_id, ticket_id])

    def notice(self, channel: str, address: str, text: str, ticket_id: int | None = None) -> int:
        """A message for officials (a new ticket, in their Telegram group): queued like any other."""
        now = self.clock()
        with self._write() as conn:
            return conn.execute(
                "insert into outbox (kind, channel, address, text, ticket_id, next_try, created_at) values ('notice', ?, ?, ?, ?, ?, ?)",
                [channel, self._seal(address), text, ticket_id, now, now],
            ).lastrowid

    @staticmethod
    def _status(conn: sqlite3.Connection, ticket_id: int) -> str:
        row = conn.execute("select status from tickets where id = ?", [ticket_id]).fetchone()
        if row is None:
            raise TicketError(f"no ticket {ticket_id}", "not_found")
        return row[0]

    # -- watchers --------------------------------------------------------------------------------------
    def notify_resolved(self, keys: Iterable[str], entry_id: str) -> Counts:
        """A cluster with these question keys is now answered by `entry_id`: queue it once for every
        citizen waiting on one of them, and erase their addresses."""
        keys = sorted(set(keys))
        counts = Counts(keys=keys)
        if not keys:
            return counts
        now = self.clock()
        with self._write() as conn:
            marks = ", ".join("?" for _ in keys)
            rows = conn.execute(
                f"select id, user, channel, address, lang from watchers where question_key in ({marks}) and notified_at is null and address is not null and expires_at > ?",
                [*keys, now],
            ).fetchall()
            seen: set[str] = set()
            for watcher, user, channel, address, lang in rows:
                if user not in seen:  # one message per citizen, however many of the keys they asked
                    conn.execute(
                        "insert into outbox (kind, channel, address, user, lang, entry_id, next_try, created_at) values ('notify', ?, ?, ?, ?, ?, ?, ?)",
                        [channel, address, user, lang, entry_id, now, now],
                    )
                    counts.queued += 1
                    seen.add(user)
                conn.execute("update watchers set notified_at = ?, entry_id = ?, address = null where id = ?", [now, entry_id, watcher])
                counts.erased += 1
        return counts

    def expire(self) -> Counts:
        """Erase what is no longer needed: watchers' addresses after WATCH_DAYS, and any address left on a
        ticket that ended."""
        now = self.clock()
        counts = Counts()
        with self._write() as conn:
            counts.erased = conn.execute("update watchers set address = null where address is not null and expires_at <= ?", [now]).rowcount
            counts.erased += conn.execute("update tickets set address = null where address is not null and status in ('closed', 'withdrawn')").rowcount
        return counts

    # -- delivery (bot.handover.courier, the web chat's pending) -----------------------------------------
    def due(self, channels: Iterable[str], limit: int = 50) -> list[OutboxItem]:
        """Queued items for these channels whose time has come, oldest first."""
        channels = list(channels)
        if not channels:
            return []
        marks = ", ".join("?" for _ in channels)
        rows = self._read(
            f"""select id, kind, channel, address, user, lang, text, entry_id, ticket_id, attempts, created_at from outbox
                where status = 'queued' and next_try <= ? and channel in ({marks}) order by next_try, id limit ?""",
            [self.clock(), *channels, limit],
        )
        return [self._item(r) for r in rows]

    def pending(self, user: str) -> list[OutboxItem]:
        """A web chat session's queued messages, marked sent as they are handed over (the page shows them)."""
        now = self.clock()
        query = "select id, kind, channel, address, user, lang, text, entry_id, ticket_id, attempts, created_at from outbox where user = ? and status = 'queued' and channel = 'web' order by id"
        if not self._read(query, [user]):  # the page polls: most looks find nothing and take no write lock
            return []
        with self._write() as conn:
            rows = conn.execute(query, [user]).fetchall()
            conn.executemany("update outbox set status = 'sent', sent_at = ?, attempts = attempts + 1 where id = ?", [(now, r[0]) for r in rows])
        return [self._item(r) for r in rows]

    def delivered(self, outbox_id: int) -> None:
        with self._write() as conn:
            conn.execute("update outbox set status = 'sent', sent_at = ?, attempts = attempts + 1, error = null where id = ?", [self.clock(), outbox_id])

    def retry_at(self, outbox_id: int, when: float, error: str) -> None:
        with self._write() as conn:
            conn.execute("update outbox set attempts = attempts + 1, next_try = ?, error = ? where id = ? and status = 'queued'", [when, error[:200], outbox_id])

    def failed(self, outbox_id: int, error: str) -> None:
        with self._write() as conn:
            conn.execute("update outbox set status = 'failed', attempts = attempts + 1, error = ? where id = ?", [error[:200], outbox_id])

    def delivery(self, outbox_id: int) -> str | None:
        rows = self._read("select status from outbox where id = ?", [outbox_id])
        return rows[0][0] if rows else None

    def _item(self, row: tuple) -> OutboxItem:
        ident, kind, channel, address, user, lang, text, entry_id, ticket_id, attempts, created = row
        return OutboxItem(ident, kind, channel, self.sealer.open(address) if self.sealer else None, user, lang, text, entry_id, ticket_id, attempts, created)

    def _seal(self, address: str) -> bytes:
        if self.sealer is None:
            raise TicketError("this store was opened without the salt: it cannot seal addresses", "no_salt")
        return self.sealer.seal(address)


def _ticket(row: tuple, messages: tuple[TicketMessage, ...]) -> Ticket:
    (ident, user, channel, lang, ward, topic, question, key, attempt, status, created, taken_by, taken_at, first, closed, content) = row
    return Ticket(ident, user, channel, lang, ward, topic, question, key, json.loads(attempt or "{}"), status, created,
                  taken_by, taken_at, first, closed, content, messages)
