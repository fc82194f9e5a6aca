"""A real, throw-away PostgreSQL server for the tests and the benchmarks.

Why a real server: the PostgreSQL storage path (row locks, transactions, SQL dialect) can only be checked
against PostgreSQL itself; a mock would agree with whatever our code assumes. Why our own server and not the
machine's: the tests must not depend on, or write into, a cluster someone else runs (Debian's service may or may
not be up, on a port and with passwords we do not know), and CI starts from a fresh clone with nothing running.

So this module takes the server binaries of Debian's `postgresql` package (`make test` installs it), runs
`initdb` into a temporary folder and starts `postgres` on it:

  * listening on 127.0.0.1 only, on a free TCP port, with its unix socket inside the temporary folder
    (nothing is written to /var/run/postgresql);
  * trust authentication (the only client is this machine's loopback), superuser `postgres`;
  * fast and unsafe by default (fsync, synchronous_commit and full_page_writes off, its folder on /dev/shm:
    a test's data need not survive a power cut), or durable (`start(durable=True)`: all on, on a real disk)
    for benchmarks that must measure real commits;
  * as the `postgres` system user when we are root, because initdb and postgres refuse to run as root.

    server = PostgresServer()
    server.start()                        # ~1-2 s: initdb, then wait until it accepts connections
    server.create_database("t1")
    url = server.url("t1")                # postgresql://postgres@127.0.0.1:PORT/t1
    server.stop()                         # also registered with atexit: no server outlives the process

psycopg 3 is imported inside functions only, so importing this module never needs it.
"""

from __future__ import annotations

import atexit
import ctypes
import glob
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path

# Debian installs each major version's server binaries here, outside PATH.
DEBIAN_GLOB = "/usr/lib/postgresql/*/bin"
NEEDED = ("initdb", "pg_ctl", "postgres")
SYSTEM_USER = "postgres"  # the account initdb/postgres run as when we are root
SUPERUSER = "postgres"  # the database superuser initdb creates
INSTALL_HINT = "install Debian's postgresql package: make test does"
# a unix socket path must fit sockaddr_un.sun_path (108 bytes with the NUL), ".s.PGSQL.65535" included
SOCKET_PATH_MAX = 107 - len("/.s.PGSQL.65535")

FAST_SETTINGS = {"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off"}
DURABLE_SETTINGS = {"fsync": "on", "synchronous_commit": "on", "full_page_writes": "on"}


def _version_key(folder: Path) -> tuple[int, ...]:
    """/usr/lib/postgresql/15/bin -> (15,); 9.6 -> (9, 6): so 15 sorts above 9.6 (a text sort would not)."""
    return tuple(int(part) for part in re.findall(r"\d+", folder.parent.name)) or (0,)


def find_binaries() -> Path | None:
    """The folder holding initdb, pg_ctl and postgres: Debian's newest version first, then PATH, else None."""
    candidates = sorted((Path(p) for p in glob.glob(DEBIAN_GLOB)), key=_version_key, reverse=True)
    on_path = shutil.which("initdb")
    if on_path:
        candidates.append(Path(on_path).resolve().parent)
    for folder in candidates:
        if all(os.access(folder / name, os.X_OK) for name in NEEDED):
            return folder
    return None


def _as_root() -> bool:
    return os.geteuid() == 0


def unavailable_reason() -> str | None:
    """Why a server cannot be started here, as a sentence for `pytest.skip`; None when it can.

    Only checks what is missing (binaries, psycopg, the system user); a server that is there but fails to start
    is an error raised by `start`, not a reason to skip."""
    if find_binaries() is None:
        return f"PostgreSQL server binaries not found ({INSTALL_HINT})"
    try:
        import psycopg  # noqa: F401
    except ImportError:
        return "psycopg 3 is not installed in this Python (pip install -e '.[test]' brings it; make test does)"
    if _as_root():
        try:
            pwd.getpwnam(SYSTEM_USER)
        except KeyError:
            return f"running as root and there is no {SYSTEM_USER!r} system user to run PostgreSQL as ({INSTALL_HINT})"
    return None


