"""The revision history of the content: who changed what, when, a readable diff, and one-click revert.

One row per changed entry (or per change of locality.yaml) and publish, in the database of everything else
(bot.storage: the SQLite file DIGIGUIDE_DB or PostgreSQL), in the table content_revisions (its schema is the
baseline revision's, bot/storage/migrations). A row keeps the entry's YAML before and after (None: it did
not exist, or left the bot) and the unified diff of the files written.

Revert publishes the row's "before" state as a new revision, through the same checks as any edit: it is
refused with Conflict when the entry is no longer as that revision left it (someone edited it since:
reverting would silently undo their work), and with Invalid when the old state no longer loads (a guide
it links was retired since...).
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .. import storage
from . import layout
from .draft import Change, Draft, entry_state, same_entry
from .publish import Conflict, Published, publish
from .repo import ContentRepo

class RevisionNotFound(KeyError):
    def __str__(self) -> str:
        return f"no revision {self.args[0]!r}"


@dataclass(frozen=True)
class Revision:
    id: int
    ts: float
    actor: str
    kind: str
    entry_id: str | None
    action: str  # what the editor did: create | edit | retire | restore | remove | revert | locality
    base_version: str
    new_version: str
    file: str
    before: str | None
    after: str | None
    diff: str
    meta: dict[str, Any] = field(default_factory=dict)  # "op": what was done to the files (a revert's too)

    def to_dict(self, full: bool = True) -> dict[str, Any]:
        out = asdict(self)
        if not full:
            out.pop("before")
            out.pop("after")
        return out


class RevisionStore:
    """content_revisions in the database (`where`: a file path, sqlite:///path or postgresql://...)."""

    def __init__(self, where: storage.Target | Path | str):
        self.where = where
        self.db = storage.connect(where)
        self._lock = threading.Lock()

    def close(self) -> None:
        with self._lock:
            self.db.close()

    def record(self, *, actor: str, change: Change, action: str, base_version: str, new_version: str, diff: str, meta: dict[str, Any]) -> int:
        meta = {**meta, "op": change.action, "files": change.files}
        with self._lock:
            rows = self.db.execute(
                """insert into content_revisions (ts, actor, kind, entry_id, action, base_version, new_version, file, before, after, diff, meta)
                   values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) returning id""",
                [time.time(), actor, change.kind, change.entry_id, action, base_version, new_version, change.file, change.before, change.after, diff, json.dumps(meta, ensure_ascii=False)],
            ).fetchall()
            return int(rows[0][0])

    @staticmethod
    def _row(row: tuple) -> Revision:
        *head, meta = row
        return Revision(*head, meta=json.loads(meta or "{}"))

    _COLUMNS = "id, ts, actor, kind, entry_id, action, base_version, new_version, file, before, after, diff, meta"

    def list(self, kind: str | None = None, entry_id: str | None = None, limit: int = 50, before_id: int | None = None) -> list[Revision]:
        """Newest first; one entry's history with `kind` and `entry_id`; older pages with `before_id`."""
        where, params = ["1 = 1"], []
        if kind is not None:
            where.append("kind = ?")
            params.append(kind)
        if entry_id is not None:
            where.append("entry_id = ?")
            params.append(entry_id)
        if before_id is not None:
            where.append("id < ?")
            params.append(before_id)
        sql = f"select {self._COLUMNS} from content_revisions where {' and '.join(where)} order by id desc limit ?"
        with self._lock:
            rows = self.db.execute(sql, [*params, max(1, min(int(limit), 500))]).fetchall()
        return [self._row(r) for r in rows]

    def get(self, rev_id: int) -> Revision:
        with self._lock:
            row = self.db.execute(f"select {self._COLUMNS} from content_revisions where id = ?", [rev_id]).fetchone()
        if row is None:
            raise RevisionNotFound(rev_id)
        return self._row(row)


def list_revisions(store: RevisionStore, kind: str | None = None, entry_id: str | None = None, limit: int = 50) -> list[Revision]:
    return store.list(kind, entry_id, limit)


def revert(repo: ContentRepo, store: RevisionStore, rev_id: int, actor: str) -> Published:
    """Publish the state before revision `rev_id` as a new revision (action "revert", meta reverts=id).
    Conflict when the entry is not as that revision left it; Invalid when the old state would not load."""
    rev = store.get(rev_id)
    draft = Draft(repo)
    op = rev.meta.get("op", rev.action)
    gone = f"revision {rev.id} cannot be reverted: "
    if rev.kind == "locality":
        current = draft.text(layout.LOCALITY)
        if not same_entry(entry_state("locality", current), entry_state("locality", rev.after)):
            raise Conflict(gone + "locality.yaml changed since; revert the later revisions first", None, repo.version())
        draft.replace_locality(entry_state("locality", rev.before) or {})
    else:
        kind, entry_id = rev.kind, rev.entry_id or ""
        live = draft.current(kind, entry_id)
        after, before = entry_state(kind, rev.after), entry_state(kind, rev.before)
        if op in ("retire", "remove"):
            if live is not None:
                raise Conflict(gone + f"{entry_id!r} is live again", None, repo.version())
            if op == "retire":
                if draft.current(kind, entry_id, retired=True) is None:
                    raise Conflict(gone + f"{entry_id!r} is no longer among the retired entries", None, repo.version())
                draft.restore(kind, entry_id, rev.meta.get("from"), rev.meta.get("position"))
            else:
                draft.reinsert(kind, rev.before or "", rev.meta.get("from") or rev.file, rev.meta.get("position"))
        else:
            if not same_entry(live, after):
                raise Conflict(gone + f"{entry_id!r} was changed since; revert the later revisions first", None, repo.version())
            if op == "create":
                draft.remove(kind, entry_id)
            elif op == "restore":
                draft.retire(kind, entry_id)
            else:
                draft.apply(kind, entry_id, before or {})
    return publish(draft, actor, store, action="revert", meta={"reverts": rev.id})
