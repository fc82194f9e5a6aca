"""Find the content that answers a question, or say honestly that there is none.

Design (measured in shared/reference/matching.md §5): every phrasing of every FAQ entry and guide is a
document; BM25 over syllable unigrams and bigrams (Lucene IDF, never negative) picks candidates; a bounded
rerank scores each candidate in 0..1 from IDF-weighted coverage of the question, coverage of the
phrasing, rapidfuzz's ratio on sorted tokens (= token_sort_ratio, 14x cheaper), and how much of the
question the entry's answer text explains (helps long, wordy questions). Three decisions: answer, suggest
the top three, or fall back. Phrasings of content/out_of_scope.yaml compete too: a question closest to
one of them gets the honest "I don't know". The thresholds are calibrated on tests/data/devset.jsonl
(see bench/calibrate.py) and live in `Thresholds`.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from typing import Literal

import numpy as np
from rapidfuzz import fuzz

from .knowledge import FAQ, Guide, KnowledgeBase, OutOfScope
from .text import Normaliser, clean, fold, has_vietnamese_marks

Entry = FAQ | Guide | OutOfScope
Kind = Literal["answer", "suggest", "fallback", "smalltalk"]

K1, B = 1.2, 0.75
STOPWORD_WEIGHT = 0.2  # a stopword counts, a little: folded it may be a content word (do = đỏ, cho = chợ)
ENGLISH_FUNCTION_WORDS = frozenset(
    "how what where when why which who can could do does did i my me is are was the to a an you your it please help "
    "with for from of on in at get got have has not no yes should would will there this that".split()
)
# Words that may surround a greeting or a thanks without making it a question.
SMALLTALK_FILLER = frozenset("bot digiguide nhieu lam rat very much so oi ad thu nhe nha da vang ok oke roi ai alo day there ko k hok".split())
CANDIDATES = 20


@dataclass(frozen=True)
class Thresholds:
    """Decision zones (see module docstring). Calibrated values; change only with bench/calibrate.py."""

    answer: float = 0.46  # T: minimum score to answer
    margin: float = 0.08  # M: lead over the best incompatible alternative
    suggest: float = 0.2  # below this: fall back
    unknown_share: float = 0.5  # at or above this share of unknown content words: never answer
    weights: tuple[float, float, float, float] = (0.45, 0.1, 0.2, 0.25)  # cov_q, cov_d, token_sort, answer coverage


@dataclass(frozen=True)
class Scored:
    entry: Entry
    score: float


@dataclass(frozen=True)
class Match:
    kind: Kind
    entry: Entry | None = None
    score: float = 0.0
    alternatives: tuple[Scored, ...] = ()  # best first; the suggestions when kind == "suggest"
    lang: str | None = None  # detected language of the question, None when unsure
    intent: str | None = None  # small-talk intent
    normalised: str = ""  # the folded question (for analytics, after redaction upstream)
    unknown_share: float = 0.0


@dataclass(frozen=True)
class _Doc:
    entry: Entry
    terms: frozenset[str]
    mass: float
    sorted_text: str


def _terms(tokens: list[str]) -> list[str]:
    return tokens + [f"{a}_{b}" for a, b in zip(tokens, tokens[1:])]


def compatible(a: Entry, b: Entry) -> bool:
    """Two entries that answer the same need: the same entry, or an FAQ and the guide it links."""
    if a is b:
        return True
    if isinstance(a, Guide) and isinstance(b, FAQ):
        return b.guide == a.id
    if isinstance(a, FAQ) and isinstance(b, Guide):
        return a.guide == b.id
    return False


class Matcher:
    """Index built once per KnowledgeBase; `search` is pure and safe to call from any task."""

    def __init__(self, kb: KnowledgeBase, thresholds: Thresholds | None = None):
        self.kb = kb
        self.thresholds = thresholds or Thresholds()
        phrasings: list[tuple[Entry, str, str]] = []
        for faq in kb.faqs.values():
            phrasings += [(faq, lang, q) for lang, q in faq.questions.all()]
            phrasings += [(faq, "vi", k) for k in faq.keywords]
        for guide in kb.guides.values():
            phrasings += [(guide, lang, q) for lang, q in guide.questions.all()]
            phrasings += [(guide, "vi", guide.title.vi), (guide, "en", guide.title.en)]
        for item in kb.out_of_scope:
            phrasings += [(item, "vi", q) for q in item.questions]

        bootstrap = Normaliser(kb.lexicon)
        tokenised = [(entry, lang, bootstrap.tokens(text)) for entry, lang, text in phrasings]
        # Words the typo repair must never "correct": every word the content uses, in any form.
        words = {t for _, _, toks in tokenised for t in toks}
        for entry, _, text in phrasings:
            words.update(fold(text).split())
        for faq in kb.faqs.values():
            words.update(fold(faq.answer.vi).split() + fold(faq.answer.en).split())
        for phrase in kb.lexicon.concepts:
            words.update(phrase.split())
        self.normaliser = Normaliser(kb.lexicon, words | set(kb.lexicon.abbreviations))
        self._build_language_vocab(kb)
        self._build_smalltalk(kb)
        self._build_index([(e, toks) for e, _, toks in tokenised if toks])
        self.answer_terms: dict[int, frozenset[str]] = {}
        for faq in kb.faqs.values():
            self.answer_terms[id(faq)] = frozenset(_terms(self.normaliser.tokens(faq.answer.vi)) + _terms(self.normaliser.tokens(faq.answer.en)))
        for guide in kb.guides.values():
            body = " ".join(s.vi + " " + s.en for s in guide.steps)
            self.answer_terms[id(guide)] = frozenset(_terms(self.normaliser.tokens(body)))

    # -- index ----------------------------------------------------------------------------------------------
    def _build_index(self, docs: list[tuple[Entry, list[str]]]) -> None:
        n = len(docs)
        df: dict[str, int] = defaultdict(int)
        entry_df: dict[str, set[str]] = defaultdict(set)
        term_lists = []
        for entry, tokens in docs:
            terms = _terms(tokens)
            term_lists.append(terms)
            for t in set(terms):
                df[t] += 1
                entry_df[t].add(entry.family if not isinstance(entry, FAQ) else entry.id)
        stop = self.normaliser.lexicon.stopwords
        self.idf = {t: (STOPWORD_WEIGHT if t in stop else math.log(1 + (n - d + 0.5) / (d + 0.5))) for t, d in df.items()}
        self.max_idf = math.log(1 + (n + 0.5) / 0.5)
        self.entries_with = {t: len(v) for t, v in entry_df.items()}
        avgdl = sum(len(t) for t in term_lists) / max(n, 1)
        postings: dict[str, tuple[list[int], list[float]]] = defaultdict(lambda: ([], []))
        self.docs: list[_Doc] = []
        for i, ((entry, tokens), terms) in enumerate(zip(docs, term_lists)):
            tf: dict[str, int] = defaultdict(int)
            for t in terms:
                tf[t] += 1
            norm = K1 * (1 - B + B * len(terms) / avgdl)
            for t, f in tf.items():
                postings[t][0].append(i)
                postings[t][1].append(self.idf[t] * f * (K1 + 1) / (f + norm))
            unique = frozenset(terms)
            self.docs.append(_Doc(entry, unique, sum(self.idf[t] for t in unique), " ".join(sorted(tokens))))
        self.postings = {t: (np.array(ix, dtype=np.int32), np.array(w, dtype=np.float32)) for t, (ix, w) in postings.items()}
        self._scores = np.zeros(n, dtype=np.float32)

    def _build_language_vocab(self, kb: KnowledgeBase) -> None:
        """Words only Vietnamese phrasings use vs words only English phrasings use. English answers are left
        out on purpose: they quote Vietnamese button names ("Quên mật khẩu")."""
        vi_words, en_words = set(kb.lexicon.abbreviations), set(ENGLISH_FUNCTION_WORDS)
        entries = [*kb.faqs.values(), *kb.guides.values()]
        for entry in entries:
            for q in entry.questions.vi:
                vi_words.update(fold(q).split())
            for q in entry.questions.en:
                en_words.update(fold(q).split())
        for faq in kb.faqs.values():
            vi_words.update(fold(faq.answer.vi).split())
        self.vi_only = frozenset(vi_words - en_words)
        self.en_only = frozenset(en_words - vi_words)

    def _build_smalltalk(self, kb: KnowledgeBase) -> None:
        self.smalltalk = {}
        for item in kb.smalltalk:
            for pattern in item.patterns:
                self.smalltalk.setdefault(fold(pattern), item.intent)
        self._smalltalk_filler = kb.lexicon.fillers | kb.lexicon.stopwords | SMALLTALK_FILLER

    # -- query side -----------------------------------------------------------------------------------------
    def detect_language(self, text: str) -> str | None:
        """'vi' or 'en' when the words say so; None when they do not (the caller keeps the user's language)."""
        if has_vietnamese_marks(text):
            return "vi"
        words = fold(text).split()
        en = sum(w in self.en_only for w in words)
        vi = sum(w in self.vi_only for w in words)
        if en > vi:
            return "en"
        if vi > en:
            return "vi"
        return None

    def detect_smalltalk(self, folded: str) -> str | None:
        """A greeting, thanks, goodbye... with nothing else of substance in the message.

        Left to right, each word must start a small-talk phrase (longest first) or be a filler word;
        the first word of substance means it is a question, not small talk.
        """
        if folded in self.smalltalk:
            return self.smalltalk[folded]
        words = folded.split()
        if len(words) > 12:
            return None
        intent, i = None, 0
        while i < len(words):
            for size in range(min(4, len(words) - i), 0, -1):
                found = self.smalltalk.get(" ".join(words[i : i + size]))
                if found:
                    intent = intent or found
                    i += size
                    break
            else:
                if words[i] not in self._smalltalk_filler:
                    return None
                i += 1
        return intent

    def _retrieve(self, terms: set[str]) -> list[int]:
        scores = self._scores
        scores.fill(0.0)
        hit = False
        for t in terms:
            posting = self.postings.get(t)
            if posting is not None:
                scores[posting[0]] += posting[1]
                hit = True
        if not hit:
            return []
        k = min(CANDIDATES, len(scores))
        top = np.argpartition(-scores, k - 1)[:k] if len(scores) > k else np.arange(len(scores))
        return [int(i) for i in top if scores[i] > 0]

    def weight(self, term: str) -> float:
        """IDF for known terms; unknown words weigh the most (they are what we cannot explain), unknown
        word pairs half their words' mean (a new pair of known words is only mildly surprising)."""
        w = self.idf.get(term)
        if w is not None:
            return w
        if term in self.normaliser.lexicon.stopwords:
            return STOPWORD_WEIGHT
        if "_" in term:
            a, b = term.split("_", 1)
            return 0.5 * (self.weight(a) + self.weight(b)) / 2
        return self.max_idf

    def rank(self, text: str) -> tuple[list[Scored], list[str], float]:
        """All candidate entries with their best score, best first; plus the best reading and unknown share."""
        readings = self.normaliser.readings(text)
        wq, wd, wt, wa = self.thresholds.weights
        best: dict[int, tuple[float, Entry]] = {}
        best_reading, best_score = readings[0], -1.0
        for tokens in readings:
            if not tokens:
                continue
            q_terms = set(_terms(tokens))
            weights = {t: self.weight(t) for t in q_terms}
            q_mass = sum(weights.values()) or 1.0
            q_sorted = " ".join(sorted(tokens))
            answer_cover: dict[int, float] = {}
            for i in self._retrieve(q_terms):
                doc = self.docs[i]
                shared_mass = sum(weights[t] for t in q_terms & doc.terms)
                score = wq * shared_mass / q_mass + wd * (shared_mass / doc.mass if doc.mass else 0.0)
                score += wt * fuzz.ratio(q_sorted, doc.sorted_text) / 100.0
                if wa:
                    key = id(doc.entry)
                    if key not in answer_cover:
                        in_answer = q_terms & self.answer_terms.get(key, frozenset())
                        answer_cover[key] = sum(weights[t] for t in in_answer) / q_mass
                    score += wa * answer_cover[key]
                key = id(doc.entry)
                if key not in best or score > best[key][0]:
                    best[key] = (score, doc.entry)
                if score > best_score:
                    best_score, best_reading = score, tokens
        ranked = sorted((Scored(e, round(s, 4)) for s, e in best.values()), key=lambda x: -x.score)
        content = [t for t in best_reading if t not in self.normaliser.lexicon.stopwords]
        known = [t for t in content if t in self.idf]
        unknown = 1 - len(known) / len(content) if content else 0.0
        return ranked, best_reading, unknown

    def search(self, text: str) -> Match:
        text = clean(text)
        folded = fold(text)
        lang = self.detect_language(text)
        if not folded:
            return Match("fallback", lang=lang)
        intent = self.detect_smalltalk(folded)
        if intent:
            return Match("smalltalk", intent=intent, score=1.0, lang=lang, normalised=folded)
        ranked, reading, unknown = self.rank(text)
        return self.decide(ranked, reading, unknown, lang=lang, normalised=folded)

    def decide(
        self,
        ranked: list[Scored],
        reading: list[str],
        unknown: float,
        *,
        lang: str | None = None,
        normalised: str = "",
        thresholds: Thresholds | None = None,
    ) -> Match:
        """The three-zone decision; separate from ranking so calibration can replay it cheaply."""
        th = thresholds or self.thresholds
        if not ranked:
            return Match("fallback", lang=lang, normalised=normalised, unknown_share=unknown)
        top = ranked[0]
        rival = next((s.score for s in ranked[1:] if not compatible(top.entry, s.entry)), 0.0)
        suggestions = tuple(s for s in self._distinct(ranked) if not isinstance(s.entry, OutOfScope))[:3]
        if isinstance(top.entry, OutOfScope):  # closest to something we know we do not cover
            return Match("fallback", None, top.score, (), lang=lang, normalised=normalised, unknown_share=unknown)
        content = [t for t in reading if t not in self.normaliser.lexicon.stopwords]
        single_shared = len(content) <= 1 and self.entries_with.get(content[0] if content else "", 0) > 1
        common = dict(lang=lang, normalised=normalised, unknown_share=unknown)
        if top.score >= th.answer and top.score - rival >= th.margin and unknown < th.unknown_share and not single_shared:
            return Match("answer", top.entry, top.score, suggestions, **common)
        if top.score >= th.suggest and suggestions:
            return Match("suggest", suggestions[0].entry, top.score, suggestions, **common)
        return Match("fallback", None, top.score, suggestions, **common)

    @staticmethod
    def _distinct(ranked: list[Scored]) -> list[Scored]:
        """Best-first, dropping an entry when a compatible one (FAQ and its guide) is already listed."""
        out: list[Scored] = []
        for s in ranked:
            if not any(compatible(s.entry, o.entry) for o in out):
                out.append(s)
                if len(out) > 6:
                    break
        return out
