"""What the content pages and the content API share (issue 11, section 2): the editors' desk, one per
application at app[DESK].

The desk holds the ContentRepo of the server's content folder (settings.content_dir), the revision
history (bot.content_edit.RevisionStore, in the analytics database) and a small cache of validated drafts,
and it does what follows a publish, in this order, for every kind of edit (an entry saved, created,
retired or restored, locality values, a revert):

1. bot.content_edit.publish on the dashboard's threads: the conflict check (409), the same checks as
   `bot check` (422), atomic writes and one revision per change;
2. `await ChatService.reload(content_dir)`, so the bot answers from the new content before the editor's
   request returns (the web chat, Telegram and Zalo use it at once);
3. the audit row (analytics.accounts.audit: who, what, which entry, the revision ids);
4. the inbox clusters the edit resolves (analytics.report.mark_cluster), then the cached inboxes dropped;
   and the official's question (a ticket) it was made from is recorded as turned into content.

Matchers: a Matcher keeps a scratch array for each search, so it serves one thread at a time. The bot's
own matcher belongs to its engine's thread (ChatService runs the engine on one worker) and is never used
here: the desk builds its own, per content version (the live one, the drafts being tried), and every
search it runs (try, impact, the inbox pre-fill, the warm-up after a publish) holds its lock.

Why a cache of validated drafts: "Check", "Preview", "Try a question" and "Impact" all send the same draft
in a row; validating it costs about 0.3 s (a whole `bot check`) and the draft's matcher another 0.5 s, so
the desk keeps the last few validations by (content version, kind, id, entry) and bot.content_edit.trial
keeps their matchers (the desk's). A publish never uses the cache: it validates again under the content lock.

Nothing here knows HTTP beyond the shapes of the requests (EntryEdit.parse and friends raise BadRequest
with a sentence for the 400); content_api.py answers, content.py renders.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from aiohttp import web

from bot.content_edit import ContentRepo, Draft, Matchers, Published, RevisionStore, Validation, draft_from_question, publish, revert
from bot.content_edit import layout
from bot.content_edit.impact import warm as warm_routes
from bot.knowledge import KnowledgeBase
from bot.matcher import Matcher

from .. import accounts
from .. import report as rpt
from .auth import Principal
from .common import DASHBOARD, Dashboard

log = logging.getLogger("digiguide.dashboard")

KINDS = layout.KINDS
MAX_RESOLVES = rpt.POOL  # cluster keys one publish may mark resolved (the inbox's pool)
MAX_QUESTION = 2000  # characters of a question to try or to pre-fill from (the web chat's limit)
KEEP_VALIDATIONS = 4
KEEP_MATCHERS = 3  # the live content's and two drafts' (about half a second each to build)
R = TypeVar("R")


class BadRequest(ValueError):
    """A request whose shape is wrong (the API answers 400 with the message)."""


@dataclass(frozen=True)
class EntryEdit:
    """One entry as the editor has it: `entry_id` None for a new one (its id is in `entry`)."""

    kind: str
    entry_id: str | None
    entry: dict[str, Any]

    @classmethod
    def parse(cls, body: Any, kind: str | None = None, entry_id: str | None = None, *, new: bool = False) -> "EntryEdit":
        """From a body {"entry", "kind"?, "id"?}; `kind`/`entry_id` from the URL win over the body's."""
        if not isinstance(body, dict):
            raise BadRequest("body must be a JSON object")
        kind = kind or body.get("kind", "faq")
        if kind not in KINDS:
            raise BadRequest(f"kind must be one of {', '.join(KINDS)}")
        entry = body.get("entry")
        if not isinstance(entry, dict):
            raise BadRequest("entry must be a JSON object of the entry's YAML keys")
        if not new and entry_id is None:
            entry_id = body.get("id")
            if entry_id is not None and not isinstance(entry_id, str):
                raise BadRequest("id must be a text (or null for a new entry)")
        return cls(kind, None if new else entry_id, entry)

    def apply_to(self, draft: Draft) -> None:
        """The edit on `draft` (bot.content_edit raises Invalid or NotFound)."""
        if self.entry_id is None:
            draft.create(self.kind, self.entry)
        else:
            draft.apply(self.kind, self.entry_id, self.entry)

    @property
    def shown_id(self) -> str | None:
        """The id the entry will have (a new entry's is in its YAML keys)."""
        value = self.entry_id or self.entry.get("id")
        return value if isinstance(value, str) else None


