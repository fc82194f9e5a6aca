"""Time every dashboard view against a given analytics database, through the real server.

Used by bench_analytics.py at one million events. Each view is requested the way the page requests it
(the HTML, then every section's JSON, which the browser loads in parallel) and timed on its own; the page
total is the slowest of the parallel section loads plus the HTML. Views: the default 28-day range and the
whole range ("all time"), the weekly summary and one CSV export.

Two runs, each on a server of its own: "cold", with the dashboard's cache off (DIGIGUIDE_DASHBOARD_CACHE_TTL=0:
every request computes its section, as the first request for any other filter does), then "warm", as
served: the cache on and its warmer's first pass over the two standard views done (waited for in the log).

    .venv/bin/python bench/bench_dashboard.py DB-FILE-OR-POSTGRESQL-URL [--cold | --warm]
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from http.cookiejar import CookieJar
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from analytics.web.overview import SECTIONS  # noqa: E402

TOKEN = "bench-dashboard-token"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _opener(base: str):
    jar = CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    data = urllib.parse.urlencode({"token": TOKEN}).encode()
    req = urllib.request.Request(base + "/dashboard/login", data=data, headers={"Origin": base})
    opener.open(req, timeout=30).read()
    return opener


def _timed(opener, url: str) -> float:
    start = time.perf_counter()
    with opener.open(url, timeout=60) as resp:
        resp.read()
        assert resp.status == 200, url
    return time.perf_counter() - start


WARM_LOG = "dashboard: standard views warm"  # analytics.web.overview logs this after the warmer's first pass


def bench_dashboard(db_path: Path | str, cold: bool = True, warm: bool = True) -> list[tuple[str, float]]:
    """Cold figures, then warm ones, each name prefixed with which."""
    results = []
    for label, cache in (("cold", False), ("warm", True)):
        if (cold, warm)[cache]:
            results += [(f"{label}, {name}", seconds) for name, seconds in _bench_server(db_path, cache)]
    return results


def _bench_server(db_path: Path | str, cache: bool) -> list[tuple[str, float]]:
    """`db_path`: an SQLite file, or a postgresql:// URL (then the salt file goes to a temporary folder)."""
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    env = {**os.environ, "DIGIGUIDE_PORT": str(port), "DIGIGUIDE_DASHBOARD_TOKEN": TOKEN, "TELEGRAM_BOT_TOKEN": "", "ZALO_BOT_TOKEN": ""}
    if str(db_path).startswith("postgresql://"):
        env.update(DIGIGUIDE_DATABASE_URL=str(db_path), DIGIGUIDE_DB=str(Path(tempfile.mkdtemp(prefix="digiguide-dash-")) / "salt-only.db"))
    else:
        env.update(DIGIGUIDE_DB=str(db_path), DIGIGUIDE_DATABASE_URL="")
    if not cache:
        env["DIGIGUIDE_DASHBOARD_CACHE_TTL"] = "0"
    else:
        env.pop("DIGIGUIDE_DASHBOARD_CACHE_TTL", None)
    log = tempfile.TemporaryFile(mode="w+", encoding="utf-8")
    proc = subprocess.Popen([sys.executable, "-m", "bot", "serve"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=log)
    try:
        for _ in range(200):
            try:
                urllib.request.urlopen(base + "/healthz", timeout=1).read()
                break
            except OSError:
                time.sleep(0.1)
        if cache:  # until the warmer has been over both standard views once
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                log.seek(0)
                if WARM_LOG in log.read():
                    break
                time.sleep(0.1)
            else:
                raise RuntimeError("the dashboard's warmer did not finish its first pass within 2 minutes")
        opener = _opener(base)
        with opener.open(base + "/dashboard/", timeout=60) as resp:  # redirects to the default range
            default_query = urllib.parse.urlsplit(resp.url).query
        results = []
        for label, query in (("default 28 days", default_query), ("all time", "since=&until=")):
            html = _timed(opener, f"{base}/dashboard/?{query}")
            for name in SECTIONS:  # each on its own, as when one chart is refreshed
                results.append((f"{label}: section {name}", _timed(opener, f"{base}/dashboard/api/section/{name}?{query}")))
            with ThreadPoolExecutor(len(SECTIONS)) as pool:  # the whole page, as a browser loads it
                start = time.perf_counter()
                list(pool.map(lambda n: _timed(opener, f"{base}/dashboard/api/section/{n}?{query}"), SECTIONS))
                sections = time.perf_counter() - start
            results.append((f"{label}: whole page (HTML + {len(SECTIONS)} sections)", html + sections))
        results.append(("weekly summary", _timed(opener, f"{base}/dashboard/weekly")))
        results.append(("CSV export of unanswered (all time)", _timed(opener, f"{base}/dashboard/export/unanswered.csv?since=&until=")))
        return results
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()


if __name__ == "__main__":
    only = set(sys.argv[2:])
    where = sys.argv[1] if sys.argv[1].startswith("postgresql://") else Path(sys.argv[1])
    for name, seconds in bench_dashboard(where, cold="--warm" not in only, warm="--cold" not in only):
        print(f"{name:<60} {seconds * 1000:7.0f} ms")
