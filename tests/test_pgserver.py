"""The throw-away PostgreSQL server the tests and benchmarks start (tests/pgserver.py): it answers, each test's
database is its own, committed data is really stored, and stopping leaves nothing running."""

import os

import pytest

from pgserver import PostgresServer, unavailable_reason

psycopg = pytest.importorskip("psycopg")


def test_server_accepts_a_connection_and_answers(pg_server):
    with psycopg.connect(pg_server.url()) as conn:
        assert conn.execute("select 1").fetchone() == (1,)
        assert conn.execute("show listen_addresses").fetchone() == ("127.0.0.1",)
        # its unix socket is in its own folder, not in /var/run/postgresql
        assert conn.execute("show unix_socket_directories").fetchone() == (str(pg_server.folder / "socket"),)
        assert conn.execute("show server_encoding").fetchone() == ("UTF8",)
    assert pg_server.url("x") == f"postgresql://postgres@127.0.0.1:{pg_server.port}/x"


def test_two_databases_are_isolated(pg_server, pg_url):
    other = pg_server.create_database("isolation_other")
    try:
        with psycopg.connect(pg_url) as conn:
            conn.execute("create table only_here (id int)")
        with psycopg.connect(other) as conn:
            assert conn.execute("select to_regclass('only_here')").fetchone() == (None,)
        with psycopg.connect(pg_url) as conn:
            assert conn.execute("select to_regclass('only_here')").fetchone() == ("only_here",)
    finally:
        pg_server.drop_database("isolation_other")


@pytest.mark.parametrize("run", [1, 2])
def test_each_test_gets_a_fresh_empty_database(pg_url, run):
    """Run twice: the second run would find the first one's table if pg_url handed out the same database."""
    with psycopg.connect(pg_url) as conn:
        tables = conn.execute("select count(*) from pg_tables where schemaname = 'public'").fetchone()
        assert tables == (0,)
        conn.execute("create table left_behind (id int)")


def test_committed_data_survives_a_reconnect(pg_url):
    with psycopg.connect(pg_url) as conn:
        conn.execute("create table notes (id int primary key, body text)")
        conn.execute("insert into notes values (1, %s)", ("Kích hoạt VNeID mức 2",))
    # the with-block committed and closed; a new connection sees the row
    with psycopg.connect(pg_url) as conn:
        assert conn.execute("select body from notes where id = 1").fetchone() == ("Kích hoạt VNeID mức 2",)


def test_uncommitted_data_does_not_survive(pg_url):
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("create table notes (id int)")
    conn = psycopg.connect(pg_url)
    conn.execute("insert into notes values (1)")
    conn.close()  # closed without commit: rolled back
    with psycopg.connect(pg_url) as conn:
        assert conn.execute("select count(*) from notes").fetchone() == (0,)


def test_drop_database_ends_open_connections(pg_server):
    url = pg_server.create_database("dropped_while_open")
    held = psycopg.connect(url)
    pg_server.drop_database("dropped_while_open")
    with pytest.raises(psycopg.OperationalError):
        held.execute("select 1")
    held.close()
    with psycopg.connect(pg_server.url()) as conn:
        assert conn.execute("select count(*) from pg_database where datname = 'dropped_while_open'").fetchone() == (0,)


def test_durable_server_and_stop_leaves_nothing(tmp_path):
    """A second, durable server (the benchmarks' kind): fsync on; stop ends its process and removes its folder."""
    if unavailable_reason():
        pytest.skip(unavailable_reason())
    server = PostgresServer().start(durable=True)
    try:
        with psycopg.connect(server.url()) as conn:
            assert conn.execute("show fsync").fetchone() == ("on",)
            assert conn.execute("show synchronous_commit").fetchone() == ("on",)
            assert conn.execute("show full_page_writes").fetchone() == ("on",)
        pid = server._proc.pid
        folder = server.folder
        assert not folder.is_relative_to("/dev/shm")  # on a disk, where fsync costs what it costs
    finally:
        server.stop()
    server.stop()  # twice is harmless
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    assert not folder.exists()
    assert not server.running


def test_fast_server_settings(pg_server):
    with psycopg.connect(pg_server.url()) as conn:
        assert conn.execute("show fsync").fetchone() == ("off",)
        assert conn.execute("show synchronous_commit").fetchone() == ("off",)


def test_unavailable_reason_names_the_missing_binaries(monkeypatch):
    import pgserver

    monkeypatch.setattr(pgserver, "find_binaries", lambda: None)
    reason = pgserver.unavailable_reason()
    assert reason is not None and "PostgreSQL server binaries not found" in reason and "make test" in reason
