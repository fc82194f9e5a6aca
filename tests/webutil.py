"""Shared helpers for the web chat tests: the real server app on throwaway SQLite files.

The knowledge base and matcher come from conftest's session fixtures (built once); everything with
state (SQLite files, the ChatService worker thread, the rate limiter) is new for every test.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from bot.config import Settings
from bot.engine import Engine
from bot.knowledge import KnowledgeBase
from bot.matcher import Matcher
from bot.server import build_app
from bot.service import ChatService
from bot.state import SqliteStateStore


def make_app(tmp_path: Path, kb: KnowledgeBase, matcher: Matcher) -> web.Application:
    """The same application `python -m bot serve` runs, on files under tmp_path."""
    settings = Settings(db_path=tmp_path / "x.db", salt="t", dashboard_token="tok")
    store = SqliteStateStore(tmp_path / "s.db")
    service = ChatService(Engine(kb, store, "t", matcher=matcher))
    return build_app(settings, service)


def new_session() -> str:
    return secrets.token_hex(8)


@asynccontextmanager
async def running_server(app: web.Application) -> AsyncIterator[str]:
    """Serve `app` on a free loopback port; yields its base URL (for a real browser)."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    try:
        yield f"http://{host}:{port}"
    finally:
        await runner.cleanup()


@pytest.fixture
async def client(tmp_path: Path, kb: KnowledgeBase, matcher: Matcher) -> AsyncIterator[TestClient]:
    async with TestClient(TestServer(make_app(tmp_path, kb, matcher))) as test_client:
        yield test_client
