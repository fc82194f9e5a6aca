"""From the unanswered inbox (or a poorly rated answer) to a pre-filled editor.

"Add as a phrasing of entry X": X as it is, with the question appended to its phrasings in the question's
language. "New entry from this question": a new FAQ entry whose first phrasing is the question, its topic
the one of the matcher's best candidate (else the topic of the services the question names), and an id
made from the topic and the question's first words. What is left to write (the answer, more phrasings,
sources) is what `bot check` then asks for. From a ticket an official answered (the dashboard's "Hỏi đáp"),
the official's answer is the new entry's answer, for the editor to shorten and source. The inbox's questions are stored redacted (an identifying
number became a label such as <phone>): the editor rewords such a question before saving.

Marking the inbox cluster resolved belongs to whoever publishes (analytics.report.mark_cluster with the
cluster's keys and the entry id, once `publish` returned): an unpublished draft resolves nothing.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass
from typing import Any

from ..knowledge import MAX_ID_LEN, KnowledgeBase
from ..matcher import Matcher
from ..text import clean, fold
from .repo import ContentRepo
from .trial import matcher_for

_ID_WORDS = 5


@dataclass(frozen=True)
class Prefill:
    """What the editor opens: `entry` (YAML keys) for `kind`/`id`, new or existing."""

    kind: str
    id: str
    new: bool
    lang: str  # the language the question was added in
    topic: str | None
    entry: dict[str, Any]
    question: str
    answer: str | None = None  # an official's answer to the question (a ticket's), when there is one

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _slug(topic: str | None, text: str) -> str:
    words = [w for w in fold(text).split() if w.isalnum()][:_ID_WORDS]
    base = "-".join([topic or "faq", *words])[:MAX_ID_LEN].strip("-")
    return base or "faq-new"


def _unique(repo: ContentRepo, base: str) -> str:
    if not repo.exists(base):
        return base
    for n in range(2, 1000):
        candidate = f"{base[: MAX_ID_LEN - len(str(n)) - 1].rstrip('-')}-{n}"
        if not repo.exists(candidate):
            return candidate
    raise ValueError("no free id")


def _language(matcher: Matcher, text: str) -> str:
    return "en" if matcher.detect_language(text) == "en" else "vi"


def guess_topic(kb: KnowledgeBase, matcher: Matcher, text: str) -> str | None:
    """The topic of the best candidate entry, else of the services and documents the question names."""
    match = matcher.search(text)
    for scored in match.alternatives:
        topic = getattr(scored.entry, "topic", None)
        if topic:
            return topic
    return kb.topic_of_subjects(match.subjects)


def draft_from_question(repo: ContentRepo, kb: KnowledgeBase, question: str, entry_id: str | None = None, kind: str = "faq", matcher: Matcher | None = None,
                        answer: str | None = None) -> Prefill:
    """The editor's starting point for an inbox question (see the module docstring). `kb` is the live
    content (its matcher guesses the topic and the language); NotFound when `entry_id` does not exist.
    `answer`: what an official replied to it (a ticket's), the new entry's answer in the question's
    language; an existing entry keeps its own (the editor sees the official's next to it)."""
    text = clean(question).strip()
    if not text:
        raise ValueError("the question is empty")
    matcher = matcher or matcher_for(kb)
    lang = _language(matcher, text)
    if entry_id is not None:
        entry = repo.get(kind, entry_id)
        questions = entry.get("questions") if isinstance(entry.get("questions"), dict) else {}
        phrasings = list(questions.get(lang) or [])
        if fold(text) not in {fold(str(p)) for p in phrasings}:
            phrasings.append(text)
        entry["questions"] = {**questions, lang: phrasings}
        return Prefill(kind, entry_id, False, lang, entry.get("topic"), entry, text, answer)
    topic = guess_topic(kb, matcher, text)
    new_id = _unique(repo, _slug(topic, text))
    entry = {
        "id": new_id,
        "topic": topic or "",
        "questions": {"vi": [text] if lang == "vi" else [], "en": [text] if lang == "en" else []},
        "answer": {"vi": answer if answer and lang == "vi" else "", "en": answer if answer and lang == "en" else ""},
        "sources": [],
        "reviewed": dt.date.today().isoformat(),
    }
    return Prefill("faq", new_id, True, lang, topic, entry, text, answer)
