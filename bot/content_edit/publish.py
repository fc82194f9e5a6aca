"""Publish a draft: check nobody published since it was opened, check it loads, write it, record it.

- Conflict: the draft names the content version the editor opened. If the content on disk has another
  version now (another editor published first), publishing raises `Conflict` (the API answers 409) and
  writes nothing: a second editor never silently overwrites the first. The files the draft read must
  also be unchanged (that covers retired/, which the version does not hash).
- Nothing invalid is published: the draft is validated again under the lock, as `bot check` would.
- Each file is written whole to a temporary file beside it, flushed to disk, then renamed over the old
  one (os.replace is atomic on POSIX), so a reader (a reload, `bot check`) sees the old file or the new,
  never half of one.
- One publish at a time per content folder: a thread lock for this process and flock(2) on the folder
  for other processes (a second server, a CLI), so two publishes never interleave their checks and writes.

The caller reloads the bot afterwards (`await ChatService.reload(content_dir)`): the service loads and
swaps the new content in one assignment.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import secrets
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Sequence

from ..knowledge import KnowledgeBase
from .checking import Invalid
from .draft import Change, Draft

_locks: dict[str, threading.Lock] = {}
_locks_guard = threading.Lock()


class Conflict(Exception):
    """Someone published first; nothing was written (the API answers 409 with `to_dict()`)."""

    def __init__(self, message: str, base: str | None = None, current: str | None = None):
        super().__init__(message)
        self.message, self.base, self.current = message, base, current

    def to_dict(self) -> dict[str, Any]:
        return {"error": self.message, "version": self.current, "base_version": self.base}


@dataclass(frozen=True)
class Published:
    version: str  # the content version now on disk
    kb: KnowledgeBase  # that content, loaded and checked
    changes: list[Change]
    revisions: list[int] = field(default_factory=list)  # ids in the revision history, one per change


@contextlib.contextmanager
def content_lock(content_dir: Path | str) -> Iterator[None]:
    """Exclusive right to publish into `content_dir` (threads of this process, and other processes)."""
    key = str(Path(content_dir).resolve())
    with _locks_guard:
        lock = _locks.setdefault(key, threading.Lock())
    with lock:
        fd = os.open(key, os.O_RDONLY)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)


def write_atomic(path: Path, text: str) -> None:
    """Replace `path` by `text` in one rename (a reader sees the old file or the new one)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    mode = path.stat().st_mode & 0o777 if path.exists() else 0o644
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)  # the umask must not narrow what the file allowed before
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_files(root: Path, files: dict[str, str | None]) -> None:
    """New and changed files first, removals last: a retired guide exists in retired/ before it leaves."""
    for rel, text in sorted(files.items()):
        if text is not None:
            write_atomic(root / rel, text)
    for rel, text in sorted(files.items()):
        if text is None and (root / rel).exists():
            (root / rel).unlink()
            _fsync_dir((root / rel).parent)


def publish(
    draft: Draft,
    actor: str,
    revisions=None,
    *,
    action: str | None = None,
    meta: dict[str, Any] | None = None,
) -> Published:
    """Write the draft into the content folder. Raises Conflict (someone published since the draft's
    base version) or Invalid (it would not load); in both cases nothing is written. `revisions`: a
    RevisionStore to record one revision per change (`action` overrides the changes' own, e.g. "revert";
    `meta` is stored with each, e.g. {"reverts": 12} or {"resolves": [question keys]})."""
    repo = draft.repo
    with content_lock(repo.dir):
        current = repo.version()
        if current != draft.base_version:
            raise Conflict(
                f"the content changed since you opened it (version {draft.base_version}, now {current}): reload the entry and apply your edit again",
                draft.base_version,
                current,
            )
        for rel, original in draft.originals.items():
            if repo.read(rel) != original:
                raise Conflict(f"content/{rel} changed since the draft was made: reload and apply your edit again", draft.base_version, current)
        validation = draft.validate()
        if not validation.ok or validation.kb is None:
            raise Invalid(validation.problems)
        if all(text == draft.originals.get(rel) for rel, text in draft.files.items()):
            return Published(current, validation.kb, [], [])  # saved as it was: nothing to write or record
        _write_files(repo.dir, draft.files)
        version = repo.version()
        ids = []
        if revisions is not None:
            for change in draft.changes:
                ids.append(
                    revisions.record(
                        actor=actor,
                        change=change,
                        action=action or change.action,
                        base_version=draft.base_version,
                        new_version=version,
                        diff=draft.diff(change.files),
                        meta={**change.meta, **(meta or {})},
                    )
                )
    return Published(version, validation.kb, draft.changes, ids)


def changed_ids(changes: Sequence[Change]) -> list[str]:
    """The entry ids a publish touched (for marking inbox clusters resolved, for log lines)."""
    return [c.entry_id for c in changes if c.entry_id]
