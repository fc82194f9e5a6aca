"""The dashboard's HTML: Jinja2 templates in analytics/templates/ through aiohttp-jinja2, autoescaping on
for every template, and `render`, which every page answers with (security headers, no-store, the
language cookie, compression of big pages).

Every template gets: lang, t (the words of analytics.web.words.T in that language), prefix (/dashboard),
nav (the top bar's links to the pages the caller may open), switch_href (the same page in the other
language), csrf (the session's token, for the logout form; None without a session), who (the caller's
analytics.accounts.Principal; None on the login form), asset(name) (a static file's URL, with the files' version
against stale caches) and the filters number, percent, vn_date, clip and plain (analytics.formatting,
in the page's language). JSON for a page's script goes through `tojson` into a
<script type="application/json"> block: '<', '>', '&' and "'" are escaped there, so no citizen's text can
close the element; the script reads it with JSON.parse (the CSP allows no inline script).

Whitespace: a line break in a template, with the indentation around it, is dropped when it touches a tag
or a {{ }} / {% %} (so templates can be indented while the pages come out as compact as they were); a line
break inside running text becomes one space. Write a space where one is wanted between inline elements.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import aiohttp_jinja2
import jinja2
from aiohttp import web
from jinja2.ext import Extension

from .. import formatting as fmt
from ..accounts import ROLES
from .common import CSRF, DASHBOARD, PREFIX, PRINCIPAL, NavPage, filter_query, remember_lang, request_lang, secure
from .words import T

TEMPLATE_DIR = Path(__file__).resolve().parent.parent / "templates"
TEMPLATES = web.AppKey("dashboard-templates", jinja2.Environment)
_BREAK_AT_TAG = re.compile(r"(?<=[>}])[ \t]*\r?\n\s*|\s*\r?\n[ \t]*(?=[<{])")
_BREAK = re.compile(r"[ \t]*\r?\n[ \t]*")


class JoinLines(Extension):
    """Line breaks next to tags dropped, others made one space (see the module's docstring)."""

    def preprocess(self, source: str, name: str | None, filename: str | None = None) -> str:
        return _BREAK.sub(" ", _BREAK_AT_TAG.sub("", source)).strip()


def _in_lang(fn: Any) -> Any:
    """A formatting function as a filter that takes the language from the template's `lang`."""

    @jinja2.pass_context
    def filter_(context: Any, value: Any) -> Any:
        return fn(value, context["lang"])

    return filter_


def setup(app: web.Application, asset_version: str) -> jinja2.Environment:
    env = aiohttp_jinja2.setup(
        app,
        app_key=TEMPLATES,
        loader=jinja2.FileSystemLoader(TEMPLATE_DIR),
        autoescape=True,
        auto_reload=False,  # templates ship with the code: read once, like it
        undefined=jinja2.StrictUndefined,  # a misspelt name or word key fails the page (and the tests), not silently
        extensions=[JoinLines],
        default_helpers=False,
        filters={"number": _in_lang(fmt.number), "percent": _in_lang(fmt.percent), "vn_date": _in_lang(fmt.vn_date), "clip": fmt.clip, "plain": fmt.plain},
    )
    env.policies["json.dumps_kwargs"] = {"ensure_ascii": False, "sort_keys": False}  # the script relies on the key order (topic colours)
    env.globals.update(prefix=PREFIX, asset=lambda name: f"{PREFIX}/static/{name}?v={asset_version}")
    return env


def nav_links(request: web.Request, pages: list[NavPage], lang: str, current: str | None) -> list[dict[str, Any]]:
    """The top bar's links to the pages the caller's role may open; those that carry the filters keep the
    query's (the dates too, except on the overview)."""
    carry = filter_query(request.query, drop=("since", "until") if current == "dashboard" else ())
    who = request.get(PRINCIPAL)
    rank = ROLES.index(who.role) if who is not None else 0
    return [
        {"href": PREFIX + page.path + (f"?{carry}" if page.carry and carry else ""), "label": page.label[lang], "current": page.name == current}
        for page in pages
        if ROLES.index(page.role) <= rank
    ]


def switch_href(request: web.Request, lang: str) -> str:
    """This page in the other language."""
    query = {k: v for k, v in request.query.items() if k != "lang"}
    query["lang"] = T[lang]["switch_lang"]
    return request.path + "?" + urlencode(query)


def render_text(request: web.Request, name: str, *, current: str | None = None, **context: Any) -> str:
    lang = request_lang(request)
    base = {
        "lang": lang, "t": T[lang], "csrf": request.get(CSRF), "who": request.get(PRINCIPAL), "switch_href": switch_href(request, lang),
        "nav": nav_links(request, request.app[DASHBOARD].nav, lang, current),
    }
    return aiohttp_jinja2.render_string(name, request, {**base, **context}, app_key=TEMPLATES)


def render(request: web.Request, name: str, *, status: int = 200, current: str | None = None, **context: Any) -> web.Response:
    """The page `name` (a file in analytics/templates/) as the answer; `current` names the top bar's page."""
    text = render_text(request, name, current=current, **context)
    response = web.Response(text=text, content_type="text/html", charset="utf-8", status=status)
    if len(text) > 2048:
        response.enable_compression()
    remember_lang(request, response)
    return secure(response)
