"""Whether it worked: a ward's outreach on a guide (its posters or meeting sheet produced from the
"Gợi ý tuyên truyền" page, table outreach_actions) and that guide's figures in the ward before and after,
with the province as the baseline.

    record(db, ward, guide, groups=[...], what="posters", step=3, actor="an")   -> rows added
    effects(db, kb, ward)                                                        -> [Effect], latest first

Definitions
- A campaign is a run of actions on one (ward, guide) with no gap over PERIOD_DAYS days; its day is the
  run's first action day D. Only each pair's latest campaign is shown.
- Comparable periods: after = D .. D+L-1 and before = D-L .. D-1, with L = PERIOD_DAYS or fewer when the
  data ends sooner (the last day with data). Under MIN_DAYS days after D: too early to tell.
- Per period, from daily_guide joined with daily_users (the ward of the citizen's first day in the period
  on that guide): started = citizens on any page of the guide; finished = those who reached its wrap-up
  page (after the last step); new citizens = those whose first day ever on the guide is in the period
  (the ward of that day); at the targeted step s: reached = furthest page >= s, stopped = furthest == s;
  tickets = tickets of the guide's topic created in the period in the ward (the ward chosen for the ticket).
  The province: the same over every citizen.
- The verdict compares the ward's two periods on the targeted step's drop-off (or, with no step, the
  completion rate) with a two-proportion z-test: too small to tell when either period has fewer than
  MIN_PEOPLE citizens behind the rate; "no clear change" when |z| < Z_CRITICAL.
"""

from __future__ import annotations

import datetime as dt
import math
import time
from collections import defaultdict
from dataclasses import dataclass
from typing import Any, Iterable

from bot import storage

from .advice import Z_CRITICAL, day_bounds
from .report import to_plain
from .store import local_day

PERIOD_DAYS = 28
MIN_DAYS = 7
MIN_PEOPLE = 20
WHAT = ("posters", "sheet")


# -- recording ----------------------------------------------------------------------------------------------------

def record(db: storage.Database, ward: str, guide_id: str, groups: Iterable[str] = ("",), what: str = "posters",
           step: int | None = None, actor: str = "", ts: float | None = None) -> int:
    """Record that `what` of the guide was produced for the ward's `groups` ("" = the ward as a whole);
    the same thing twice on one day stays one row. Returns the rows added."""
    if what not in WHAT:
        raise ValueError(f"what must be one of {', '.join(WHAT)}")
    ts = time.time() if ts is None else ts
    rows = [(ts, local_day(ts), ward, group, guide_id, step, what, actor) for group in groups]
    added = 0
    with db.transaction():
        for row in rows:
            cur = db.execute(
                """insert into outreach_actions (ts, day, ward, group_id, guide_id, step, what, actor)
                   values (?, ?, ?, ?, ?, ?, ?, ?) on conflict (day, ward, group_id, guide_id, what) do nothing""", row)
            added += max(cur.rowcount, 0)
    return added


@dataclass(frozen=True)
class Action:
    day: str
    ward: str
    group_id: str
    guide_id: str
    step: int | None
    what: str
    actor: str


def actions(db: storage.Database, ward: str | None = None) -> list[Action]:
    """Every recorded action (of one ward), oldest first."""
    where, params = ("where ward = ?", [ward]) if ward is not None else ("", [])
    sql = f"select day, ward, group_id, guide_id, step, what, actor from outreach_actions {where} order by day, id"
    return [Action(*row) for row in db.execute(sql, params).fetchall()]


# -- the figures -------------------------------------------------------------------------------------------------

@dataclass
class Figures:
    """One guide, one scope (a ward or the province), one period."""

    started: int = 0
    finished: int = 0
    new_citizens: int = 0
    reached_step: int = 0
    stopped_step: int = 0
    tickets: int = 0

    @property
    def completion_rate(self) -> float | None:
        return self.finished / self.started if self.started else None

    @property
    def dropoff_rate(self) -> float | None:
        return self.stopped_step / self.reached_step if self.reached_step else None


@dataclass
class Effect:
    ward: str
    guide_id: str
    step: int | None  # the targeted step (the latest action's that named one)
    day: str  # the campaign's first action day
    what: list[str]  # e.g. ["posters: tdp-phuc-yen-5", "sheet"]
    days: int  # length of each period
    before: tuple[str, str]
    after: tuple[str, str]
    ward_before: Figures
    ward_after: Figures
    province_before: Figures
    province_after: Figures
    measure: str  # "dropoff" (at the step) or "completion"
    verdict: str  # too_early | too_small | better | worse | no_change
    z: float | None

    def to_plain(self) -> dict[str, Any]:
        out = to_plain(self)
        for key in ("ward_before", "ward_after", "province_before", "province_after"):
            figures = getattr(self, key)
            out[key].update(completion_rate=figures.completion_rate, dropoff_rate=figures.dropoff_rate)
        return out


def campaigns(rows: list[Action]) -> dict[tuple[str, str], list[Action]]:
    """(ward, guide) -> the actions of its latest campaign (a run with no gap over PERIOD_DAYS days)."""
    by_pair: dict[tuple[str, str], list[Action]] = defaultdict(list)
    for a in rows:
        run = by_pair[(a.ward, a.guide_id)]
        if run and (dt.date.fromisoformat(a.day) - dt.date.fromisoformat(run[-1].day)).days > PERIOD_DAYS:
            run.clear()
        run.append(a)
    return dict(by_pair)