def _free_port() -> int:
    """A TCP port free on 127.0.0.1 right now (the kernel picks it; `start` retries if someone takes it first)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _die_with_parent() -> None:
    """In the server's child process: ask Linux to send SIGQUIT (PostgreSQL's immediate shutdown) when the
    process that started it dies, so even a test run killed with SIGKILL, where atexit never runs, leaves no
    server behind. Best effort: a platform without prctl just relies on atexit.

    Linux means the starting *thread*: call `start` from a thread that lives as long as the server is wanted (the
    main thread, as pytest's fixtures and the benchmarks do), or the server quits when that thread ends."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, signal.SIGQUIT, 0, 0, 0)
    except Exception:  # noqa: BLE001 - never stop the server from starting over this
        pass


def _default_base(durable: bool) -> Path:
    """Where the temporary folder goes unless the caller says: a fast server's on /dev/shm (memory) when there is
    one, a durable server's in the system's temporary folder (a real disk).

    Why: on this project's machines the disk's file operations are slow: CREATE DATABASE, which copies the template's
    files, took ~0.3 s in /tmp against ~0.02 s on /dev/shm, and initdb+start 1.8 s against 0.9 s, so a suite that
    makes a database per test would spend most of its time copying files. A durable server must stay on disk: fsync
    on memory costs nothing, and the benchmarks that ask for durability are there to measure what it costs."""
    shm = Path("/dev/shm")
    if not durable and shm.is_dir() and os.access(shm, os.W_OK | os.X_OK):
        return shm
    return Path(tempfile.gettempdir())


class PostgresServer:
    """One PostgreSQL server in its own temporary folder, started by `start` and removed, folder and all, by
    `stop`. Also a context manager: `with PostgresServer() as server: ...`."""

    def __init__(self, base_dir: str | os.PathLike[str] | None = None, *, superuser: str = SUPERUSER) -> None:
        """base_dir: where the temporary folder goes (default: /dev/shm for a fast server, the system's temporary
        folder for a durable one; see _default_base). When we run as root it must be a place the postgres user can
        reach, which /tmp and /dev/shm are."""
        self.superuser = superuser
        self._base_dir = None if base_dir is None else Path(base_dir)
        self._folder: Path | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._port: int | None = None
        self._bin: Path | None = None
        self._atexit_registered = False
        self._log_start = 0  # where this launch's lines begin in server.log
        self.durable: bool | None = None
        self.startup_seconds: float | None = None  # initdb + start + first connection, for the curious

    # -- where things are -------------------------------------------------------------------------------------

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("PostgresServer is not started")
        return self._port

    @property
    def folder(self) -> Path:
        """The temporary folder: data/ (the cluster), socket/ (its unix socket), server.log."""
        if self._folder is None:
            raise RuntimeError("PostgresServer is not started")
        return self._folder

    @property
    def data_dir(self) -> Path:
        return self.folder / "data"

    @property
    def log_path(self) -> Path:
        return self.folder / "server.log"

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def url(self, dbname: str = "postgres") -> str:
        """postgresql://USER@127.0.0.1:PORT/DBNAME: TCP on loopback, no password (trust authentication)."""
        return f"postgresql://{self.superuser}@127.0.0.1:{self.port}/{dbname}"

    # -- life cycle -------------------------------------------------------------------------------------------

    def start(self, durable: bool = False, *, settings: Mapping[str, object] | None = None, timeout: float = 30.0) -> "PostgresServer":
        """initdb a fresh cluster in a new temporary folder and start the server; return once it accepts
        connections. durable=False turns fsync, synchronous_commit and full_page_writes off (fast, for tests);
        durable=True keeps them on, for benchmarks that must pay for real commits. settings: extra `-c name=value`
        server settings (e.g. {"max_connections": 200}). Raises RuntimeError with the server log's tail if the
        server does not come up within timeout seconds. Call it from a long-lived thread (see _die_with_parent)."""
        if self._proc is not None:
            raise RuntimeError("PostgresServer is already started")
        reason = unavailable_reason()
        if reason:
            raise RuntimeError(reason)
        began = time.monotonic()
        self._bin = find_binaries()
        self.durable = durable
        if not self._atexit_registered:
            atexit.register(self.stop)
            self._atexit_registered = True
        try:
            self._make_folder(durable)
            self._initdb()
            for attempt in range(3):  # the free port may be taken between choosing it and binding it
                self._port = _free_port()
                try:
                    self._launch(durable, settings or {}, began + timeout)
                    break
                except _PortTaken:
                    if attempt == 2:
                        raise RuntimeError(f"PostgreSQL could not bind a free port three times\n{self._log_tail()}") from None
        except BaseException:
            self.stop()
            raise
        self.startup_seconds = time.monotonic() - began
        return self

    def stop(self, mode: str = "immediate") -> None:
        """Stop the server and delete its folder. Safe to call twice, or after a failed start.

        mode is pg_ctl's shutdown mode: "immediate" by default, because the data is thrown away at once, so a
        shutdown checkpoint (what "fast" writes) would only cost time; pass "fast" to watch a clean shutdown."""
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            try:
                self._run([str(self._bin / "pg_ctl"), "stop", "-D", str(self.data_dir), "-m", mode, "-w", "-t", "20"], timeout=30)
            except (subprocess.SubprocessError, OSError):
                pass
            if proc.poll() is None:  # pg_ctl failed or timed out: signal the postmaster ourselves
                proc.send_signal(signal.SIGQUIT)
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if proc is not None and proc.stdout is not None:
            proc.stdout.close()
        if self._folder is not None:
            shutil.rmtree(self._folder, ignore_errors=True)
            self._folder = None
        self._port = None

    def __enter__(self) -> "PostgresServer":
        if self._proc is None:
            self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- databases --------------------------------------------------------------------------------------------

    def connect(self, dbname: str = "postgres", **kwargs: object):
        """A psycopg connection to dbname as the superuser (autocommit=True for admin work)."""
        import psycopg

        return psycopg.connect(self.url(dbname), connect_timeout=5, **kwargs)

    def create_database(self, name: str, template: str | None = None) -> str:
        """CREATE DATABASE name [TEMPLATE template]; returns its URL. (A template must have no open connections.)"""
        from psycopg import sql

        statement = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
        if template is not None:
            statement += sql.SQL(" TEMPLATE {}").format(sql.Identifier(template))
        with self.connect(autocommit=True) as conn:
            conn.execute(statement)
        return self.url(name)

    def drop_database(self, name: str) -> None:
        """DROP DATABASE IF EXISTS name WITH (FORCE): PostgreSQL 13+ ends its other connections first, so a test
        that leaked a connection does not keep its database alive."""
        from psycopg import sql

        with self.connect(autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))

    # -- inside -----------------------------------------------------------------------------------------------

    def _make_folder(self, durable: bool) -> None:
        base = self._base_dir or _default_base(durable)
        self._folder = Path(tempfile.mkdtemp(prefix="digiguide-pg-", dir=base))
        (self._folder / "data").mkdir(mode=0o700)
        (self._folder / "socket").mkdir(mode=0o700)
        self.log_path.touch()
        if _as_root():
            entry = pwd.getpwnam(SYSTEM_USER)
            for path in (self._folder, self._folder / "data", self._folder / "socket", self.log_path):
                os.chown(path, entry.pw_uid, entry.pw_gid)

    def _run(self, args: list[str], timeout: float) -> subprocess.CompletedProcess[str]:
        """Run a PostgreSQL tool, as the postgres user when we are root; raise with its output if it fails."""
        result = subprocess.run(args, capture_output=True, text=True, timeout=timeout, check=False, **self._as_user())
        if result.returncode != 0:
            raise subprocess.CalledProcessError(result.returncode, args, result.stdout, result.stderr)
        return result

    def _as_user(self) -> dict[str, object]:
        """subprocess arguments that drop root for the postgres user (Python 3.9+'s user=/group=, no runuser),
        with a working directory and HOME that user can enter, and a C locale so messages are predictable."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}  # no PGDATA/PGPORT from the caller
        env.update(LC_ALL="C", LANG="C")
        kwargs: dict[str, object] = {"cwd": str(self._folder), "env": env}
        if _as_root():
            entry = pwd.getpwnam(SYSTEM_USER)
            env.update(HOME=entry.pw_dir, USER=SYSTEM_USER, LOGNAME=SYSTEM_USER)
            kwargs.update(user=entry.pw_uid, group=entry.pw_gid, extra_groups=[])
        return kwargs

    def _initdb(self) -> None:
        args = [
            str(self._bin / "initdb"), "-D", str(self.data_dir),
            "--auth=trust", f"--username={self.superuser}",
            "--encoding=UTF8", "--locale=C",  # Vietnamese text needs UTF-8; C collation is fast and the same everywhere
            "--no-sync",  # the folder is thrown away after the run: syncing initdb's files would only cost time
        ]  # fmt: skip
        try:
            self._run(args, timeout=120)
        except subprocess.CalledProcessError as exc:
            raise RuntimeError(f"initdb failed (exit {exc.returncode}):\n{exc.stdout}\n{exc.stderr}") from None

    def _launch(self, durable: bool, settings: Mapping[str, object], deadline: float) -> None:
        """Start postgres itself as our child (not daemonised by pg_ctl), so we see at once if it dies, and it gets
        SIGQUIT if we die. Then poll until a connection succeeds or the deadline passes."""
        socket_dir = str(self._folder / "socket")
        values: dict[str, object] = {
            "listen_addresses": "127.0.0.1",
            "port": self._port,
            # the socket in our folder, or none at all if the path is too long for a unix socket
            "unix_socket_directories": socket_dir if len(socket_dir) <= SOCKET_PATH_MAX else "",
            **(DURABLE_SETTINGS if durable else FAST_SETTINGS),
            **settings,
        }
        args = [str(self._bin / "postgres"), "-D", str(self.data_dir)]
        for name, value in values.items():
            if isinstance(value, bool):
                value = "on" if value else "off"
            args += ["-c", f"{name}={value}"]
        with open(self.log_path, "ab") as log:
            self._log_start = log.tell()
            self._proc = subprocess.Popen(
                args, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, preexec_fn=_die_with_parent, **self._as_user()
            )
        self._wait_until_ready(deadline)

    def _wait_until_ready(self, deadline: float) -> None:
        import psycopg

        last_error: Exception | None = None
        while True:
            code = self._proc.poll()
            if code is not None:
                self._proc = None
                tail = self._log_tail()
                if "Address already in use" in tail:
                    raise _PortTaken()
                raise RuntimeError(f"PostgreSQL exited with code {code} while starting; server log:\n{tail}")
            try:
                with psycopg.connect(self.url("postgres"), connect_timeout=2) as conn:
                    conn.execute("select 1")
                return
            except psycopg.OperationalError as exc:  # not listening yet, or "the database system is starting up"
                last_error = exc
            if time.monotonic() > deadline:
                raise RuntimeError(f"PostgreSQL did not accept connections in time ({last_error}); server log:\n{self._log_tail()}")
            time.sleep(0.05)

    def _log_tail(self, lines: int = 30) -> str:
        try:
            with open(self.log_path, "rb") as log:
                log.seek(self._log_start)
                text = log.read().decode(errors="replace")
        except OSError:
            return "(no server log)"
        return "\n".join(text.splitlines()[-lines:])


class _PortTaken(Exception):
    """The port chosen was taken before postgres could bind it: start tries another."""
