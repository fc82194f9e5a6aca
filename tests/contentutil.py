"""What the content editor's tests share (tests/test_content_api.py, tests/test_content_browser.py): our
server on a copy of the content, recording what citizens ask as `serve` does (so the unanswered inbox
fills), and principals behind bearer tokens for the roles.

    content_server(tmp_path, content_dir, matcher)   -> ContentServer: the app (Settings(content_dir=copy)),
                                                        its event store, chat(), answer_of(), audit()
    TOKENS, resolve                                   "viewer-token" and "editor-token" for app[AUTH].resolve_token
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web

from analytics.accounts import audit_log, connect
from analytics.store import EventStore
from analytics.web.auth import Principal
from bot.engine import Engine
from bot.knowledge import KnowledgeBase, load_knowledge
from bot.matcher import Matcher
from bot.server import CTX, build_app
from bot.service import ChatService
from bot.state import SqliteStateStore
from webutil import app_settings

TOKENS = {
    "viewer-token": Principal("an", "viewer", kind="token"),
    "editor-token": Principal("binh", "editor", kind="token"),
}


async def resolve(request: web.Request, token: str) -> Principal | None:
    return TOKENS.get(token)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@dataclass
class ContentServer:
    app: web.Application
    content: Path
    kb: KnowledgeBase  # the content as it was at the start
    events: EventStore

    @property
    def live(self) -> KnowledgeBase:
        """The content the bot answers from now (after publishes and reloads)."""
        return self.app[CTX].service.kb

    def answer_of(self, entry_id: str) -> str:
        return self.live.faqs[entry_id].answer.vi

    def audit(self) -> list[tuple[str, str, str | None, dict[str, Any]]]:
        """(actor, action, target, detail) of the audit log, newest first."""
        db = connect(self.app[CTX].settings.db_path)
        try:
            return [(e.actor, e.action, e.target, e.detail) for e in audit_log(db)]
        finally:
            db.close()

    def close(self) -> None:
        self.events.stop()
        self.app[CTX].service.engine.store.close()


def content_server(tmp_path: Path, content_dir: Path, matcher: Matcher) -> ContentServer:
    """The app `python -m bot serve` runs, on `content_dir` (a copy: publishing writes into it) and files
    under tmp_path, with a real event store (answers wait for their event's commit, as in `serve`)."""
    kb = load_knowledge(content_dir)  # the same files as content/: the session's matcher fits it
    settings = app_settings(tmp_path, content_dir=content_dir)
    events = EventStore(settings.db_path).start()
    engine = Engine(kb, SqliteStateStore(tmp_path / "s.db"), "t", matcher=matcher)
    app = build_app(settings, ChatService(engine, events))
    return ContentServer(app, content_dir, kb, events)
