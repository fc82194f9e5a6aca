"""The officials' dashboard at /dashboard, in the same aiohttp app as the chat. `setup(app, ctx)` mounts it
(bot/server.py). One module per page; what they share lives below them:

    overview.py      GET /dashboard, /dashboard/ (the main page), /dashboard/api/section/<s>,
                     /dashboard/export/<s>.csv, POST /dashboard/api/mark; the warmer of the standard views
    weekly.py        GET /dashboard/weekly (the printable weekly summary)
    groups.py        GET /dashboard/groups, /dashboard/groups/export/<s>.csv (working groups' links, results)
    review.py        GET /dashboard/review, /dashboard/api/review (answers that need review, most asked first)
    poster_pages.py  GET /dashboard/groups/<group>/poster(s)[.pdf], .../qr/<guide>.png, /dashboard/groups/fonts/<f>
    auth.py          GET/POST /dashboard/login, POST /dashboard/logout, everything else under /dashboard/
                     (catch_all); Principal, sessions, CSRF, `require`
    static.py        GET /dashboard/static/<file> (public: CSS, scripts, Chart.js)

    common.py        paths, security headers, filters, language, the result cache, the Dashboard object
    templating.py    Jinja2 (analytics/templates/, autoescaping on) and `render`
    formatting.py    numbers, dates, titles, CSV;  forms.py  the filter form;  words.py  the words (vi, en)
    outreach.py      what the working groups' pages share

Pages import the shared modules, never each other. docs/dashboard.md says how to add a page.
"""

from __future__ import annotations

from aiohttp import web

from bot.channels.base import ServerContext

from . import auth, groups, overview, poster_pages, review, static, templating, weekly
from .auth import Principal, current_principal, require
from .common import DASHBOARD, Dashboard

__all__ = ["DASHBOARD", "Dashboard", "Principal", "current_principal", "require", "setup"]


def setup(app: web.Application, ctx: ServerContext) -> Dashboard:
    """Register the dashboard's routes, templates and startup/cleanup hooks on the server's application."""
    dash = app[DASHBOARD] = Dashboard(ctx)
    templating.setup(app, static.setup(app))
    auth.setup(app)
    overview.setup(app, dash)  # the top bar lists the pages in the order they are set up
    weekly.setup(app, dash)
    groups.setup(app, dash)
    review.setup(app, dash)
    poster_pages.setup(app)
    auth.add_catch_all(app)  # last: it answers every other path under /dashboard/

    async def close(_app: web.Application) -> None:
        await dash.close()

    app.on_cleanup.append(close)
    return dash
