"""Vietnamese text handling shared by indexing and querying.

One folding function is used on both sides so that NFC/NFD input, missing diacritics, "đ" written as "d",
punctuation, emoji and invisible characters all stop mattering (see docs/matching.md).
The lexicon (content/lexicon.yaml) turns teencode and abbreviations into the words the content uses;
a guarded typo repair fixes only tokens that cannot be Vietnamese syllables. PII redaction, which must agree
with `fold`, is in bot.redact.
"""

from __future__ import annotations

import itertools
import re
import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache

from rapidfuzz import process
from rapidfuzz.distance import OSA

MAX_QUERY_CHARS = 2000
"""Longer messages are cut: a citizen's letter runs to a few hundred words at most. The matcher reads
long ones by their opening and their end (bot.focus), where the question is."""

_MARKS = re.compile(r"[\u0300-\u036f]")
_NON_ALNUM = re.compile(r"[^0-9a-z]+")
_D = str.maketrans("đĐðÐ", "dddd")
_LETTER_DIGIT = re.compile(r"(?<=[a-z])(?=[0-9])|(?<=[0-9])(?=[a-z])")
# Control and format characters (C0/C1 controls, zero-width joiners, bidi marks), except newline and tab.
_INVISIBLE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2060-\u2064\ufeff]")
_VI_LETTERS = re.compile(r"[àáạảãâầấậẩẫăằắặẳẵèéẹẻẽêềếệểễìíịỉĩòóọỏõôồốộổỗơờớợởỡùúụủũưừứựửữỳýỵỷỹđ]", re.I)

# A folded Vietnamese syllable: optional onset, one to three vowels, optional coda. Permissive on
# purpose: it only decides which tokens are *certainly not* Vietnamese and may be typo-repaired.
_SYLLABLE = re.compile(
    r"^(?:ngh|ng|nh|ch|gh|gi|kh|ph|qu|th|tr|[bcdghklmnprstvx])?[aeiouy]{1,3}(?:ch|ng|nh|[cmnpt])?$"
)
_VNI_INSIDE = re.compile(r"[a-z][1-9][a-z]")  # "d9a8ng"; a trailing digit ("muc2") is a number, not VNI
_TELEX_TONE = re.compile(r"(?<=[a-z])[sfrxj]$")
_TELEX_MARKS = (("dd", "d"), ("aa", "a"), ("ee", "e"), ("oo", "o"), ("aw", "a"), ("ow", "o"), ("uw", "u"))


def clean(text: str) -> str:
    """Make user input safe to handle and show: NFC, no control or zero-width characters, bounded length.

    Keeps diacritics and case (this is what a citizen typed, minus the invisible parts).
    """
    text = unicodedata.normalize("NFC", text or "")
    text = _INVISIBLE.sub("", text).replace("\t", " ")
    return text.strip()[:MAX_QUERY_CHARS]


@lru_cache(maxsize=8192)  # the same parts of a message are folded by focus, readings and detection
def fold(text: str) -> str:
    """Fold to lowercase ASCII words: NFKD, strip combining marks, đ→d, non-alphanumerics → one space."""
    s = unicodedata.normalize("NFKD", text)
    s = _MARKS.sub("", s).translate(_D).lower()
    return _NON_ALNUM.sub(" ", s).strip()


def has_vietnamese_marks(text: str) -> bool:
    """True when the text carries Vietnamese letters with diacritics (so it is certainly Vietnamese)."""
    return bool(_VI_LETTERS.search(unicodedata.normalize("NFC", text)))


def is_syllable(token: str) -> bool:
    """Could this folded token be a Vietnamese syllable?"""
    return bool(_SYLLABLE.match(token))


def undo_ime(token: str) -> str | None:
    """Undo Telex/VNI keystrokes left by a switched-off input method: ``ddawngf`` → ``dang``, ``d9a8ng`` → ``dang``.

    Returns None when the result is still not a possible syllable.
    """
    candidate = re.sub(r"(?<=[a-z])[0-9]", "", token)  # VNI: digits typed after letters
    if candidate != token and is_syllable(candidate):
        return candidate
    candidate = token
    for src, dst in _TELEX_MARKS:
        candidate = candidate.replace(src, dst)
    candidate = candidate.replace("w", "u") if "w" in candidate else candidate
    for attempt in (candidate, _TELEX_TONE.sub("", candidate)):
        if attempt != token and is_syllable(attempt):
            return attempt
    return None


@dataclass(frozen=True)
class Lexicon:
    """The curated vocabulary of content/lexicon.yaml, compiled for one-pass use."""

    abbreviations: dict[str, tuple[str, ...]] = field(default_factory=dict)
    concepts: dict[str, str] = field(default_factory=dict)  # folded phrase -> concept token
    fillers: frozenset[str] = frozenset()
    stopwords: frozenset[str] = frozenset()
    protected: frozenset[str] = frozenset()
    # subject class ("service", "document") -> subject -> normalised phrases naming it (see lexicon.yaml)
    subjects: dict[str, dict[str, tuple[str, ...]]] = field(default_factory=dict)
    vague: frozenset[str] = frozenset()  # words that ask without saying what: "hỏi", "giúp", "làm sao" (phrases split into words)

    @classmethod
    def from_dict(cls, data: dict) -> "Lexicon":
        abbreviations = {}
        for key, value in (data.get("abbreviations") or {}).items():
            readings = value if isinstance(value, list) else [value]
            abbreviations[fold(str(key))] = tuple(fold(str(r)) for r in readings)
        concepts = {}
        for concept, phrases in (data.get("concepts") or {}).items():
            for phrase in phrases:
                concepts[fold(str(phrase))] = fold(str(concept))
        subjects = {
            str(kind): {str(name): tuple(fold(str(p)) for p in phrases) for name, phrases in (group or {}).items()}
            for kind, group in (data.get("subjects") or {}).items()
        }
        return cls(
            abbreviations=abbreviations,
            concepts=concepts,
            subjects=subjects,
            vague=frozenset(w for v in data.get("vague") or [] for w in fold(str(v)).split()),
            fillers=frozenset(fold(str(f)) for f in data.get("fillers") or []),
            stopwords=frozenset(fold(str(s)) for s in data.get("stopwords") or []),
            protected=frozenset(fold(str(p)) for p in data.get("protected") or []),
        )

    @property
    def concept_tokens(self) -> frozenset[str]:
        return frozenset(self.concepts.values())


