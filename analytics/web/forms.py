"""The dashboard's filter form (the overview's and the weekly summary's: channel, topic, ward, and dates or
a week) as data; templates/_parts.html's `filter_form` draws it. The menus offer what the data has, plus
the value asked for (a link may name a ward with no data in the range), plus "not set" (NONE_VALUE).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bot.knowledge import KnowledgeBase

from .common import CHANNEL_LABELS, NONE_VALUE
from ..formatting import plain
from .words import T


@dataclass(frozen=True)
class Option:
    value: str
    text: str
    selected: bool


@dataclass(frozen=True)
class Select:
    name: str
    label: str
    options: list[Option]


@dataclass(frozen=True)
class FilterForm:
    action: str
    week: str | None = None  # the weekly summary's week picker (value), None: no picker
    dates: list[tuple[str, str, str]] = field(default_factory=list)  # (name, label, value)
    selects: list[Select] = field(default_factory=list)
    hidden: list[tuple[str, str]] = field(default_factory=list)  # (name, value): carried, not shown


def _select(name: str, label: str, current: str | None, options: list[tuple[str, str]]) -> Select:
    return Select(name, label, [Option(v, text, v == (current or "")) for v, text in options])


def filter_form(kb: KnowledgeBase, lang: str, q: Any, options: dict, action: str, *, with_dates: bool, week: str | None = None) -> FilterForm:
    """The form for query `q`, its menus from `options` (common.filter_options)."""
    t = T[lang]
    channels = sorted(set(options["channels"]) | ({q.get("channel")} - {None, "", NONE_VALUE}))
    wards = sorted(set(options["wards"]) | ({q.get("ward")} - {None, "", NONE_VALUE}))
    dates = [(key, t[key], q.get(key, "")) for key in ("since", "until")] if with_dates else []
    selects = [
        _select("channel", t["channel"], q.get("channel"), [("", t["all"])] + [(c, CHANNEL_LABELS.get(c, c)) for c in channels]),
        _select("topic", t["topic"], q.get("topic"), [("", t["all"])] + [(tp.id, plain(tp.title.get(lang))) for tp in kb.topics.values()] + [(NONE_VALUE, t["none_topic"])]),
        _select("ward", t["ward"], q.get("ward"), [("", t["all"])] + [(w, w) for w in wards] + [(NONE_VALUE, t["none_ward"])]),
    ]
    hidden = ([("source", q.get("source"))] if q.get("source") else []) + ([("ignored", "1")] if q.get("ignored") == "1" else [])
    return FilterForm(action, week, dates, selects, hidden)
