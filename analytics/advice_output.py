"""The outreach suggestions and the before/after figures as rows: `python -m analytics outreach` prints them
as a table, CSV or JSON, and the dashboard's outreach page offers the same CSV.

    outreach_data(db, kb, ward, until, lang)    -> {"advice": ..., "effects": [...], reasons and verdicts worded}
    as_table(data) / as_csv(data)
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from typing import Any

from bot import storage

from . import advice, campaigns
from .advice_text import reason, verdict_text, ward_label
from .outreach_report import _columns

SUGGESTION_COLUMNS = ["rank", "ward", "kind", "guide_id", "topic", "entry_id", "step", "count", "base", "rate", "province_rate", "ratio", "reason"]
EFFECT_COLUMNS = ["ward", "guide_id", "day", "what", "measure", "step", "days", "before", "after",
                  "ward_before_rate", "ward_after_rate", "province_before_rate", "province_after_rate",
                  "ward_before_started", "ward_after_started", "ward_before_new", "ward_after_new",
                  "ward_before_tickets", "ward_after_tickets", "verdict"]


def outreach_data(db: storage.Database, kb: Any, ward: str | None = None, until: dt.date | None = None, lang: str = "vi") -> dict[str, Any]:
    """Everything the page and the CLI show for `ward` (None: the province), plain and worded."""
    found = advice.advise(db, kb, ward, until)
    effects = campaigns.effects(db, kb, ward)
    plain = found.to_plain()
    for key in ("suggestions", "wards"):
        for row, s in zip(plain[key], getattr(found, key)):
            row["reason"] = reason(kb, s, found.days, lang)
    plain["scope"] = ward_label(kb, ward, lang)
    plain["effects"] = []
    for e in effects:
        row = e.to_plain()
        row["verdict_text"] = verdict_text(e, lang)
        plain["effects"].append(row)
    return plain


def _rate(figures: dict[str, Any], measure: str) -> float | None:
    return figures["dropoff_rate"] if measure == "dropoff" else figures["completion_rate"]


def suggestion_rows(data: dict[str, Any]) -> list[list[Any]]:
    rows = data["suggestions"] + data["wards"]
    return [[i, s["ward"] or "", s["kind"], s["guide_id"] or "", s["topic"] or "", s["entry_id"] or "", s["step"], s["count"], s["base"],
             round(s["rate"], 4), round(s["province_rate"], 4), None if s["ratio"] is None else f"{s['ratio']:.2f}", s["reason"]]
            for i, s in enumerate(rows, 1)]


def effect_rows(data: dict[str, Any]) -> list[list[Any]]:
    out = []
    for e in data["effects"]:
        m = e["measure"]
        rates = [_rate(e[k], m) for k in ("ward_before", "ward_after", "province_before", "province_after")]
        out.append([
            e["ward"], e["guide_id"], e["day"], "; ".join(e["what"]), m, e["step"], e["days"], " – ".join(e["before"]), " – ".join(e["after"]),
            *(None if r is None else round(r, 4) for r in rates),
            e["ward_before"]["started"], e["ward_after"]["started"], e["ward_before"]["new_citizens"], e["ward_after"]["new_citizens"],
            e["ward_before"]["tickets"], e["ward_after"]["tickets"], e["verdict_text"],
        ])
    return out


def as_csv(data: dict[str, Any]) -> str:
    """Two blocks, the suggestions then the before/after figures, each with its header row."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(SUGGESTION_COLUMNS)
    writer.writerows(suggestion_rows(data))
    writer.writerow([])
    writer.writerow(EFFECT_COLUMNS)
    writer.writerows(effect_rows(data))
    return buffer.getvalue()


def as_table(data: dict[str, Any]) -> str:
    out = [f"Outreach suggestions for {data['scope']}, {data['since'] or '-'} to {data['until'] or '-'} ({data['days']} days)", *data["notes"], ""]
    shown = ["rank", "kind", "guide_id", "step", "count", "base", "rate", "province_rate", "ratio"]
    for title, rows in (("== What to explain next ==", data["suggestions"]), ("== Each ward's first suggestion ==", data["wards"])):
        if data["ward"] is not None and rows is data["wards"]:
            continue
        out.append(title)
        if not rows:
            out += ["(nothing stands out)", ""]
            continue
        table = [dict(zip(SUGGESTION_COLUMNS, r)) for r in suggestion_rows({"suggestions": rows, "wards": []})]
        columns = (["ward"] if rows is data["wards"] else []) + shown
        out += _columns(columns, [[r[c] for c in columns] for r in table])
        out += [f"  {r['rank']}. {r['reason']}" for r in table] + [""]
    out.append("== Before and after the outreach recorded on the page ==")
    effects = effect_rows(data)
    if effects:
        columns = ["ward", "guide_id", "day", "measure", "step", "ward_before_rate", "ward_after_rate", "province_before_rate", "province_after_rate", "verdict"]
        out += _columns(columns, [[dict(zip(EFFECT_COLUMNS, r))[c] for c in columns] for r in effects])
    else:
        out.append("(no posters or sheets recorded yet)")
    return "\n".join(out) + "\n"
