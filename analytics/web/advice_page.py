"""The outreach advice page ("Gợi ý tuyên truyền"): what each ward's working groups should explain next, and
whether what they did helped (analytics/advice.py, campaigns.py; templates/advice.html, advice_sheet.html).

    GET  /dashboard/outreach?ward=W            the ward's suggestions and before/after (no ward: the province)
    GET  /dashboard/outreach/export.csv?ward=W the same as CSV (advice_output.as_csv)
    GET  /dashboard/outreach/sheet?ward=W&guide=G[&step=S]   the one-page A4 "this week, explain..." sheet
    POST /dashboard/outreach/produce           csrf, ward, guide, step, what=posters|sheet[, group]: records the
                                               action (campaigns.record), then 303 to the group's poster or the sheet

Producing goes through a POST so that only what an official chose to print from this page counts as
outreach (looking at the groups page does not). A ward-bound official sees and produces only for their own
wards (GETs are scoped by auth.scope_wards, the POST is checked here). The data comes through the
dashboard's result cache, keyed by ward and language; recording an action drops the cached pages.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from .. import advice_output, campaigns
from ..advice_text import common_problems
from .auth import Principal, require
from .common import DASHBOARD, PREFIX, Dashboard, NavPage, request_lang, secure
from ..formatting import entry_title, topic_title
from .outreach import PATH as GROUPS_PATH, ward_name, ward_options
from .templating import render
from .words import ADVICE, LANGS

PATH = PREFIX + "/outreach"


def ward_of(request: web.Request) -> str | None:
    """The ward asked for (None: the province); ValueError for one the content does not have."""
    ward = (request.query.get("ward") or "").strip() or None
    if ward is not None and ward not in request.app[DASHBOARD].kb.ward_ids:
        raise ValueError(ward)
    return ward


async def data_for(dash: Dashboard, ward: str | None, lang: str) -> dict[str, Any]:
    kb = dash.kb
    return await dash.cache.get(("outreach", ward, lang, kb.version), lambda: dash.query(lambda db: advice_output.outreach_data(db, kb, ward, lang=lang)))


def suggestion_view(request: web.Request, s: dict[str, Any], lang: str) -> dict[str, Any]:
    """A suggestion as the template draws it: its guide's title and the groups that can print its posters."""
    kb = request.app[DASHBOARD].kb
    groups = [g for g in kb.working_groups.values() if s["ward"] is not None and (g.ward or "") == s["ward"]]
    return {
        **s, "kind_label": ADVICE[lang][f"kind_{s['kind']}"], "guide_title": entry_title(kb, s["guide_id"], lang) if s["guide_id"] else None,
        "topic_title": topic_title(kb, s["topic"], lang) if s["topic"] else "", "groups": [(g.id, g.name.get(lang)) for g in groups],
        "ward_href": f"{PATH}?{urlencode({'ward': s['ward'], 'lang': lang})}" if s["ward"] else None,
        "ward_name": ward_name(request.app[DASHBOARD].kb, s["ward"], lang) if s["ward"] else "",
    }


def effect_view(request: web.Request, e: dict[str, Any], lang: str) -> dict[str, Any]:
    kb, a = request.app[DASHBOARD].kb, ADVICE[lang]
    measure = a["m_dropoff"].format(step=e["step"]) if e["measure"] == "dropoff" else a["m_completion"]
    rate = "dropoff_rate" if e["measure"] == "dropoff" else "completion_rate"
    return {**e, "guide_title": entry_title(kb, e["guide_id"], lang) or e["guide_id"], "measure_label": measure,
            "rates": [e[k][rate] for k in ("ward_before", "ward_after", "province_before", "province_after")],
            "ward_name": ward_name(kb, e["ward"], lang)}


