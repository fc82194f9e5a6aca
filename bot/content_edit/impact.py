"""What a draft changes for the labelled questions: "12 questions that went to A now go to B".

An edit to one entry moves other questions too (a new phrasing draws questions from its neighbours, a
reworded answer changes the IDF of its words), so before publishing every labelled question of
tests/data (bot.evaluation.labelled_sets, WITHOUT the sealed part: it is only ever reported by the
benchmark, never shown to anyone who could write content for it) runs through the live matcher and the
draft's. The questions whose route changed (decision and entry) are grouped by old and new route, each
group counting how many got better or worse against the question's label, with a few examples.

Cost: the live side's routes are kept per content version, so only the draft is matched (its matcher,
about 0.6 s to build, then ~1,100 questions in about 0.6 s on the 2-core machine; see the README's
figures); the draft's matcher stays cached for "try a question" and for the publish that follows.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from dataclasses import asdict, dataclass, field
from typing import Any, Iterable

from ..evaluation import Item, labelled_sets
from ..knowledge import KnowledgeBase
from ..matcher import Match, Matcher
from .trial import matcher_for

EXAMPLES = 3
_routes: OrderedDict[str, list[tuple[Route, int]]] = OrderedDict()
_guard = threading.Lock()


@dataclass(frozen=True)
class Route:
    """Where a question goes: the decision and the entry answered (or suggested first)."""

    decision: str  # answer | suggest | fallback | smalltalk | clarify
    entry: str | None = None

    @property
    def label(self) -> str:
        return f"{self.entry} ({self.decision})" if self.entry else self.decision


@dataclass(frozen=True)
class Example:
    q: str
    set: str
    expect: list[str]
    lang: str


@dataclass(frozen=True)
class Move:
    before: Route
    after: Route
    count: int
    better: int  # questions whose outcome improved against their label (e.g. suggested -> answered right)
    worse: int  # ... and got worse (e.g. answered right -> answered wrong or suggested)
    examples: list[Example]

    @property
    def summary(self) -> str:
        n = self.count
        return f"{n} question{'' if n == 1 else 's'} that went to {self.before.label} now go{'es' if n == 1 else ''} to {self.after.label}"


@dataclass(frozen=True)
class Impact:
    questions: int  # labelled questions run (sealed part excluded)
    changed: int
    better: int
    worse: int
    moves: list[Move]
    seconds: float
    base_version: str
    draft_version: str
    sets: dict[str, int] = field(default_factory=dict)  # questions per labelled set

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        for move, raw in zip(self.moves, out["moves"]):
            raw["summary"] = move.summary
            raw["before"]["label"] = move.before.label
            raw["after"]["label"] = move.after.label
        return out


def editor_items() -> list[tuple[str, Item]]:
    """Every labelled question an editor may see: all sets, minus the sealed part."""
    out = []
    for name, items in labelled_sets().items():
        if "sealed" in name:
            continue
        out.extend((name, item) for item in items if item.split != "sealed")
    return out


def route(match: Match) -> Route:
    entry = match.entry.id if match.kind in ("answer", "suggest") and match.entry is not None else None
    return Route(match.kind, entry)


def rank(item: Item, match: Match) -> int:
    """How good the outcome is for this question's label (higher is better), as bot.evaluation counts."""
    kind = match.kind
    if item.type == "smalltalk":
        return int(kind == "smalltalk" and f"@{match.intent}" in item.expect)
    if item.type == "vague":
        return {"answer": 0, "clarify": 2, "smalltalk": 2}.get(kind, 1)
    if item.type in ("near", "far"):
        return {"answer": 0, "suggest": 1}.get(kind, 2)
    if "@ambiguous" in item.expect:
        return 0 if kind == "answer" else 1
    if kind == "answer":
        return 3 if match.entry is not None and match.entry.id in item.expect else 0
    if kind == "suggest" and {s.entry.id for s in match.alternatives[:3]} & set(item.expect):
        return 2
    return 1


def _run(matcher: Matcher, items: Iterable[tuple[str, Item]]) -> list[tuple[Route, int]]:
    out = []
    for _name, item in items:
        match = matcher.search(item.q)
        out.append((route(match), rank(item, match)))
    return out


def _base_routes(kb: KnowledgeBase, matcher: Matcher, items: list[tuple[str, Item]]) -> list[tuple[Route, int]]:
    with _guard:
        found = _routes.get(kb.version)
    if found is not None and len(found) == len(items):
        return found
    routes = _run(matcher, items)
    with _guard:
        _routes[kb.version] = routes
        while len(_routes) > 2:
            _routes.popitem(last=False)
    return routes


def warm(kb: KnowledgeBase, matcher: Matcher | None = None) -> None:
    """Compute the live content's routes ahead of the first impact (after start and after each reload,
    off the event loop), so an editor's first impact costs only the draft's side."""
    _base_routes(kb, matcher or matcher_for(kb), editor_items())


def impact(current_kb: KnowledgeBase, draft_kb: KnowledgeBase, current_matcher: Matcher | None = None, draft_matcher: Matcher | None = None) -> Impact:
    """The labelled questions whose route differs between the live content and the draft, grouped."""
    started = time.perf_counter()
    items = editor_items()
    base = _base_routes(current_kb, current_matcher or matcher_for(current_kb), items)
    new = _run(draft_matcher or matcher_for(draft_kb), items)
    groups: dict[tuple[Route, Route], list[int]] = {}
    for i, ((old_route, _), (new_route, _)) in enumerate(zip(base, new)):
        if old_route != new_route:
            groups.setdefault((old_route, new_route), []).append(i)
    changed_better = changed_worse = 0
    moves = []
    for (old_route, new_route), indexes in groups.items():
        better = sum(1 for i in indexes if new[i][1] > base[i][1])
        worse = sum(1 for i in indexes if new[i][1] < base[i][1])
        changed_better += better
        changed_worse += worse
        examples = [Example(items[i][1].q, items[i][0], list(items[i][1].expect), items[i][1].lang) for i in indexes[:EXAMPLES]]
        moves.append(Move(old_route, new_route, len(indexes), better, worse, examples))
    moves.sort(key=lambda m: (-m.worse, -m.count, m.before.label, m.after.label))
    sets: dict[str, int] = {}
    for name, _ in items:
        sets[name] = sets.get(name, 0) + 1
    return Impact(
        questions=len(items),
        changed=sum(m.count for m in moves),
        better=changed_better,
        worse=changed_worse,
        moves=moves,
        seconds=round(time.perf_counter() - started, 3),
        base_version=current_kb.version,
        draft_version=draft_kb.version,
        sets=sets,
    )
