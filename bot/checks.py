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
    between them forever; report each such pair once."""
    normaliser = Normaliser(kb.lexicon)
    rows = []  # (family, entry id, location, phrasing, normalised)
    for faq in kb.faqs.values():
        for _, q in faq.questions.all():
            rows.append((faq.family, faq.id, faq.location, q, " ".join(sorted(normaliser.tokens(q)))))
    for guide in kb.guides.values():
        for _, q in guide.questions.all():
            rows.append((guide.family, guide.id, guide.location, q, " ".join(sorted(normaliser.tokens(q)))))
    for item in kb.out_of_scope:
        for q in item.questions:
            rows.append((item.family, f"out-of-scope {item.id}", item.location, q, " ".join(sorted(normaliser.tokens(q)))))
    texts = [r[4] for r in rows]
    scores = process.cdist(texts, texts, scorer=fuzz.ratio, score_cutoff=NEAR_DUPLICATE, workers=-1)
    problems = []
    for i, j in zip(*scores.nonzero()):
        if i >= j or rows[i][0] == rows[j][0] or not texts[i]:
            continue
        file, line = _split_location(rows[j][2])
        problems.append(
            Problem(file, line, f"phrasing {rows[j][3]!r} of {rows[j][1]!r} is nearly the same as {rows[i][3]!r} of {rows[i][1]!r} ({rows[i][2]}); reword one of them")
        )
    return problems