_YEAR_TOKEN = re.compile(r"(?:19|20)[0-9]{2}")


def _is_private_number(token: str, vocabulary: frozenset[str]) -> bool:
    """A number of 4+ digits that is not a year and that the content never uses ("0912345678", "483920"):
    the citizen's own data, which would only dilute the question's words. Years ("sinh năm 1986") stay:
    they say what a question is about (often that it is not ours), and redaction keeps them too."""
    return len(token) >= 4 and token.isdigit() and token not in vocabulary and not _YEAR_TOKEN.fullmatch(token)


class Normaliser:
    """fold → split letter|digit → abbreviations → IME/typo repair → concepts → drop fillers.

    Stopwords are kept (their folded forms are ambiguous: "do" is đó, đỏ, đô); the matcher gives them
    little weight instead.

    Built once per KnowledgeBase: ``vocabulary`` is every folded token the content uses, which guards
    the typo repair (a token already known is never "corrected").
    """

    def __init__(self, lexicon: Lexicon, vocabulary: set[str] | frozenset[str] = frozenset()):
        self.lexicon = lexicon
        self.vocabulary = frozenset(vocabulary)
        self._vocab_list = sorted(t for t in self.vocabulary if len(t) >= 3 and not t.isdigit())
        phrases = sorted(lexicon.concepts, key=lambda p: (-len(p), p))
        self._concept_re = (
            re.compile(r"(?<![a-z0-9])(?:" + "|".join(re.escape(p) for p in phrases) + r")(?![a-z0-9])")
            if phrases
            else None
        )
        fillers = sorted((f for f in lexicon.fillers if " " in f), key=len, reverse=True)
        self._filler_phrase_re = (
            re.compile(r"(?<![a-z0-9])(?:" + "|".join(re.escape(f) for f in fillers) + r")(?![a-z0-9])")
            if fillers
            else None
        )
        self._drop = lexicon.fillers
        self._repair = lru_cache(maxsize=20000)(self._repair_uncached)

    def split_codes(self, folded: str) -> list[str]:
        """Tokens of a folded string, with letters and digits split apart unless the token is a code."""
        tokens: list[str] = []
        for token in folded.split():
            if token in self.lexicon.protected or token in self.lexicon.abbreviations or token in self.vocabulary:
                tokens.append(token)
            elif _VNI_INSIDE.search(token) and (undone := undo_ime(token)) is not None:
                tokens.append(undone)
            else:
                tokens.extend(_LETTER_DIGIT.sub(" ", token).split())
        return tokens

    def _repair_uncached(self, token: str) -> str:
        if (
            len(token) < 3
            or token.isdigit()
            or token in self.vocabulary
            or token in self.lexicon.abbreviations
            or token in self._drop
            or token in self.lexicon.stopwords
            or is_syllable(token)
        ):
            return token
        undone = undo_ime(token)
        if undone is not None:
            return undone
        if not self._vocab_list:
            return token
        best = process.extractOne(
            token, self._vocab_list, scorer=OSA.normalized_similarity, score_cutoff=0.74
        )
        return best[0] if best else token

    def repair(self, token: str) -> str:
        """Repair a token that cannot be Vietnamese and is unknown to the content; leave all others alone."""
        return self._repair(token)

    def concepts(self, words: str) -> str:
        """Replace every concept phrase by its concept token, longest first, in one pass."""
        if self._concept_re is None:
            return words
        return self._concept_re.sub(lambda m: self.lexicon.concepts[m.group(0)], words)

    def readings(self, text: str, *, repair: bool = True, max_variants: int = 8) -> list[list[str]]:
        """All readings of a text as lists of content tokens (several when an abbreviation is ambiguous).

        Index side passes ``repair=False`` (content is spelled correctly); query side repairs.
        """
        tokens = self.split_codes(fold(text))
        slots: list[tuple[str, ...]] = []
        for token in tokens:
            if repair and _is_private_number(token, self.vocabulary):
                continue  # a citizen's own ID, phone or OTP says nothing about what they ask
            if repair:
                token = self.repair(token)
            slots.append(self.lexicon.abbreviations.get(token, (token,)))
        variants = []
        for combo in itertools.islice(itertools.product(*slots), max_variants):
            words = " ".join(combo)
            if self._filler_phrase_re is not None:
                words = self._filler_phrase_re.sub(" ", words)
            words = self.concepts(words)
            content = [t for t in words.split() if t not in self._drop]
            if content not in variants:
                variants.append(content)
        return variants or [[]]

    def tokens(self, text: str) -> list[str]:
        """The first reading only: used at index time, where text has no ambiguous teencode."""
        return self.readings(text, repair=False, max_variants=1)[0]
