"""A working group's posters (analytics.posters) on the dashboard: print-ready HTML pages
(templates/posters.html, A4, one poster a page), PDFs, QR codes alone, and the posters' font.

    GET /dashboard/groups/<group>/poster/<guide>            one poster, print-ready (A4, one page)
    GET /dashboard/groups/<group>/poster/<guide>.pdf        the same poster as a PDF
    GET /dashboard/groups/<group>/posters                   every guide's poster for the group, one per page
    GET /dashboard/groups/<group>/posters.pdf               the same as one PDF
    GET /dashboard/groups/<group>/qr/<guide>.png?kind=telegram|web   the QR code alone (PNG; <guide> may be "menu")
    GET /dashboard/groups/fonts/<font>.ttf                  the posters' font (DejaVu Sans, vendored)

All behind the dashboard login: pages redirect to it, files answer 401. Building PDFs and QR codes runs on
the dashboard's threads; the last few PDFs are kept (fourteen pages take about a second).
"""

from __future__ import annotations

import hashlib
import re
from functools import lru_cache
from pathlib import Path
from typing import Any

from aiohttp import web
from markupsafe import Markup

from ..posters import FONTS, QR_KINDS, Fit, Poster, P, code_size, columns, fit, group_rows, make_poster, new_pdf, posters_pdf, qr_png, qr_svg
from .auth import Principal, require
from .common import DASHBOARD, json_error, request_lang, secure
from .outreach import PATH, bot_username, poster_web_url, web_is_public, zalo_name
from .templating import render
from .words import GROUPS

PDFS_KEPT = 16
PDFS = web.AppKey("dashboard-poster-pdfs", dict)


def poster_view(poster: Poster, chosen: Fit) -> dict[str, Any]:
    """What templates/_poster.html draws: the poster, its fit, its words and its code columns."""
    words = P[poster.lang]
    cols = []
    for kind in columns(poster):
        if kind == "zalo":
            cols.append({"kind": kind, "size": code_size(poster.zalo_code)})
            continue
        url = poster.telegram if kind == "telegram" else poster.web
        caption = words["scan"] if kind == "telegram" else words["scan_web"].format(host=poster.web_host)
        if kind == "telegram" and poster.telegram_name:
            caption = f"{caption} · {poster.telegram_name}"
        # segno writes the SVG (attributes only) and escapes the title itself
        cols.append({"kind": kind, "url": url, "svg": Markup(qr_svg(url, f"{words[kind]}: {url}")), "caption": caption})
    more = words["more"].format(n=len(poster.steps) - chosen.steps) if len(poster.steps) > chosen.steps else None
    zalo_help = words["zalo_help"].format(name=poster.zalo_name)
    return {"poster": poster, "fit": chosen, "p": words, "steps": poster.steps[: chosen.steps], "more": more, "columns": cols, "zalo_help": zalo_help}


def lookup(request: web.Request, who: Principal) -> tuple[str, str | None, str | None]:
    """(group, guide, problem key): the path's group and guide, checked against the content and against
    the wards `who` is bound to (a ward's official prints only the ward's own groups' posters)."""
    kb = request.app[DASHBOARD].kb
    group, guide = request.match_info["group"], request.match_info.get("guide")
    if group not in kb.working_groups:
        return group, guide, "unknown_group"
    if not who.sees_ward(kb.working_groups[group].ward):
        return group, guide, "not_your_ward"
    if guide is not None and guide != "menu" and guide not in kb.guides:
        return group, guide, "unknown_guide"
    return group, guide, None


def status_of(problem: str) -> int:
    return 403 if problem == "not_your_ward" else 404


def posters_for(request: web.Request, group: str, guides: list[str]) -> list[Poster]:
    kb, lang = request.app[DASHBOARD].kb, request_lang(request)
    return [make_poster(kb, group, g, bot_username(request), poster_web_url(request), lang, zalo_name(request)) for g in guides]


def posters_page(request: web.Request, group: str, posters: list[Poster], fits: list[Fit], pdf_href: str) -> web.Response:
    lang = request_lang(request)
    return render(
        request, "posters.html", current="groups", g=GROUPS[lang], group=request.app[DASHBOARD].kb.working_groups[group],
        username=bot_username(request), web_public=web_is_public(request), zalo_name=zalo_name(request),
        pdf_href=pdf_href, sheets=[poster_view(p, f) for p, f in zip(posters, fits)],
    )


def not_found(request: web.Request, key: str) -> web.Response:
    return render(request, "error.html", status=status_of(key), message=GROUPS[request_lang(request)][key])


@require("viewer", page=True)
async def poster(request: web.Request, who: Principal) -> web.Response:
    group, guide, problem = lookup(request, who)
    if problem or guide == "menu":
        return not_found(request, problem or "unknown_guide")
    posters = posters_for(request, group, [guide])
    fits = await request.app[DASHBOARD].in_thread(lambda: [fit(p) for p in posters])
    return posters_page(request, group, posters, fits, f"{PATH}/{group}/poster/{guide}.pdf?lang={request_lang(request)}")


