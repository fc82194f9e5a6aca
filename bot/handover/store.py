"""Tickets (questions a citizen handed over to an official), the officials' replies, the outbox of messages
to deliver, and the citizens waiting to be told when their unanswered question gets an answer.

Tables (in the database of everything else, bot.storage: the SQLite file or PostgreSQL; their schema is the
baseline revision's, bot/storage/migrations):
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

Several processes may write at once (the server, the dashboard, `python -m analytics mark`; on PostgreSQL
several servers). SQLite's `begin immediate` serialises them; PostgreSQL runs read committed, so every change
that depends on what is there is one conditional statement (`update ... where status in (...) returning`)
or reads under `for update`: a ticket closed meanwhile is never answered or reopened, a watcher is told once,
and an outbox item goes to one courier at a time (`claim`).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import storage
from .seal import Sealer

STATUSES = ("open", "answered", "closed", "withdrawn")
DELIVERIES = ("queued", "sent", "failed")
WATCH_DAYS = 30
MAX_TEXT = 4000  # an official's reply or a citizen's addition, in characters
CLAIM_SECONDS = 120.0  # an outbox item a courier took is not due for others meanwhile (longer than any send)
IN_PLAY = "status in ('open', 'answered')"
FORGET_TABLES = ("tickets", "ticket_messages", "outbox", "watchers")  # what /forget deletes from

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


class TicketStore:
    """See the module docstring. `salt` seals addresses (None: a store that only moves sealed addresses
    around, as `python -m analytics mark` does when it queues answers for watchers); `clock` is time.time
    (tests pass their own)."""

    def __init__(self, where: storage.Target | Path | str, salt: str | None, clock=time.time):
        """`where`: the database (a file path, sqlite:///path or postgresql://...; bot.storage)."""
        self.where = where
        self.target = storage.Target.parse(where)
        self.path = self.target.path  # the SQLite file (None on PostgreSQL)
        self.sealer = Sealer(salt) if salt else None
        self.clock = clock
        self.db = storage.connect(where)
        self._lock = threading.RLock()

    def close_db(self) -> None:
        """Close the connection (`close` closes a ticket)."""
        with self._lock:
            self.db.close()

    @contextmanager
    def _write(self) -> Iterator[storage.Database]:
        with self._lock, self.db.transaction() as db:
            yield db

    def _read(self, sql: str, params: Iterable[Any] = ()) -> list[tuple]:
        with self._lock:
            return self.db.execute(sql, list(params)).fetchall()

    # -- the citizen's side (the engine thread) ----------------------------------------------------------
    def open_ticket(self, *, user: str, channel: str, address: str, lang: str, ward: str | None, topic: str | None,
                    question: str, question_key: str | None = None, attempt: dict[str, Any] | None = None) -> Ticket:
        """A confirmed handover, committed before this returns (the confirmation may then be sent)."""
        now = self.clock()
        with self._write() as db:
            (ticket_id,) = _returned(db,
                "insert into tickets (user, channel, address, lang, ward, topic, question, question_key, attempt, created_at) values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) returning id",
                [user, channel, self._seal(address), lang, ward or "", topic, _plain(question)[:MAX_TEXT], question_key,
                 json.dumps(attempt or {}, ensure_ascii=False), now],
            )
        return self.get(ticket_id)  # type: ignore[return-value]

    def current(self, user: str) -> Ticket | None:
        """The citizen's ticket still in play (open or answered), the newest; None without one."""
        rows = self._read("select id from tickets where user = ? and status in ('open', 'answered') order by id desc limit 1", [user])
        return self.get(rows[0][0]) if rows else None

    def add(self, ticket_id: int, text: str) -> Ticket:
        """The citizen adds to their ticket (redacted by the caller); an answered ticket is open again."""
        now = self.clock()
        with self._write() as db:
            self._change(db, ticket_id, "status = 'open'", [])
            db.execute("insert into ticket_messages (ticket_id, author, text, created_at) values (?, 'citizen', ?, ?)", [ticket_id, _plain(text)[:MAX_TEXT], now])
        return self.get(ticket_id)  # type: ignore[return-value]

    def withdraw(self, ticket_id: int) -> Ticket:
        """The citizen no longer needs an answer: the ticket ends and its address is erased."""
        now = self.clock()
        with self._write() as db:
            self._change(db, ticket_id, "status = 'withdrawn', closed_at = ?, address = null", [now])
        return self.get(ticket_id)  # type: ignore[return-value]

    def watch(self, *, user: str, channel: str, address: str, lang: str, question_key: str, topic: str | None) -> bool:
        """Tell this citizen when `question_key` gets an answer (once, within WATCH_DAYS). False when they
        were already waiting for it (the earlier request stands)."""
        now = self.clock()
        with self._write() as db:
            cursor = db.execute(
                "insert or ignore into watchers (user, channel, address, lang, question_key, topic, created_at, expires_at) values (?, ?, ?, ?, ?, ?, ?, ?)",
                [user, channel, self._seal(address), lang, question_key, topic, now, now + WATCH_DAYS * 86400],
            )
            return cursor.rowcount == 1

    def forget(self, user: str) -> int:
        """/forget: the citizen's tickets (withdrawn, then deleted with their messages), queued messages
        and watchers. Returns the tickets deleted.

        The deleted rows leave no bytes behind in the tables: SQLite overwrites them (secure_delete, on for
        every connection of bot.storage). On PostgreSQL a deleted row stays in its page as a dead tuple, and a
        plain VACUUM only marks its space free (the bytes stay until the space is reused), so the touched
        tables are rewritten at once (VACUUM FULL: a new copy of each table and index holding the live rows
        only; it locks the table for the moment that takes, small for these tables). The write-ahead logs
        and backups of either engine age out on their own schedule (docs/operations.md)."""
        with self._lock:
            with self.db.transaction() as db:
                ids = [r[0] for r in db.execute("select id from tickets where user = ?", [user]).fetchall()]
                deleted = db.execute("delete from outbox where user = ?", [user]).rowcount
                for ticket_id in ids:
                    deleted += db.execute("delete from outbox where ticket_id = ? and kind = 'reply'", [ticket_id]).rowcount
                    deleted += db.execute("delete from ticket_messages where ticket_id = ?", [ticket_id]).rowcount
                deleted += db.execute("delete from tickets where user = ?", [user]).rowcount
                deleted += db.execute("delete from watchers where user = ?", [user]).rowcount
            if deleted:
                self.db.reclaim(FORGET_TABLES, full=True)  # small tables: rewritten on PostgreSQL, so no old page stays in their files
        return len(ids)

    # -- the officials' side -----------------------------------------------------------------------------
    def get(self, ticket_id: int) -> Ticket | None:
        with self._lock:
            row = self.db.execute(f"select {_TICKET_COLUMNS} from tickets where id = ?", [ticket_id]).fetchone()
            if row is None:
                return None
            messages = self.db.execute(
                """select m.id, m.ticket_id, m.author, m.text, m.entry_id, m.created_at, o.status, o.error
                   from ticket_messages m left join outbox o on o.id = m.outbox_id where m.ticket_id = ? order by m.id""",
                [ticket_id],
            ).fetchall()
        return _ticket(row, tuple(TicketMessage(*m) for m in messages))

    def tickets(self, status: str | None = None, wards: Iterable[str] | None = None, limit: int = 500, newest: bool = False) -> list[Ticket]:
        """Tickets oldest first (`newest`: newest first, for the ended ones), by status (None: every one) and
        ward (None: every ward; "" is no ward)."""
        where, params = ["1 = 1"], []
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
        """An official takes a ticket (others see who is on it); taking it again moves it to `who` (also
        from another official: the last to take it has it). Refused once the ticket ended, even when it ended
        while the official was taking it."""
        with self._write() as db:
            self._change(db, ticket_id, "taken_by = ?, taken_at = ?", [who, self.clock()])
        return self.get(ticket_id)  # type: ignore[return-value]

    def reply(self, ticket_id: int, who: str, text: str, entry_id: str | None = None) -> tuple[TicketMessage, int]:
        """An official's reply: stored with its delivery queued on the ticket's channel, in one transaction.
        Returns the message and its outbox id."""
        text = _plain(text).strip()
        if not text:
            raise TicketError("the reply is empty", "empty")
        if len(text) > MAX_TEXT:
            raise TicketError(f"the reply is longer than {MAX_TEXT} characters", "too_long")
        now = self.clock()
        with self._write() as db:
            # first the ticket, conditionally (atomic on both engines): a ticket closed or withdrawn meanwhile
            # is neither answered nor reopened
            row = _returned(db,
                f"""update tickets set status = 'answered', first_answer_at = coalesce(first_answer_at, ?),
                       taken_by = coalesce(taken_by, ?), taken_at = coalesce(taken_at, ?)
                    where id = ? and {IN_PLAY} and address is not null returning channel, address, user, lang""",
                [now, who, now, ticket_id],
            )
            if row is None:
                status = self._status(db, ticket_id)
                raise TicketError(f"ticket {ticket_id} is {status}", status)
            channel, address, user, lang = row
            (outbox,) = _returned(db,
                "insert into outbox (kind, channel, address, user, lang, text, entry_id, ticket_id, next_try, created_at) values ('reply', ?, ?, ?, ?, ?, ?, ?, ?, ?) returning id",
                [channel, address, user, lang, text, entry_id, ticket_id, now, now],
            )
            (message,) = _returned(db,
                "insert into ticket_messages (ticket_id, author, text, entry_id, created_at, outbox_id) values (?, ?, ?, ?, ?, ?) returning id",
                [ticket_id, who, text, entry_id, now, outbox],
            )
        return TicketMessage(message, ticket_id, who, text, entry_id, now, "queued"), outbox

    def close(self, ticket_id: int, who: str) -> Ticket:
        """The official closes the ticket; its address is erased (queued replies keep their own copy)."""
        with self._write() as db:
            self._change(db, ticket_id, "status = 'closed', closed_at = ?, address = null, taken_by = coalesce(taken_by, ?)", [self.clock(), who])
        return self.get(ticket_id)  # type: ignore[return-value]

    def link_content(self, ticket_id: int, entry_id: str) -> None:
        """The ticket was turned into content (a new entry, or a phrasing of `entry_id`)."""
        with self._write() as db:
            db.execute("update tickets set content_entry = ? where id = ?", [entry_id, ticket_id])

    def notice(self, channel: str, address: str, text: str, ticket_id: int | None = None) -> int:
        """A message for officials (a new ticket, in their Telegram group): queued like any other."""
        now = self.clock()
        with self._write() as db:
            (outbox,) = _returned(db,
                "insert into outbox (kind, channel, address, text, ticket_id, next_try, created_at) values ('notice', ?, ?, ?, ?, ?, ?) returning id",
                [channel, self._seal(address), _plain(text), ticket_id, now, now],
            )
        return outbox

    @classmethod
    def _change(cls, db: storage.Database, ticket_id: int, assignments: str, params: list[Any]) -> None:
        """`update tickets set <assignments>` on a ticket still in play, in one statement (so on PostgreSQL
        too nothing can end the ticket between the look and the change); TicketError with its status when
        it is not in play, or "not_found"."""
        if _returned(db, f"update tickets set {assignments} where id = ? and {IN_PLAY} returning id", [*params, ticket_id]) is None:
            status = cls._status(db, ticket_id)
            raise TicketError(f"ticket {ticket_id} is {status}", status)

    @staticmethod
    def _status(db: storage.Database, ticket_id: int) -> str:
        row = db.execute("select status from tickets where id = ?", [ticket_id]).fetchone()
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
        with self._write() as db:
            marks = ", ".join("?" for _ in keys)
            # locked on PostgreSQL: a second process resolving the same keys waits, then finds them notified
            rows = db.execute(
                f"select id, user, channel, address, lang from watchers where question_key in ({marks}) and notified_at is null and address is not null and expires_at > ? order by id{self.db.lock_rows}",
                [*keys, now],
            ).fetchall()
            seen: set[str] = set()
            for watcher, user, channel, address, lang in rows:
                if user not in seen:  # one message per citizen, however many of the keys they asked
                    db.execute(
                        "insert into outbox (kind, channel, address, user, lang, entry_id, next_try, created_at) values ('notify', ?, ?, ?, ?, ?, ?, ?)",
                        [channel, address, user, lang, entry_id, now, now],
                    )
                    counts.queued += 1
                    seen.add(user)
                db.execute("update watchers set notified_at = ?, entry_id = ?, address = null where id = ?", [now, entry_id, watcher])
                counts.erased += 1
        return counts

    def expire(self) -> Counts:
        """Erase what is no longer needed: watchers' addresses after WATCH_DAYS, and any address left on a
        ticket that ended."""
        now = self.clock()
        counts = Counts()
        with self._write() as db:
            counts.erased = db.execute("update watchers set address = null where address is not null and expires_at <= ?", [now]).rowcount
            counts.erased += db.execute("update tickets set address = null where address is not null and status in ('closed', 'withdrawn')").rowcount
        return counts

    # -- delivery (bot.handover.courier, the web chat's pending) -----------------------------------------
    _ITEM_COLUMNS = "id, kind, channel, address, user, lang, text, entry_id, ticket_id, attempts, created_at"

    def due(self, channels: Iterable[str], limit: int = 50) -> list[OutboxItem]:
        """Queued items for these channels whose time has come, oldest first (a look: `claim` takes them)."""
        channels = list(channels)
        if not channels:
            return []
        marks = ", ".join("?" for _ in channels)
        rows = self._read(
            f"""select {self._ITEM_COLUMNS} from outbox
                where status = 'queued' and next_try <= ? and channel in ({marks}) order by next_try, id limit ?""",
            [self.clock(), *channels, limit],
        )
        return [self._item(r) for r in rows]

    def claim(self, channels: Iterable[str], limit: int = 50, hold: float = CLAIM_SECONDS) -> list[OutboxItem]:
        """The items `due` lists, taken for sending: they are not due again for `hold` seconds, so another
        courier (another server on the same database) never sends them too; the sender then marks each
        delivered, failed or retry_at. One that was never marked (the process died mid-send) is due again
        after `hold`."""
        channels = list(channels)
        if not channels:
            return []
        now = self.clock()
        marks = ", ".join("?" for _ in channels)
        # PostgreSQL: the rows are locked until the claim commits, and rows another courier is claiming are
        # skipped, not waited for. SQLite: begin immediate, one writer at a time.
        skip = " for update skip locked" if self.db.engine == "postgresql" else ""
        with self._write() as db:
            ids = [r[0] for r in db.execute(
                f"select id from outbox where status = 'queued' and next_try <= ? and channel in ({marks}) order by next_try, id limit ?{skip}",
                [now, *channels, limit],
            ).fetchall()]
            if not ids:
                return []
            rows = db.execute(
                f"update outbox set next_try = ? where id in ({', '.join('?' for _ in ids)}) returning {self._ITEM_COLUMNS}",
                [now + hold, *ids],
            ).fetchall()
        order = {ident: n for n, ident in enumerate(ids)}  # the order they were due in (returning's is the engine's)
        return [self._item(r) for r in sorted(rows, key=lambda r: order[r[0]])]

    def pending(self, user: str) -> list[OutboxItem]:
        """A web chat session's queued messages, marked sent as they are handed over (the page shows them);
        each once, even to two polls at the same moment (one conditional update)."""
        now = self.clock()
        where = "user = ? and status = 'queued' and channel = 'web'"
        if not self._read(f"select 1 from outbox where {where} limit 1", [user]):  # the page polls: most looks find nothing and take no write lock
            return []
        with self._write() as db:
            rows = db.execute(
                f"""update outbox set status = 'sent', sent_at = ?, attempts = attempts + 1 where {where}
                    returning id, kind, channel, address, user, lang, text, entry_id, ticket_id, attempts - 1, created_at""",
                [now, user],
            ).fetchall()
        return [self._item(r) for r in sorted(rows, key=lambda r: r[0])]

    def delivered(self, outbox_id: int) -> None:
        with self._write() as db:
            db.execute("update outbox set status = 'sent', sent_at = ?, attempts = attempts + 1, error = null where id = ?", [self.clock(), outbox_id])

    def retry_at(self, outbox_id: int, when: float, error: str) -> None:
        with self._write() as db:
            db.execute("update outbox set attempts = attempts + 1, next_try = ?, error = ? where id = ? and status = 'queued'", [when, error[:200], outbox_id])

    def failed(self, outbox_id: int, error: str) -> None:
        with self._write() as db:
            db.execute("update outbox set status = 'failed', attempts = attempts + 1, error = ? where id = ?", [error[:200], outbox_id])

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


def _plain(text: str) -> str:
    """`text` without NUL characters, which PostgreSQL's text refuses (SQLite would keep them): the same
    text stored on either engine, and never a NUL sent on to a chat."""
    return text.replace("\x00", "")


def _returned(db: storage.Database, sql: str, params: list[Any]) -> tuple | None:
    """The row a statement `... returning` gave (None: it changed no row). Read to the end, so SQLite's
    statement is finished before the transaction commits."""
    rows = db.execute(sql, params).fetchall()
    return rows[0] if rows else None


def _ticket(row: tuple, messages: tuple[TicketMessage, ...]) -> Ticket:
    (ident, user, channel, lang, ward, topic, question, key, attempt, status, created, taken_by, taken_at, first, closed, content) = row
    return Ticket(ident, user, channel, lang, ward, topic, question, key, json.loads(attempt or "{}"), status, created,
                  taken_by, taken_at, first, closed, content, messages)
