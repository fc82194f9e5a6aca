"""Choose the matcher's thresholds on the dev halves of the labelled sets; report them on every set's parts.

Calibration sees only `bot.evaluation.calibration_items()`: the dev half of tests/data/devset.jsonl and the
dev part of the real-wording set (never a held-out or sealed question). Objective: the most questions
answered correctly (coverage) while answered precision stays at or above the target, out-of-scope false
accepts stay low and no vague message is answered. Ranking is computed once per weight setting; the decision
zones are replayed for every threshold combination (cheap). Prints the best setting; copy it into
`bot.matcher.Thresholds` by hand, so a change of thresholds is always a reviewed commit.

    .venv/bin/python bench/calibrate.py [--target 0.98]
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.evaluation import calibration_items, evaluate, labelled_sets  # noqa: E402
from bot.knowledge import load_knowledge  # noqa: E402
from bot.matcher import Match, Matcher, Thresholds  # noqa: E402
from bot.text import clean, fold  # noqa: E402


# cov_q, cov_d, token_sort, answer coverage
WEIGHTS = [(0.6, 0.2, 0.2, 0.0), (0.5, 0.2, 0.2, 0.1), (0.5, 0.15, 0.15, 0.2), (0.45, 0.1, 0.2, 0.25), (0.5, 0.1, 0.3, 0.1), (0.4, 0.15, 0.25, 0.2)]
STORY_WEIGHTS = [0.2, 0.35, 0.5, 1.0]
SUBJECT_PENALTIES = [0.2, 0.35, 0.5]


def replayer(matcher: Matcher, items):
    """Rank every question once; return a search function that only re-decides."""
    cache = {}
    for item in items:
        text = clean(item.q)
        folded = fold(text)
        lang = matcher.detect_language(text)
        intent = matcher.detect_smalltalk(folded) if folded else None
        vague = bool(folded) and not intent and matcher.is_vague(text)
        ranked = None
        if folded and not intent and not vague:
            ranked = matcher.rank(text)
        cache[item.q] = (lang, folded, intent, vague, ranked)

    def make(thresholds: Thresholds):
        def search(q: str) -> Match:
            lang, folded, intent, vague, ranked = cache[q]
            if not folded:
                return Match("fallback", lang=lang)
            if intent:
                return Match("smalltalk", intent=intent, score=1.0, lang=lang)
            if vague:
                return Match("clarify", lang=lang)
            candidates, reading, unknown, subjects = ranked
            return matcher.decide(candidates, reading, unknown, lang=lang, normalised=folded, thresholds=thresholds, subjects=subjects)

        return search

    return make


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", type=float, default=0.98, help="minimum answered precision on dev")
    parser.add_argument("--max-false-accepts", type=float, default=0.03)
    args = parser.parse_args()

    kb = load_knowledge()
    dev = calibration_items()
    best = None
    for weights, story, penalty in itertools.product(WEIGHTS, STORY_WEIGHTS, SUBJECT_PENALTIES):
        base = Thresholds(weights=weights, story_weight=story, subject_penalty=penalty)
        matcher = Matcher(kb, base)
        make = replayer(matcher, dev)
        for answer, margin, unknown in itertools.product(
            [x / 100 for x in range(36, 86, 2)], [0.0, 0.02, 0.04, 0.06, 0.08, 0.1, 0.12], [0.2, 0.25, 0.34, 0.5, 1.01]
        ):
            th = replace(base, answer=answer, margin=margin, suggest=0.34, unknown_share=unknown)
            report = evaluate(make(th), dev)
            if report.precision < args.target or report.false_accept_rate > args.max_false_accepts or report.counts["vague_answered"]:
                continue
            key = (report.coverage, report.precision, -report.false_accept_rate)
            if best is None or key > best[0]:
                best = (key, th)
    if best is None:
        sys.exit("no setting reaches the target precision")
    th = best[1]
    # The suggest floor: lowest value that keeps far-out-of-scope questions out of the suggestions.
    matcher = Matcher(kb, th)
    make = replayer(matcher, dev)
    for floor in [x / 100 for x in range(20, 50, 2)]:
        report = evaluate(make(replace(th, suggest=floor)), dev)
        if report.counts["oos_suggested"] <= 0.25 * report.oos:
            th = replace(th, suggest=floor)
            break
    print("chosen:", th)
    print("calibration items", json.dumps(evaluate(Matcher(kb, th).search, dev).summary()))
    for name, items in labelled_sets().items():
        for part in sorted({i.split for i in items}):
            if part != "dev":  # reported, never chosen on
                print(f"{name} {part}", json.dumps(evaluate(Matcher(kb, th).search, [i for i in items if i.split == part]).summary()))


if __name__ == "__main__":
    main()