def base_version(body: Any) -> str:
    """The content version an edit is based on (what GET answered): required to publish."""
    version = body.get("version") if isinstance(body, dict) else None
    if not isinstance(version, str) or not version or len(version) > 64:
        raise BadRequest("version must be the content version the edit is based on (as GET answered it)")
    return version


def resolves(body: Any) -> list[str]:
    """The inbox cluster keys a publish marks resolved (may be absent)."""
    keys = body.get("resolves", []) if isinstance(body, dict) else []
    if keys is None:
        return []
    if not isinstance(keys, list) or len(keys) > MAX_RESOLVES or not all(isinstance(k, str) and k.strip() and len(k) <= 500 for k in keys):
        raise BadRequest(f"resolves must be a list of at most {MAX_RESOLVES} question keys")
    return keys


def question_text(value: Any, name: str = "text") -> str:
    if not isinstance(value, str) or not value.strip():
        raise BadRequest(f"{name} must be a non-empty text")
    if len(value) > MAX_QUESTION:
        raise BadRequest(f"{name} is too long (at most {MAX_QUESTION} characters)")
    return value


def lang_of(value: Any) -> str | None:
    if value in (None, ""):
        return None
    if value not in ("vi", "en"):
        raise BadRequest("lang must be vi or en")
    return value