@require("viewer", page=True)
async def page(request: web.Request, who: Principal) -> web.Response:
    dash, lang = request.app[DASHBOARD], request_lang(request)
    try:
        ward = ward_of(request)
    except ValueError:
        return render(request, "error.html", status=404, message=ADVICE[lang]["unknown_ward"])
    if ward is None and who.wards:  # a ward-bound official has no province page: their first ward's
        raise secure(web.HTTPFound(f"{PATH}?{urlencode({'ward': sorted(who.wards)[0], 'lang': lang})}"))
    data = await data_for(dash, ward, lang)
    return render(
        request, "advice.html", current="outreach", a=ADVICE[lang], data=data, ward=ward, weeks=max(1, data["days"] // 7),
        wards=ward_options(dash.kb, who, ward, lang, ADVICE[lang]["province"]), csv_href=f"{PATH}/export.csv?{urlencode({'ward': ward or '', 'lang': lang})}",
        suggestions=[suggestion_view(request, s, lang) for s in data["suggestions"]],
        by_ward=[suggestion_view(request, s, lang) for s in data["wards"]],
        effects=[effect_view(request, e, lang) for e in data["effects"]],
    )


@require("viewer")
async def export(request: web.Request, who: Principal) -> web.Response:
    dash, lang = request.app[DASHBOARD], request_lang(request)
    try:
        ward = ward_of(request)
    except ValueError:
        return secure(web.Response(text="unknown ward", status=404))
    body = advice_output.as_csv(await data_for(dash, ward, lang)).encode("utf-8-sig")
    name = f"digiguide-outreach-{ward or 'province'}.csv"
    return secure(web.Response(body=body, content_type="text/csv", charset="utf-8", headers={"Content-Disposition": f'attachment; filename="{name}"'}))


def _step(value: str | None, guide: Any) -> int | None:
    """A step number of the guide, or None (absent, not a number, out of range)."""
    try:
        step = int(value or "")
    except ValueError:
        return None
    return step if 1 <= step <= len(guide.steps) else None


@require("viewer", page=True)
async def sheet(request: web.Request, who: Principal) -> web.Response:
    dash, lang = request.app[DASHBOARD], request_lang(request)
    a, kb = ADVICE[lang], dash.kb
    try:
        ward = ward_of(request)
    except ValueError:
        return render(request, "error.html", status=404, message=a["unknown_ward"])
    guide = kb.guides.get(request.query.get("guide", ""))
    if guide is None:
        return render(request, "error.html", status=404, message=a["unknown_guide"])
    data = await data_for(dash, ward, lang)
    step = _step(request.query.get("step"), guide)
    reasons = [s["reason"] for s in data["suggestions"] + data["wards"] if s["guide_id"] == guide.id][:3]
    topic = kb.topics.get(guide.topic)
    return render(
        request, "advice_sheet.html", current="outreach", a=a, guide=guide, title=guide.title.get(lang), step=step,
        steps=[s.get(lang) for s in guide.steps], problems=common_problems(kb, guide.id, lang), reasons=reasons,
        scope=data["scope"], since=data["since"], until=data["until"], help=topic.help.get(lang) if topic and topic.help else None,
        back_href=f"{PATH}?{urlencode({'ward': ward or '', 'lang': lang})}",
    )


@require("viewer", csrf=True)
async def produce(request: web.Request, who: Principal) -> web.Response:
    dash, lang = request.app[DASHBOARD], request_lang(request)
    a, kb = ADVICE[lang], dash.kb
    form = await request.post()
    ward, guide_id, what = str(form.get("ward", "")), str(form.get("guide", "")), str(form.get("what", ""))
    group = str(form.get("group", ""))
    guide = kb.guides.get(guide_id)
    if ward not in kb.ward_ids:
        return render(request, "error.html", status=404, message=a["unknown_ward"])
    if not who.sees_ward(ward):
        return render(request, "error.html", status=403, message=a["not_your_ward"])
    if guide is None:
        return render(request, "error.html", status=404, message=a["unknown_guide"])
    if what not in campaigns.WHAT or (what == "posters" and (group not in kb.working_groups or (kb.working_groups[group].ward or "") != ward)):
        return render(request, "error.html", status=400, message=a["no_groups"])
    step = _step(str(form.get("step", "")), guide)
    await dash.query(lambda db: campaigns.record(db, ward, guide.id, [group if what == "posters" else ""], what, step, who.actor))
    dash.cache.invalidate(lambda key: isinstance(key, tuple) and key[:1] == ("outreach",))
    if what == "posters":
        target = f"{GROUPS_PATH}/{group}/poster/{guide.id}?{urlencode({'lang': lang})}"
    else:
        target = f"{PATH}/sheet?{urlencode({'ward': ward, 'guide': guide.id, 'step': step or '', 'lang': lang})}"
    raise secure(web.HTTPSeeOther(target))


def setup(app: web.Application, dash: Dashboard) -> None:
    """Before the dashboard's catch-all, which would otherwise answer these paths."""
    dash.nav.append(NavPage("outreach", "/outreach", {lang: ADVICE[lang]["nav"] for lang in LANGS}))
    app.router.add_get(PATH, page)
    app.router.add_get(PATH + "/export.csv", export)
    app.router.add_get(PATH + "/sheet", sheet)
    app.router.add_post(PATH + "/produce", produce)
