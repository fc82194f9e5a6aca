"""Numbers, dates, titles and CSV as officials read them: "1.234" and "12,5 %" in Vietnamese, "1,234" and
"12.5 %" in English, dates as dd/mm/yyyy; titles of topics and entries without their emoji. No web code:
the templates get these as filters (analytics.web.templating), the CSV exports call them directly.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from typing import Any

from bot.knowledge import KnowledgeBase

from .store import VIETNAM

SHEET_TEXT = 90  # characters of a citizen's question on the printed weekly summary


def percent(value: float | None, lang: str) -> str:
    if value is None:
        return "–"
    text = f"{value * 100:.1f}"
    return (text.replace(".", ",") if lang == "vi" else text) + " %"


def number(value: int | None, lang: str) -> str:
    if value is None:
        return "–"
    text = f"{value:,}"
    return text.replace(",", ".") if lang == "vi" else text


def clip(text: str, limit: int = SHEET_TEXT) -> str:
    """Citizens can type 2000 characters; the printed page keeps one line or two of each."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def vn_date(day: str | dt.date, lang: str) -> str:
    d = dt.date.fromisoformat(day) if isinstance(day, str) else day
    return d.strftime("%d/%m/%Y") if lang == "vi" else d.isoformat()


def vn_time(ts: float | None, lang: str) -> str:
    """A moment (a Unix timestamp) in Vietnam time, to the minute: "20/03/2025 10:15", "2025-03-20 10:15"; "–" for none."""
    if ts is None:
        return "–"
    moment = dt.datetime.fromtimestamp(ts, VIETNAM)
    return moment.strftime("%d/%m/%Y %H:%M" if lang == "vi" else "%Y-%m-%d %H:%M")


def plain(text: str) -> str:
    """A title without its leading emoji (canvas text and some office PCs have no emoji font)."""
    return re.sub(r"^[^\w(]+", "", text).strip() or text


def topic_title(kb: KnowledgeBase, topic: str, lang: str) -> str:
    return plain(kb.topics[topic].title.get(lang)) if topic in kb.topics else topic


def entry_title(kb: KnowledgeBase, entry_id: str | None, lang: str) -> str | None:
    """The title of an FAQ entry or a guide; None for no id or one the content does not have."""
    if not entry_id:
        return None
    if entry_id in kb.faqs:
        return kb.faqs[entry_id].title(lang)
    if entry_id in kb.guides:
        return kb.guides[entry_id].title.get(lang)
    return None


_FORMULA = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: Any) -> Any:
    """Citizens' text must not become a spreadsheet formula when an official opens the file."""
    if isinstance(value, str) and value.startswith(_FORMULA):
        return "'" + value
    return "" if value is None else value


def to_csv(header: list[str], rows: list[list[Any]]) -> bytes:
    """UTF-8 with a BOM, so that Excel shows Vietnamese; CRLF line ends; every cell through csv_cell."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows([[csv_cell(v) for v in row] for row in rows])
    return ("\ufeff" + out.getvalue()).encode("utf-8")
