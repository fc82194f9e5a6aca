"""The officials' dashboard at /dashboard, in the same aiohttp app as the chat. `setup(app, ctx)` mounts it
(bot/server.py). One module per page; what they share lives below them:

    overview.py      GET /dashboard, /dashboard/ (the main page), /dashboard/api/section/<s>,
                     /dashboard/export/<s>.csv, POST /dashboard/api/mark; the warmer of the standard views
    weekly.py        GET /dashboard/weekly (the printable weekly summary)
    groups.py        GET /dashboard/groups, /dashboard/groups/export/<s>.csv (working groups' links, results)
    advice_page.py   GET /dashboard/outreach[/export.csv|/sheet], POST .../produce ("Gợi ý tuyên truyền":
                     what each ward should explain next, its A4 meeting sheet, before/after)
    review.py        GET /dashboard/review, /dashboard/api/review (answers that need review, most asked first)
    content.py       GET /dashboard/content[/...] (the content editors' list, entry editor, locality, history)
    content_api.py   /dashboard/api/content/... (read, check, preview, try, impact, publish, revert: JSON)
    tickets.py       GET /dashboard/tickets, .../export/<t>.csv, POST .../tickets/<id>/take|reply|close
                     (the questions citizens handed over to officials, their answers, their figures)
    tickets_api.py   /dashboard/api/tickets[/<id>[/take|reply|close]] (the same as JSON)
    poster_pages.py  GET /dashboard/groups/<group>/poster(s)[.pdf], .../qr/<guide>.png, /dashboard/groups/fonts/<f>
    login.py         GET/POST /dashboard/login, /dashboard/first-admin, /dashboard/password
    accounts_page.py GET /dashboard/accounts, POST .../users[/disable|enable|reset], .../tokens[/revoke] (admins)
    audit_page.py    GET /dashboard/audit, /dashboard/audit.csv (admins)
    auth.py          POST /dashboard/logout, everything else under /dashboard/ (catch_all); `require`,
                     sessions (sessions.py: in the database, on a thread of their own), CSRF, the audit hook
    static.py        GET /dashboard/static/<file> (public: CSS, scripts, Chart.js)

    common.py        paths, security headers, filters, language, the result cache, the Dashboard object
    templating.py    Jinja2 (analytics/templates/, autoescaping on) and `render`
    ..formatting.py  numbers, dates, titles, CSV (no web code: the CLI reports use it too);  forms.py  the filter form;  words.py  the words (vi, en)
    outreach.py      what the working groups' pages share
    content_desk.py  what the content pages and API share: the repo, the history, publish-then-reload
    ticket_desk.py   what the tickets page, its API and the content editor share: a ticket the caller may
                     see, the queue's views, take / reply / close, a ticket's draft for the editor

Pages import the shared modules, never each other. docs/dashboard.md says how to add a page.
"""

from __future__ import annotations

from aiohttp import web

from bot.channels.base import ServerContext

from . import accounts_page, advice_page, audit_page, auth, content, content_api, groups, login, overview, poster_pages, review, static, templating, tickets, tickets_api, weekly
from .auth import Principal, current_principal, require
from .common import DASHBOARD, Dashboard

__all__ = ["DASHBOARD", "Dashboard", "Principal", "current_principal", "require", "setup"]


def setup(app: web.Application, ctx: ServerContext) -> Dashboard:
    """Register the dashboard's routes, templates and startup/cleanup hooks on the server's application."""
    dash = app[DASHBOARD] = Dashboard(ctx)
    templating.setup(app, static.setup(app))
    auth.setup(app)
    login.setup(app)
    overview.setup(app, dash)  # the top bar lists the pages in the order they are set up
    weekly.setup(app, dash)
    groups.setup(app, dash)
    advice_page.setup(app, dash)  # what each ward should explain next (issue 14)
    review.setup(app, dash)
    content.setup(app, dash)  # the content editors' pages (issue 11, section 2)
    content_api.setup(app, dash)  # ... and their JSON API
    tickets.setup(app, dash)  # the questions citizens handed over to officials (issue 12)
    tickets_api.setup(app, dash)  # ... and their JSON API
    poster_pages.setup(app)
    accounts_page.setup(app, dash)  # admins only: the top bar shows them to admins
    audit_page.setup(app, dash)
    auth.add_catch_all(app)  # last: it answers every other path under /dashboard/

    async def close(_app: web.Application) -> None:
        await dash.close()

    app.on_cleanup.append(close)
    return dash