class Desk:
    """The editors' desk of one application (see the module docstring)."""

    def __init__(self, dash: Dashboard):
        self.dash = dash
        self.repo = ContentRepo(dash.ctx.settings.content_dir)
        self._revisions: RevisionStore | None = None
        self._open_lock = threading.Lock()
        self._validations: OrderedDict[tuple, Validation] = OrderedDict()
        self._guard = threading.Lock()
        self._tasks: set[asyncio.Future] = set()
        self._matchers = Matchers(keep=KEEP_MATCHERS)

    # -- the revision history ------------------------------------------------------------------------------
    def revisions(self) -> RevisionStore:
        """The history, opened (and migrated) on first use, on a dashboard thread."""
        with self._open_lock:
            if self._revisions is None:
                self._revisions = RevisionStore(self.dash.ctx.settings.database)
            return self._revisions

    def close(self) -> None:
        for task in list(self._tasks):  # a task that ends meanwhile takes itself out of the set
            task.cancel()
        if self._revisions is not None:
            self._revisions.close()

    # -- matchers -------------------------------------------------------------------------------------------
    def matching(self, work: Callable[[Callable[[KnowledgeBase], Matcher]], R]) -> R:
        """`work(matcher_of)` with the desk's matchers, one caller at a time (blocking: call in a thread):
        `matcher_of(kb)` is the desk's matcher of that content, built once per version."""
        with self._matchers.lend() as matcher_of:
            return work(matcher_of)

    # -- drafts ---------------------------------------------------------------------------------------------
    def validate(self, edit: EntryEdit) -> Validation:
        """What `bot check` says of the content on disk with `edit` in place (blocking: call in a thread).
        bot.content_edit.Invalid / NotFound when the edit cannot even be applied."""
        key = (self.repo.version(), edit.kind, edit.entry_id, json.dumps(edit.entry, sort_keys=True, ensure_ascii=False, default=str))
        with self._guard:
            found = self._validations.get(key)
            if found is not None:
                self._validations.move_to_end(key)
                return found
        draft = Draft(self.repo)
        edit.apply_to(draft)
        result = draft.validate()
        with self._guard:
            self._validations[key] = result
            while len(self._validations) > KEEP_VALIDATIONS:
                self._validations.popitem(last=False)
        return result

    def prefill(self, question: Any, entry_id: str | None, kind: str = "faq", answer: str | None = None) -> dict[str, Any]:
        """The editor's starting point for an inbox question (bot.content_edit.draft_from_question, on the
        live content and its matcher), blocking; `answer`: an official's (from a ticket). BadRequest for an
        empty question; NotFound."""
        text = question_text(question, "question")
        if kind not in KINDS:
            raise BadRequest(f"kind must be one of {', '.join(KINDS)}")
        kb = self.dash.kb
        try:
            return self.matching(lambda matcher_of: draft_from_question(self.repo, kb, text, entry_id, kind, matcher=matcher_of(kb), answer=answer)).to_dict()
        except ValueError as exc:  # nothing but spaces and symbols (NotFound is a KeyError: it passes)
            raise BadRequest(str(exc)) from exc

    # -- publishing -----------------------------------------------------------------------------------------
    async def publish(self, who: Principal, version: str, edit: Callable[[Draft], Any], target: str, *, keys: list[str] = (), entry_id: str | None = None,
                      ticket: int | None = None) -> Published:
        """Publish the edit made by `edit(draft)` on top of `version`, then reload, audit and resolve (see
        the module docstring); `ticket`: the official's question it came from (the caller checked the
        caller may see it), recorded as turned into content. Raises Conflict, Invalid or NotFound (nothing written)."""

        def work() -> Published:
            draft = Draft(self.repo, version)
            edit(draft)
            return publish(draft, who.actor, self.revisions(), meta={"resolves": list(keys)} if keys else None)

        published = await self.dash.in_thread(work)
        await self.after(who, published, "content.publish", target, keys=keys, entry_id=entry_id, detail={"ticket": ticket} if ticket else None)
        if ticket and entry_id and self.dash.ctx.tickets is not None:
            tickets = self.dash.ctx.tickets
            await self.dash.in_thread(lambda: tickets.link_content(ticket, entry_id))
        return published

    async def revert(self, who: Principal, rev_id: int) -> Published:
        """Revert revision `rev_id` (bot.content_edit.revert), then reload and audit."""
        published = await self.dash.in_thread(lambda: revert(self.repo, self.revisions(), rev_id, who.actor))
        await self.after(who, published, "content.revert", f"revision:{rev_id}", detail={"reverts": rev_id})
        return published

    async def after(self, who: Principal, published: Published, action: str, target: str, *, keys: list[str] = (), entry_id: str | None = None, detail: dict | None = None) -> None:
        dash, service = self.dash, self.dash.ctx.service
        if not published.changes and not keys:
            return  # saved as it was: nothing written, nothing to reload or to record
        reloaded = True
        if published.changes:
            reloaded, message = await service.reload(dash.ctx.settings.content_dir)
            if reloaded:
                self._warm(service.kb)
            else:  # the files changed on disk between the publish and the reload (by hand): the old content stays
                log.error("content published as %s but not loaded: %s", published.version, message)
        record = {
            "version": published.version, "revisions": published.revisions, "reloaded": reloaded,
            "changes": [{"kind": c.kind, "id": c.entry_id, "action": c.action} for c in published.changes],
            **({"resolves": len(keys)} if keys else {}), **(detail or {}),
        }
        await dash.in_thread(lambda: _audit(dash, who.actor, action, target, record))
        if keys and entry_id:
            await dash.query(lambda db: rpt.mark_cluster(db, keys, "resolved", entry_id))
            dash.cache.invalidate(lambda key: key[:2] == ("section", "unanswered"))
            if dash.ctx.courier is not None:  # citizens who asked to be told get the new answer, once
                await dash.ctx.courier.resolved(list(keys), entry_id)
        log.info("dashboard: %s %s by %s -> version %s", action, target, who.actor, published.version)

    def _warm(self, kb: KnowledgeBase) -> None:
        """The new live content's matcher and its routes over the labelled questions, built in the
        background, so the next "Impact" costs only the draft's side."""
        task = asyncio.ensure_future(self.dash.in_thread(lambda: self.matching(lambda matcher_of: warm_routes(kb, matcher_of(kb)))))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        task.add_done_callback(lambda t: t.cancelled() or t.exception() is None or log.warning("impact warm-up failed: %s", t.exception()))


def _audit(dash: Dashboard, actor: str, action: str, target: str, detail: dict) -> None:
    db = accounts.connect(dash.ctx.settings.database)
    try:
        accounts.audit(db, actor, action, target, detail)
    finally:
        db.close()


DESK = web.AppKey("content-desk", Desk)


def desk(app: web.Application) -> Desk:
    """The application's desk, made on first call (the pages and the API both set it up)."""
    if DESK not in app:
        found = app[DESK] = Desk(app[DASHBOARD])

        async def close(_app: web.Application) -> None:
            found.close()

        app.on_cleanup.append(close)
    return app[DESK]