def periods(day: str, last: str) -> tuple[int, tuple[str, str], tuple[str, str]]:
    """(L, before, after) for a campaign that began on `day`, with data up to `last`."""
    d, end = dt.date.fromisoformat(day), dt.date.fromisoformat(last)
    length = max(0, min(PERIOD_DAYS, (end - d).days + 1))
    span = max(length, 1)
    before = ((d - dt.timedelta(days=span)).isoformat(), (d - dt.timedelta(days=1)).isoformat())
    after = (d.isoformat(), (d + dt.timedelta(days=span - 1)).isoformat())
    return length, before, after


def guide_figures(db: storage.Database, guide_id: str, pages: int, ward: str, step: int | None,
                  before: tuple[str, str], after: tuple[str, str], topic: str | None) -> dict[str, Figures]:
    """{"ward_before", "ward_after", "province_before", "province_after"}: the guide's figures (module docstring)."""
    sql = """select substr(min(case when g.day between ? and ? then g.day || u.ward end), 11),
                    max(case when g.day between ? and ? then g.step end),
                    substr(min(case when g.day between ? and ? then g.day || u.ward end), 11),
                    max(case when g.day between ? and ? then g.step end),
                    min(g.day), substr(min(g.day || u.ward), 11)
             from daily_guide g join daily_users u on u.day = g.day and u.user = g.user
             where g.guide_id = ? and g.day <= ? group by g.user"""
    params = [*before, *before, *after, *after, guide_id, after[1]]
    out = {k: Figures() for k in ("ward_before", "ward_after", "province_before", "province_after")}
    for ward_b, far_b, ward_a, far_a, first_day, first_ward in db.execute(sql, params).fetchall():
        for label, (lo, hi), w, far in (("before", before, ward_b, far_b), ("after", after, ward_a, far_a)):
            scopes = ["province"] + (["ward"] if w == ward else [])
            for scope in scopes:
                f = out[f"{scope}_{label}"]
                if far is not None:
                    f.started += 1
                    f.finished += far >= pages + 1
                    if step is not None and far >= step:
                        f.reached_step += 1
                        f.stopped_step += far == step
                if lo <= first_day <= hi and (scope == "province" or first_ward == ward):
                    f.new_citizens += 1
    for label, span in (("before", before), ("after", after)):
        lo, hi = day_bounds(*span)
        for scope, extra, params in (("province", "", []), ("ward", " and ward = ?", [ward])):
            out[f"{scope}_{label}"].tickets = int(db.scalar(
                f"select count(*) from tickets where coalesce(topic, '') = ? and created_at >= ? and created_at < ?{extra}",
                [topic or "", lo, hi, *params]) or 0)
    return out


def two_proportions(x1: int, n1: int, x2: int, n2: int) -> float | None:
    """z of the difference p2 - p1 (pooled), None when it cannot be computed."""
    if not n1 or not n2:
        return None
    pooled = (x1 + x2) / (n1 + n2)
    if pooled in (0, 1):
        return 0.0
    return (x2 / n2 - x1 / n1) / math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))


def verdict(before: Figures, after: Figures, step: int | None, length: int) -> tuple[str, str, float | None]:
    """(measure, verdict, z) for the ward's two periods (module docstring)."""
    measure = "dropoff" if step is not None else "completion"
    if length < MIN_DAYS:
        return measure, "too_early", None
    if measure == "dropoff":
        x1, n1, x2, n2 = before.stopped_step, before.reached_step, after.stopped_step, after.reached_step
    else:
        x1, n1, x2, n2 = before.finished, before.started, after.finished, after.started
    if min(n1, n2) < MIN_PEOPLE:
        return measure, "too_small", None
    z = two_proportions(x1, n1, x2, n2)
    if z is None or abs(z) < Z_CRITICAL:
        return measure, "no_change", z
    better = z < 0 if measure == "dropoff" else z > 0
    return measure, "better" if better else "worse", z


def effects(db: storage.Database, kb: Any, ward: str | None = None) -> list[Effect]:
    """The latest campaign of each (ward, guide) with its before/after figures, latest first."""
    last = db.scalar("select max(day) from daily")
    out = []
    for (w, guide_id), run in campaigns(actions(db, ward)).items():
        guide = kb.guides.get(guide_id)
        if guide is None or last is None:
            continue
        day = run[0].day
        step = next((a.step for a in reversed(run) if a.step is not None), None)
        length, before, after = periods(day, last)
        figures = guide_figures(db, guide_id, len(guide.steps), w, step, before, after, guide.topic)
        measure, said, z = verdict(figures["ward_before"], figures["ward_after"], step, length)
        what = sorted({f"{a.what}: {a.group_id}" if a.group_id else a.what for a in run})
        out.append(Effect(w, guide_id, step, day, what, length, before, after, measure=measure, verdict=said, z=z, **figures))
    return sorted(out, key=lambda e: (e.day, e.ward, e.guide_id), reverse=True)
