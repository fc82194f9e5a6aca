"""Which answers need an official's review, and why: the content's own dates, nothing fetched.

An answer goes stale when the fact it states stops holding, and nobody is told. The content records what
is needed to notice (docs/content.md, "Keeping answers fresh"):

- `valid_until`: the last day a fact holds (a fee reduction "until 31/12/2026"). Past it: "expired";
  within EXPIRY_NOTICE_DAYS of it: "expires" (review before, not after).
- `reviewed`: when an editor last checked the entry. Longer ago than locality.yaml `review_months`: overdue.
- sources written as {url, checked, fingerprint}: an editor re-read that page on `checked`. When another
  entry's editor re-read a source *after* this entry was reviewed, the page may have changed under this
  entry: it is listed, unless both recorded the same fingerprint (then the page did not change). This is a
  hint that someone looked, not proof of a change.
- an operator's fetch job may pass `fingerprints` (url -> fingerprint of the page text today, made with
  `fingerprint()`): a source whose recorded fingerprint differs is listed as changed. Sources with no
  recorded fingerprint cannot be compared and are not listed.

What is not detected: a page that changed while nobody re-read it and no fetch job ran; a legal text
amended without any of the entry's sources changing (legal_basis is shown to the reviewer, not checked).

Pure functions of the knowledge base and a day, so the CLI, the dashboard and the tests agree. `asked`
(how often each entry was answered lately) comes from analytics.freshness_data; it orders the list, most
asked first: the stale answer that most people read is the one to fix first.
"""

from __future__ import annotations

import calendar
import datetime as dt
import hashlib
import json
import re
from dataclasses import dataclass
from typing import Iterable, Mapping

from .knowledge import FAQ, Guide, KnowledgeBase

EXPIRY_NOTICE_DAYS = 30
# Severity of each reason: among entries asked as often, the higher comes first.
EXPIRED, CHANGED, EXPIRES, RECHECKED, OVERDUE = 5, 4, 3, 2, 1


@dataclass(frozen=True)
class ReviewItem:
    """One entry that needs review: what it is, why (most severe reason first), who answers for it."""

    entry_id: str
    kind: str  # "faq" | "guide"
    title: str  # Vietnamese title, as editors see it
    topic: str
    reasons: tuple[str, ...]
    owner: str | None  # office id (content/locality.yaml offices)
    asked: int  # answers given from this entry in the period the caller counted (0 without counts)
    severity: int  # of the most severe reason
    reviewed: dt.date
    location: str  # file:line of the entry

    @property
    def key(self) -> str:
        """"faq:<id>" or "guide:<id>": FAQ entries and guides may share an id (see `asked`)."""
        return f"{self.kind}:{self.entry_id}"


def fingerprint(text: str) -> str:
    """What a fetch job should record for a page: a hash of its text with whitespace collapsed, so that
    re-wrapped HTML does not count as a change. Any stable string works; this one is the documented one."""
    return "sha256:" + hashlib.sha256(re.sub(r"\s+", " ", text).strip().encode()).hexdigest()[:32]


def add_months(day: dt.date, months: int) -> dt.date:
    """The same day `months` later (the month's last day when it is shorter: 31/1 + 1 month = 28 or 29/2)."""
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    return day.replace(year=year, month=month, day=min(day.day, calendar.monthrange(year, month)[1]))


def months_between(earlier: dt.date, later: dt.date) -> int:
    """Whole months from `earlier` to `later`."""
    months = (later.year - earlier.year) * 12 + later.month - earlier.month
    return months - (later.day < earlier.day)


@dataclass(frozen=True)
class _Check:
    """A dated reading of a source page, by the editor of one entry."""

    day: dt.date
    fingerprint: str | None
    entry: str  # "faq:<id>"


def _entries(kb: KnowledgeBase) -> list[tuple[str, FAQ | Guide]]:
    return [("faq", e) for e in kb.faqs.values()] + [("guide", e) for e in kb.guides.values()]


def _checks_by_url(entries: Iterable[tuple[str, FAQ | Guide]]) -> dict[str, list[_Check]]:
    out: dict[str, list[_Check]] = {}
    for kind, entry in entries:
        for check in entry.source_checks:
            out.setdefault(check.url, []).append(_Check(check.checked, check.fingerprint, f"{kind}:{entry.id}"))
    return out


def _newest(checks: Iterable[_Check]) -> _Check | None:
    return max(checks, key=lambda c: (c.day, c.entry), default=None)


def _rechecked(url: str, key: str, seen_on: dt.date, mine: _Check | None, checks: list[_Check]) -> tuple[int, str] | None:
    """Another entry's editor read the page after this entry was reviewed: its facts may have moved."""
    newest = _newest(c for c in checks if c.entry != key and c.day > seen_on)
    if newest is None:
        return None
    mine_print = mine.fingerprint if mine else None
    if mine_print and newest.fingerprint == mine_print:
        return None  # the same page as when this entry was reviewed
    if mine_print and newest.fingerprint:
        return CHANGED, f"source {url} changed: re-checked {newest.day} for {newest.entry}, after this entry's review ({seen_on})"
    return RECHECKED, f"source {url} re-checked {newest.day} for {newest.entry}, after this entry's review ({seen_on})"


