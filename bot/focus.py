"""Find what a long message asks: the question among the story around it.

Citizens often write letters: who they are, what happened, and only at the end "vậy tôi phải làm thế
nào?". Scored as one bag of words, the story drowns the question (and its many words the matcher has
never seen make it look out of scope). This module splits a message into sentences, and long sentences
into clauses, and marks the parts that ask: a question mark, a question word ("thế nào", "ở đâu",
"được không", "how"), or a request ("cho hỏi", "nhờ hướng dẫn"). The matcher then weighs the asking
parts fully and the story lightly (`story_weight`), so the story still helps (it often names the service)
without deciding the answer. A short message is one part and is scored exactly as before.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable

from .text import fold

KEEP_HEAD, KEEP_TAIL = 300, 900
"""Of a very long letter the matcher reads the first KEEP_HEAD and the last KEEP_TAIL characters: who
writes and what they ask (the middle is the story), and the cost of a reading stays bounded."""

LETTER_WORDS = 20
"""A message of fewer words is read whole, as one question: splitting pays only when there is a story."""

LONG_SENTENCE_WORDS = 18
"""A sentence longer than this is split at commas too: letters often run on without a full stop."""

# Sentence ends: . ! ? ; … followed by a space, or a line break (a dot inside "1.000.000", "v2.1" or
# "dichvucong.gov.vn" has no space after it, so it is not an end).
_SENTENCE_END = re.compile(r"(?<=[.!?;…])\s+|(?<=[?!;…])(?=\S)|\n+")
_CLAUSE_END = re.compile(r"\s*,\s*|\s+-\s+")

# Folded question and request markers. Word boundaries matter: "gi" must not match inside "giay"; and
# folding merges words ("nhờ" and "nhỏ" both fold to "nho", so it is no marker; "hướng dẫn" is one only
# as a request: "xin hướng dẫn", "hướng dẫn giúp", not "tôi được hướng dẫn").
_ASKS = re.compile(
    r"(?<![a-z0-9])(?:"
    r"the nao|nhu nao|lam sao|lam the nao|ra sao|the sao|o dau|cho nao|bao lau|bao nhieu|bao gio|khi nao|"
    r"duoc khong|dc khong|duoc ko|dc ko|dc k|duoc k|co duoc|co phai|phai khong|hay khong|co khong|"
    r"khong a|ko a|chua a|gi|nao|cach(?! day| ly)|"
    r"(?<!xa )(?<!co )(?<!quoc )(?<!dai )(?<!hiep )hoi(?! dong| vien| nghi)|tu van|giup|chi dan|"
    r"(?:xin |nho |can )huong dan|huong dan (?:giup|cho|toi|em|minh|voi|cach|lam)|"
    r"how|what|where|when|which|why|can i|could i|should i|do i|is it|is there|are there|please|help"
    r")(?![a-z0-9])"
)
# Openers after which the question follows ("Cho tôi hỏi, ...", "Nhờ anh chị hướng dẫn: ...").
_OPENER = re.compile(r"(?<![a-z0-9])(?:(?<!xa )hoi(?! dong)|tu van|huong dan|giup|xin|help|please|question)(?![a-z0-9])")


@dataclass(frozen=True)
class Part:
    """A piece of the message and how much it counts (1.0: it asks; less: it tells the story)."""

    text: str
    weight: float


def sentences(text: str) -> list[str]:
    """Sentences of a message, in order, without empty ones."""
    return [s.strip() for s in _SENTENCE_END.split(text) if s and s.strip(" .,;!?…")]


# "không" / "chưa" ask at the end of a clause ("có phải đổi không", "đã xong chưa"), not inside it
# ("tôi không biết").
_ASKS_AT_END = re.compile(r"(?<![a-z0-9])(?:khong|ko|chua)\s*$")


def _asks(raw: str) -> bool:
    folded = fold(raw)
    return raw.rstrip().endswith("?") or bool(_ASKS.search(folded)) or bool(_ASKS_AT_END.search(folded))


def split_parts(text: str) -> list[str]:
    """Sentences, with long ones cut at commas."""
    out: list[str] = []
    for sentence in sentences(text):
        if len(sentence.split()) > LONG_SENTENCE_WORDS:
            pieces = [p for p in _CLAUSE_END.split(sentence) if p.strip(" .,;!?…")]
            # The question mark belongs to the last clause of its sentence.
            out.extend(pieces)
        else:
            out.append(sentence)
    return out


def focus(text: str, content_words: Callable[[str], int], story_weight: float) -> list[Part]:
    """The message as weighted parts. `content_words(part)` counts a part's words of substance (the
    matcher knows which words are mere function words); a question part with fewer than two borrows
    its neighbour: the clause after an opener ("cho em hỏi, ..."), otherwise the clause before
    ("... giấy khai sinh bị mất. Vậy làm thế nào?")."""
    if len(text.split()) < LETTER_WORDS:
        return [Part(text, 1.0)]
    if len(text) > KEEP_HEAD + KEEP_TAIL:
        head = text[:KEEP_HEAD].rsplit(" ", 1)[0]
        tail = text[-KEEP_TAIL:].split(" ", 1)[-1]
        text = f"{head}.\n{tail}"
    parts = split_parts(text)
    if len(parts) <= 1:
        return [Part(text, 1.0)]
    asking = [i for i, p in enumerate(parts) if _asks(p)]
    if not asking:  # a complaint or a story with no question in it: we cannot tell what is asked, all counts
        return [Part(p, 1.0) for p in parts]
    chosen = set(asking)
    for i in asking:
        if content_words(parts[i]) >= 2:
            continue
        step = 1 if _OPENER.search(fold(parts[i])) and i + 1 < len(parts) else -1
        j = i + step
        while 0 <= j < len(parts):
            chosen.add(j)
            if content_words(parts[j]) >= 2:
                break
            j += step
    return [Part(p, 1.0 if i in chosen else story_weight) for i, p in enumerate(parts)]
