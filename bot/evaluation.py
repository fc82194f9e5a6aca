"""Score a matcher on the labelled development set (tests/data/devset.jsonl).

Shared by the regression test, the calibration script and the benchmark so that all three count the
same way. The set is split by paraphrase group: even groups calibrate, odd groups are held out.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

from .matcher import Match

DEVSET = Path(__file__).resolve().parent.parent / "tests" / "data" / "devset.jsonl"


@dataclass(frozen=True)
class Item:
    q: str
    expect: tuple[str, ...]
    type: str  # in | near | far | smalltalk
    lang: str
    group: int

    @property
    def split(self) -> str:
        return "dev" if self.group % 2 == 0 else "test"


def load_devset(path: Path = DEVSET) -> list[Item]:
    items = []
    with path.open(encoding="utf-8") as f:
        for line in f:
            if line.strip():
                d = json.loads(line)
                items.append(Item(d["q"], tuple(d["expect"]), d["type"], d["lang"], int(d["group"])))
    return items


@dataclass
class Report:
    counts: Counter = field(default_factory=Counter)
    errors: list[tuple[str, str, str]] = field(default_factory=list)  # (question, expected, got)

    def add(self, outcome: str, item: Item | None = None, got: str = "") -> None:
        self.counts[outcome] += 1
        if item is not None and outcome in ("in_wrong", "oos_answered", "ambiguous_answered", "smalltalk_wrong", "lang_wrong"):
            self.errors.append((item.q, ",".join(item.expect) or item.type, got))

    # in-scope outcomes
    @property
    def answered(self) -> int:
        c = self.counts
        return c["in_correct"] + c["in_wrong"] + c["oos_answered"] + c["ambiguous_answered"]

    @property
    def precision(self) -> float:
        return self.counts["in_correct"] / self.answered if self.answered else 1.0

    @property
    def in_scope(self) -> int:
        c = self.counts
        return c["in_correct"] + c["in_wrong"] + c["in_suggest_hit"] + c["in_suggest_miss"] + c["in_declined"]

    @property
    def coverage(self) -> float:
        return self.counts["in_correct"] / self.in_scope if self.in_scope else 0.0

    @property
    def oos(self) -> int:
        c = self.counts
        return c["oos_answered"] + c["oos_suggested"] + c["oos_declined"]

    @property
    def false_accept_rate(self) -> float:
        return self.counts["oos_answered"] / self.oos if self.oos else 0.0

    def summary(self) -> dict:
        c = self.counts
        return {
            "in_scope": self.in_scope,
            "answered_correct": c["in_correct"],
            "answered_wrong": c["in_wrong"],
            "suggested_hit": c["in_suggest_hit"],
            "suggested_miss": c["in_suggest_miss"],
            "declined": c["in_declined"],
            "out_of_scope": self.oos,
            "oos_false_accepts": c["oos_answered"],
            "oos_suggested": c["oos_suggested"],
            "ambiguous_answered": c["ambiguous_answered"],
            "ambiguous_total": c["ambiguous_answered"] + c["ambiguous_ok"],
            "smalltalk_correct": c["smalltalk_ok"],
            "smalltalk_total": c["smalltalk_ok"] + c["smalltalk_wrong"],
            "language_correct": c["lang_ok"],
            "language_total": c["lang_ok"] + c["lang_wrong"],
            "answered_precision": round(self.precision, 4),
            "coverage": round(self.coverage, 4),
            "oos_false_accept_rate": round(self.false_accept_rate, 4),
        }


def _ids(match: Match) -> tuple[str | None, list[str]]:
    top = match.entry.id if match.entry is not None else None
    return top, [s.entry.id for s in match.alternatives[:3]]


def evaluate(search: Callable[[str], Match], items: Iterable[Item]) -> Report:
    report = Report()
    for item in items:
        match = search(item.q)
        top, alternatives = _ids(match)
        got = f"{match.kind}:{top or match.intent or ''}:{match.score:.2f}"
        if item.type == "smalltalk":
            ok = match.kind == "smalltalk" and f"@{match.intent}" in item.expect
            report.add("smalltalk_ok" if ok else "smalltalk_wrong", item, got)
            continue
        if match.lang is not None or item.lang == "en":
            report.add("lang_ok" if (match.lang or "vi") == item.lang else "lang_wrong", item, got)
        if item.type in ("near", "far"):
            outcome = {"answer": "oos_answered", "suggest": "oos_suggested"}.get(match.kind, "oos_declined")
            report.add(outcome, item, got)
        elif "@ambiguous" in item.expect:
            report.add("ambiguous_answered" if match.kind == "answer" else "ambiguous_ok", item, got)
        elif match.kind == "answer":
            report.add("in_correct" if top in item.expect else "in_wrong", item, got)
        elif match.kind == "suggest":
            report.add("in_suggest_hit" if set(alternatives) & set(item.expect) else "in_suggest_miss", item, got)
        else:
            report.add("in_declined", item, got)
    return report
