"""Score a matcher on the labelled question sets in tests/data/.

Shared by the regression tests, the calibration script and the benchmark so that all three count the
same way. Two kinds of sets:

- `devset.jsonl` and `heldout.jsonl`: short paraphrases written for the first content (by people who
  saw the plan of entry ids). The devset is split by paraphrase group: even groups calibrate ("dev"),
  odd groups are held out ("test"); the whole heldout set is "test".
- `real/dev.jsonl` and `real/sealed.jsonl`: questions in citizens' own words, each taken from a public
  page (its URL is in `source`), split by page. The "dev" part may feed calibration and content; the
  "sealed" part never does: it is only reported (bench/bench_matcher.py).

Types: `in` (expect lists the entries that answer it, or "@ambiguous"), `near`/`far` (out of scope:
nothing may be answered), `smalltalk` (expect "@intent"), `vague` (asks nothing specific: the bot must
ask back, never answer).
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

from .matcher import Match

DATA = Path(__file__).resolve().parent.parent / "tests" / "data"
DEVSET = DATA / "devset.jsonl"
HELDOUT = DATA / "heldout.jsonl"
REAL_DEV = DATA / "real" / "dev.jsonl"
REAL_SEALED = DATA / "real" / "sealed.jsonl"


@dataclass(frozen=True)
class Item:
    q: str
    expect: tuple[str, ...]
    type: str  # in | near | far | smalltalk | vague
    lang: str
    group: int = 0
    part: str = ""  # dev | test | sealed; derived from the group when the file does not say
    source: str = ""

    @property
    def split(self) -> str:
        if self.part:
            return self.part
        return "dev" if self.group % 2 == 0 else "test"


def load_set(path: Path, part: str = "") -> list[Item]:
    """Items of one JSON-lines file. `part` forces the part of every item (e.g. "test" for a set that
    is held out as a whole)."""
    items = []
    with Path(path).open(encoding="utf-8") as f:
        for line in f:
            if line.strip():
                d = json.loads(line)
                items.append(
                    Item(
                        d["q"], tuple(d.get("expect") or ()), d["type"], d["lang"], int(d.get("group", 0)),
                        part or d.get("part", ""), d.get("source", ""),
                    )
                )
    return items


def load_devset(path: Path = DEVSET) -> list[Item]:
    return load_set(path)


def labelled_sets() -> dict[str, list[Item]]:
    """Every labelled set that exists, by name, in the order the benchmark reports them."""
    sets = {"devset": load_set(DEVSET)}
    if HELDOUT.exists():
        sets["heldout"] = load_set(HELDOUT, part="test")
    for name, path in (("real-dev", REAL_DEV), ("real-sealed", REAL_SEALED)):
        if path.exists():
            sets[name] = load_set(path)
    return sets


def calibration_items() -> list[Item]:
    """What calibration may see: the dev halves. Never the held-out or the sealed questions."""
    sets = labelled_sets()
    items = [i for i in sets["devset"] if i.split == "dev"]
    items += [i for i in sets.get("real-dev", []) if i.split == "dev"]
    return items


ERROR_OUTCOMES = ("in_wrong", "oos_answered", "ambiguous_answered", "smalltalk_wrong", "lang_wrong", "vague_answered")


@dataclass
class Report:
    counts: Counter = field(default_factory=Counter)
    errors: list[tuple[str, str, str]] = field(default_factory=list)  # (question, expected, got)

    def add(self, outcome: str, item: Item | None = None, got: str = "") -> None:
        self.counts[outcome] += 1
        if item is not None and outcome in ERROR_OUTCOMES:
            self.errors.append((item.q, ",".join(item.expect) or item.type, got))

    # in-scope outcomes
    @property
    def answered(self) -> int:
        c = self.counts
        return c["in_correct"] + c["in_wrong"] + c["oos_answered"] + c["ambiguous_answered"] + c["vague_answered"]

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
    def helped(self) -> float:
        """Right entry answered outright or among the suggestions."""
        c = self.counts
        return (c["in_correct"] + c["in_suggest_hit"]) / self.in_scope if self.in_scope else 0.0

    @property
    def oos(self) -> int:
        c = self.counts
        return c["oos_answered"] + c["oos_suggested"] + c["oos_declined"]

    @property
    def false_accept_rate(self) -> float:
        return self.counts["oos_answered"] / self.oos if self.oos else 0.0

    @property
    def vague(self) -> int:
        c = self.counts
        return c["vague_answered"] + c["vague_clarified"] + c["vague_other"]

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
            "vague_total": self.vague,
            "vague_answered": c["vague_answered"],
            "vague_clarified": c["vague_clarified"],
            "language_correct": c["lang_ok"],
            "language_total": c["lang_ok"] + c["lang_wrong"],
            "answered_precision": round(self.precision, 4),
            "coverage": round(self.coverage, 4),
            "helped": round(self.helped, 4),
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
        if item.type == "vague":
            outcome = {"answer": "vague_answered", "clarify": "vague_clarified", "smalltalk": "vague_clarified"}.get(match.kind, "vague_other")
            report.add(outcome, item, got)
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