@require("viewer", page=True)
async def posters(request: web.Request, who: Principal) -> web.Response:
    group, _, problem = lookup(request, who)
    if problem:
        return not_found(request, problem)
    every = posters_for(request, group, list(request.app[DASHBOARD].kb.guides))

    def fits() -> list[Fit]:
        pdf = new_pdf()
        return [fit(p, pdf) for p in every]

    fitted = await request.app[DASHBOARD].in_thread(fits)
    return posters_page(request, group, every, fitted, f"{PATH}/{group}/posters.pdf?lang={request_lang(request)}")


async def pdf_response(request: web.Request, group: str, guides: list[str], name: str) -> web.Response:
    dash, kept = request.app[DASHBOARD], request.app[PDFS]
    posters = posters_for(request, group, guides)
    key = (dash.kb.version, group, tuple(guides), bot_username(request), poster_web_url(request), zalo_name(request), request_lang(request))
    body = kept.get(key)
    if body is None:
        body = await dash.in_thread(lambda: posters_pdf(posters))
        kept[key] = body
        while len(kept) > PDFS_KEPT:
            kept.pop(next(iter(kept)))
    filename = re.sub(r"[^A-Za-z0-9_.-]", "", name)
    return secure(web.Response(body=body, content_type="application/pdf", headers={"Content-Disposition": f'attachment; filename="{filename}"'}))


@require("viewer")
async def poster_pdf(request: web.Request, who: Principal) -> web.Response:
    group, guide, problem = lookup(request, who)
    if problem or guide == "menu":
        return json_error(GROUPS["en"][problem or "unknown_guide"], status_of(problem or ""))
    return await pdf_response(request, group, [guide], f"digiguide-poster-{group}-{guide}.pdf")


@require("viewer")
async def all_pdf(request: web.Request, who: Principal) -> web.Response:
    group, _, problem = lookup(request, who)
    if problem:
        return json_error(GROUPS["en"][problem], status_of(problem))
    return await pdf_response(request, group, list(request.app[DASHBOARD].kb.guides), f"digiguide-posters-{group}.pdf")


@require("viewer")
async def qr(request: web.Request, who: Principal) -> web.Response:
    dash = request.app[DASHBOARD]
    group, target, problem = lookup(request, who)
    kind = request.query.get("kind", "telegram")
    if problem:
        return json_error(GROUPS["en"][problem], status_of(problem))
    if kind not in QR_KINDS:
        return json_error("kind must be telegram or web", 400)
    username = bot_username(request)
    if kind == "telegram" and not username:
        return json_error("the Telegram bot's username is not set (TELEGRAM_BOT_USERNAME)", 404)
    if kind == "web" and not web_is_public(request):
        return json_error("the web chat's public address is not set (DIGIGUIDE_PUBLIC_URL): a phone could not open this code", 404)
    wanted = "menu" if target == "menu" else f"g-{target}"
    row = next(r for r in group_rows(dash.kb, group, username, poster_web_url(request), "vi") if r.target == wanted)
    body = await dash.in_thread(lambda: qr_png(row.telegram if kind == "telegram" else row.web))
    filename = f"digiguide-qr-{group}-{target}-{kind}.png"
    return secure(web.Response(body=body, content_type="image/png", headers={"Content-Disposition": f'inline; filename="{filename}"'}))


@lru_cache(maxsize=4)
def _font_file(path: Path) -> tuple[bytes, str]:
    body = path.read_bytes()
    return body, '"' + hashlib.sha256(body).hexdigest()[:16] + '"'


@require("viewer")
async def font(request: web.Request, who: Principal) -> web.Response:
    """The posters' font (behind the login like everything here; kept a day in the browser's cache)."""
    path = {p.name: p for p in FONTS.values()}.get(request.match_info["font"] + ".ttf")
    if path is None:
        raise secure(web.HTTPNotFound())
    body, etag = _font_file(path)
    headers = {"ETag": etag, "Cache-Control": "private, max-age=86400"}
    if etag in request.headers.get("If-None-Match", ""):
        return secure(web.Response(status=304, headers=headers), private=False)
    return secure(web.Response(body=body, content_type="font/ttf", headers=headers), private=False)


def setup(app: web.Application) -> None:
    """Before the dashboard's catch-all; the .pdf routes before the pages they would otherwise match."""
    app[PDFS] = {}
    r = app.router
    r.add_get(PATH + "/fonts/{font}.ttf", font)
    r.add_get(PATH + "/{group}/poster/{guide}.pdf", poster_pdf)
    r.add_get(PATH + "/{group}/poster/{guide}", poster)
    r.add_get(PATH + "/{group}/posters.pdf", all_pdf)
    r.add_get(PATH + "/{group}/posters", posters)
    r.add_get(PATH + "/{group}/qr/{guide}.png", qr)
