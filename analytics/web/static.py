"""GET /dashboard/static/<file>: the dashboard's CSS, scripts, icon and the vendored Chart.js
(analytics/static/; no data, so public and cached a day). The files are read once at startup; their
version (a hash of them all) goes into every URL (templating's asset()), so a new release is never served
from a stale cache. Only .js, .css and .svg files are served (not VENDORED.md, not the fonts: the posters'
font is behind the login, analytics.web.poster_pages).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

from .common import PREFIX, STATIC_DIR, secure

CONTENT_TYPES = {".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml"}


@dataclass(frozen=True)
class Asset:
    body: bytes
    content_type: str
    etag: str


def load_assets(folder: Path = STATIC_DIR) -> tuple[dict[str, Asset], str]:
    """The static files, read once, and a version (hash of them all) for cache-busting URLs."""
    files = {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file() and p.suffix in CONTENT_TYPES}
    version = hashlib.sha256(b"".join(files.values())).hexdigest()[:12]
    assets = {name: Asset(body, CONTENT_TYPES[Path(name).suffix], '"' + hashlib.sha256(body).hexdigest()[:16] + '"') for name, body in files.items()}
    return assets, version


def setup(app: web.Application) -> str:
    """Register the route; returns the files' version."""
    assets, version = load_assets()

    async def asset(request: web.Request) -> web.Response:
        found = assets.get(request.match_info["name"])
        if found is None:
            raise secure(web.HTTPNotFound(), private=False)
        headers = {"ETag": found.etag, "Cache-Control": "public, max-age=86400"}
        if found.etag in request.headers.get("If-None-Match", ""):
            return secure(web.Response(status=304, headers=headers), private=False)
        response = web.Response(body=found.body, content_type=found.content_type, charset="utf-8", headers=headers)
        if len(found.body) > 1024:
            response.enable_compression()
        return secure(response, private=False)

    app.router.add_get(PREFIX + "/static/{name}", asset)
    return version
