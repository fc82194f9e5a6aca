"""Content checks that need the whole knowledge base: rendered sizes and near-duplicate phrasings."""

from __future__ import annotations

from rapidfuzz import fuzz, process

from .knowledge import TELEGRAM_LIMIT, ZALO_LIMIT, KnowledgeBase
from .present import all_replies
from .replies import numbered_text
from .text import Normaliser
from .yamlsource import Problem

NEAR_DUPLICATE = 96.0
"""token_sort similarity (0-100) above which two phrasings of different entries are the same question."""


def _split_location(location: str) -> tuple[str, int]:
    file, _, line = location.rpartition(":")
    return (file, int(line)) if line.isdigit() else (location, 1)


def check_rendered_sizes(kb: KnowledgeBase) -> list[Problem]:
    """Every reply must fit one Telegram message (4096) and, with its buttons as a numbered list, one
    Zalo message (2000): a reply that would be split mid-answer is a content problem, not a channel one."""
    problems = []
    for location, what, reply in all_replies(kb):
        file, line = _split_location(location)
        if len(reply.text) > TELEGRAM_LIMIT:
            problems.append(Problem(file, line, f"{what} is {len(reply.text)} characters, over Telegram's {TELEGRAM_LIMIT}"))
        numbered = numbered_text(reply, kb.message("numbered_hint", "vi"))
        if len(numbered) > ZALO_LIMIT:
            problems.append(Problem(file, line, f"{what} is {len(numbered)} characters with its options, over Zalo's {ZALO_LIMIT}; shorten it"))
    return problems


def check_near_duplicates(kb: KnowledgeBase) -> list[Problem]:
    """Phrasings of different entries that normalise to (almost) the same words make the matcher abstain
    between them forever; report each offending phrasing once, at its own line."""
    normaliser = Normaliser(kb.lexicon)
    rows = []  # (family, entry label, file, line, phrasing, normalised)
    for entry in [*kb.faqs.values(), *kb.guides.values()]:
        file, entry_line = _split_location(entry.location)
        for k, (_, q) in enumerate(entry.questions.all()):
            rows.append((entry.family, entry.id, file, entry.questions.line_of(k, entry_line), q, " ".join(sorted(normaliser.tokens(q)))))
    for item in kb.out_of_scope:
        file, line = _split_location(item.location)
        for q in item.questions:
            rows.append((item.family, f"out-of-scope {item.id}", file, line, q, " ".join(sorted(normaliser.tokens(q)))))
    texts = [r[5] for r in rows]
    scores = process.cdist(texts, texts, scorer=fuzz.ratio, score_cutoff=NEAR_DUPLICATE, workers=-1)
    clashes: dict[int, list[int]] = {}
    for i, j in zip(*scores.nonzero()):
        if i < j and rows[i][0] != rows[j][0] and texts[i]:
            clashes.setdefault(int(j), []).append(int(i))
    problems = []
    for j, others in sorted(clashes.items()):
        family, label, file, line, phrasing, _ = rows[j]
        first = rows[others[0]]
        more = f" and {len(others) - 1} more" if len(others) > 1 else ""
        problems.append(
            Problem(file, line, f"phrasing {phrasing!r} of {label!r} is nearly the same as {first[4]!r} of {first[1]!r} ({first[2]}:{first[3]}){more}; reword one of them")
        )
    return problems
