import os
import shutil
from pathlib import Path

import pytest

from bot.engine import Engine
from bot.knowledge import load_knowledge
from bot.matcher import Matcher
from bot.state import MemoryStateStore

ROOT = Path(__file__).resolve().parent.parent
CONTENT = ROOT / "content"


@pytest.fixture(scope="session", autouse=True)
def data_outside_the_checkout(tmp_path_factory):
    """Commands the tests run (`bot ask`, `bot links`, ...) keep their database and salt next to
    DIGIGUIDE_DB: point it into pytest's temporary folder, so no test writes into the checkout. A test
    that needs its own database passes its own DIGIGUIDE_DB."""
    os.environ["DIGIGUIDE_DB"] = str(tmp_path_factory.mktemp("data") / "digiguide.db")


@pytest.fixture(scope="session")
def kb():
    return load_knowledge(CONTENT)


@pytest.fixture(scope="session")
def matcher(kb):
    return Matcher(kb)


@pytest.fixture
def engine(kb, matcher):
    return Engine(kb, MemoryStateStore(), salt="test-salt", matcher=matcher)


@pytest.fixture
def content_copy(tmp_path):
    """A writable copy of the real content, to break on purpose."""
    target = tmp_path / "content"
    shutil.copytree(CONTENT, target)
    return target


@pytest.fixture(scope="session")
def pg_server():
    """One real PostgreSQL server for the whole session, in a temporary folder (tests/pgserver.py says how).
    Started only when a test asks for it, so a session without PostgreSQL tests never starts one; skipped with
    the reason when this machine cannot run it (no server binaries, no psycopg)."""
    from pgserver import PostgresServer, unavailable_reason

    reason = unavailable_reason()
    if reason:
        pytest.skip(reason)
    server = PostgresServer().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def pg_url(pg_server, request):
    """A fresh, empty database of this test's own on the session's server, dropped after the test: its URL,
    postgresql://postgres@127.0.0.1:PORT/NAME. The name carries the test's name (to read in the server log) and
    a random suffix (so reruns and parametrised cases never meet)."""
    import re
    import uuid

    stem = re.sub(r"[^a-z0-9_]+", "_", request.node.name.lower()).strip("_")[:40]
    name = f"{stem}_{uuid.uuid4().hex[:8]}"
    url = pg_server.create_database(name)
    try:
        yield url
    finally:
        pg_server.drop_database(name)


ENGINES = ["sqlite", "postgresql"]


@pytest.fixture(scope="session")
def pg_template(pg_server):
    """A database migrated once to the newest schema; each test's database is a copy of it (CREATE DATABASE
    ... TEMPLATE), which is much faster than running every migration per test."""
    from bot import storage

    name = "digiguide_template"
    url = pg_server.create_database(name)
    storage.connect(url).close()
    return name


@pytest.fixture
def pg_database(pg_server, pg_template, request):
    """The URL of a fresh PostgreSQL database of this test's own, migrated (a copy of pg_template)."""
    import uuid

    name = f"t_{uuid.uuid4().hex[:12]}"
    url = pg_server.create_database(name, template=pg_template)
    request.addfinalizer(lambda: pg_server.drop_database(name))
    return url


@pytest.fixture(params=ENGINES)
def db_target(request, tmp_path):
    """Where a test's tables live, once per engine: an SQLite file in tmp_path, or a fresh PostgreSQL database
    (migrated) on the session's real server. The same value opens the same database again (a reopen, a
    second process)."""
    if request.param == "sqlite":
        return str(tmp_path / "digiguide.db")
    return request.getfixturevalue("pg_database")