def _fetched(url: str, key: str, checks: list[_Check], fetched: str) -> tuple[int, str] | None:
    """The operator's fetch found a different page than the one recorded: this entry's own fingerprint,
    else the newest any entry recorded. Without any recorded fingerprint there is nothing to compare."""
    known = [c for c in checks if c.fingerprint]
    recorded = _newest([c for c in known if c.entry == key] or known)
    if recorded is None or recorded.fingerprint == fetched:
        return None
    return CHANGED, f"source {url} changed: the page differs from the fingerprint recorded {recorded.day}"


def _source_reasons(
    key: str,
    entry: FAQ | Guide,
    checks: Mapping[str, list[_Check]],
    fingerprints: Mapping[str, str] | None,
) -> list[tuple[int, str]]:
    out = []
    for url in dict.fromkeys(entry.sources):
        of_url = checks.get(url, [])
        mine = _newest(c for c in of_url if c.entry == key)
        seen_on = max(entry.reviewed, mine.day) if mine else entry.reviewed
        out.append(_rechecked(url, key, seen_on, mine, of_url))
        if fingerprints and url in fingerprints:
            out.append(_fetched(url, key, of_url, fingerprints[url]))
    return [reason for reason in out if reason is not None]


def _reasons(
    key: str,
    entry: FAQ | Guide,
    today: dt.date,
    months: int,
    checks: Mapping[str, list[_Check]],
    fingerprints: Mapping[str, str] | None,
) -> list[tuple[int, str]]:
    out = []
    if entry.valid_until is not None:
        if entry.valid_until < today:
            out.append((EXPIRED, f"expired {entry.valid_until}"))
        elif (entry.valid_until - today).days <= EXPIRY_NOTICE_DAYS:
            out.append((EXPIRES, f"expires {entry.valid_until}, in {(entry.valid_until - today).days} day(s)"))
    out += _source_reasons(key, entry, checks, fingerprints)
    if today > add_months(entry.reviewed, months):
        out.append((OVERDUE, f"reviewed {entry.reviewed}, {months_between(entry.reviewed, today)} months ago (review every {months})"))
    return sorted(out, key=lambda r: -r[0])


def review_list(
    kb: KnowledgeBase,
    today: dt.date,
    asked: Mapping[str, int] | None = None,
    fingerprints: Mapping[str, str] | None = None,
) -> list[ReviewItem]:
    """Every FAQ entry and guide that needs review on `today`, most asked first, then most severe, then the
    longest unreviewed.

    `asked`: answers per entry over a recent period, keyed "faq:<id>" / "guide:<id>"
    (analytics.freshness_data.asked_counts). `fingerprints`: url -> fingerprint of each page as an
    operator's fetch job found it (see the module docstring)."""
    asked = asked or {}
    entries = _entries(kb)
    checks = _checks_by_url(entries)
    items = []
    for kind, entry in entries:
        key = f"{kind}:{entry.id}"
        reasons = _reasons(key, entry, today, kb.review_months, checks, fingerprints)
        if not reasons:
            continue
        title = entry.title.vi if kind == "guide" else entry.title("vi")
        items.append(
            ReviewItem(
                entry_id=entry.id,
                kind=kind,
                title=title,
                topic=entry.topic,
                reasons=tuple(text for _, text in reasons),
                owner=entry.owner,
                asked=int(asked.get(key, 0)),
                severity=reasons[0][0],
                reviewed=entry.reviewed,
                location=entry.location,
            )
        )
    return sorted(items, key=lambda i: (-i.asked, -i.severity, i.reviewed, i.key))


def read_fingerprints(text: str) -> dict[str, str]:
    """The `--sources FILE` of `bot check --stale`: a JSON object url -> fingerprint, as an operator's
    fetch job wrote it. Raises ValueError saying what is wrong."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not JSON ({exc})") from None
    if not isinstance(data, dict) or not all(isinstance(k, str) and isinstance(v, str) and v for k, v in data.items()):
        raise ValueError('must be a JSON object of "url": "fingerprint" strings')
    return data


def review_table(items: list[ReviewItem], entries: int, today: dt.date, months: int, asked_note: str) -> str:
    """The review list as plain text: one row per entry, each further reason on its own line."""
    scope = f"on {today} (review every {months} months; {asked_note})"
    if not items:
        return f"No entry needs review {scope}"
    head = f"{len(items)} of {entries} entries need review {scope}"
    width = max(len("entry"), *(len(i.key) for i in items))
    owner_width = max(len("owner"), *(len(i.owner or "-") for i in items))
    row = f"{{:<{width}}}  {{:>5}}  {{:<{owner_width}}}  {{}}"
    lines = [head, "", row.format("entry", "asked", "owner", "why")]
    for item in items:
        lines.append(row.format(item.key, item.asked, item.owner or "-", item.reasons[0]))
        lines += [row.format("", "", "", reason) for reason in item.reasons[1:]]
    return "\n".join(lines)
