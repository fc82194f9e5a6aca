"""Find the content that answers a question, or say honestly that there is none.

Design (docs/matching.md): every phrasing of every FAQ entry and guide is a
document; BM25 over syllable unigrams and bigrams (Lucene IDF, never negative) picks candidates; a bounded
rerank scores each candidate in 0..1 from IDF-weighted coverage of the question, coverage of the
phrasing, rapidfuzz's ratio on sorted tokens (= token_sort_ratio, 14x cheaper), and how much of the
question the entry's answer text explains (helps long, wordy questions). Three decisions: answer, suggest
the top three, or fall back. Phrasings of content/out_of_scope.yaml compete too: a question closest to
one of them gets the honest "I don't know". The thresholds are calibrated on the dev halves of the labelled sets
(see bench/calibrate.py) and live in `Thresholds`.

Two things make it fit how citizens write (issue "answers citizens can trust"):
- Long letters: `bot.focus` splits a message into parts and marks those that ask; the story around the
  question gives at most `story_weight` of the question's coverage, so the question decides. Letters
  have their own weights and zones (`letter_weights`, `answer_letter`...).
- Subjects: the services and documents a question names (lexicon.yaml `subjects`). An entry whose title
  names only other services (or only other documents) is scored down by `subject_penalty` and never
  answered outright: a portal question is not answered with a VNeID entry because the other words match.
Messages that name nothing at all ("giúp tôi với", "cho hỏi") are `clarify`: the engine asks back.
"""

from __future__ import annotations

import functools
import itertools
import math
from collections import defaultdict
from dataclasses import dataclass
from typing import Callable, Literal

import numpy as np
from rapidfuzz import fuzz

from .focus import Part, focus
from .knowledge import FAQ, Guide, KnowledgeBase, OutOfScope
from .text import Normaliser, clean, fold, has_vietnamese_marks

Entry = FAQ | Guide | OutOfScope
Kind = Literal["answer", "suggest", "fallback", "smalltalk", "clarify"]

K1, B = 1.2, 0.75
STOPWORD_WEIGHT = 0.2  # a stopword counts, a little: folded it may be a content word (do = đỏ, cho = chợ)
ENGLISH_FUNCTION_WORDS = frozenset(
    "how what where when why which who can could do does did i my me is are was the to a an you your it please help "
    "with for from of on in at get got have has not no yes should would will there this that".split()
)
# Words that may surround a greeting or a thanks without making it a question.
SMALLTALK_FILLER = frozenset("bot digiguide nhieu lam rat very much so oi ad thu nhe nha da vang ok oke roi ai alo day there ko k hok thoi the".split())
CANDIDATES = 20
RANKED = 12  # entries kept after the rerank
RETRIEVAL_MIN_IDF = 0.5  # terms rarer than this pick candidates; the commonest ones only score them
UNKNOWN_IN_LETTERS = 0.5  # an unknown word of a long letter weighs this share of the highest IDF
RETRIEVAL_TERMS = 16  # the most telling terms of a message pick the candidates: a letter has a hundred
MAX_VAGUE_WORDS = 12  # a longer message says something, even if we cannot tell what


@dataclass(frozen=True)
class Thresholds:
    """Decision zones and score weights (see module docstring). Calibrated values (bench/calibrate.py on
    the calibration items, 2026-12-01); change them only with a new calibration run."""

    answer: float = 0.18  # T: minimum score to answer a short question
    margin: float = 0.15  # M: lead over the best incompatible alternative
    suggest: float = 0.32  # below this: fall back
    unknown_share: float = 0.34  # at or above this share of unknown content words: never answer (short questions)
    weights: tuple[float, float, float, float] = (0.4, 0.15, 0.25, 0.2)  # cov_q, cov_d, token_sort, entry coverage
    # Letters (bot.focus: 20 words or more, in several sentences) score lower and on other features than
    # short questions: they have their own weights and zones, calibrated on letters.
    letter_weights: tuple[float, float, float, float] = (0.35, 0.15, 0.0, 0.5)
    answer_letter: float = 0.52
    margin_letter: float = 0.1
    # The letters' suggest floor is the one calibrated before the dev part of the real set fed the content
    # (later runs see letters whose needs the content was written for, and would raise it).
    suggest_letter: float = 0.14
    story_weight: float = 0.45  # the share of the question's coverage the story around it can give
    subject_penalty: float = 0.35  # share of the score an entry loses when it names other services or documents


@dataclass(frozen=True)
class Parts:
    """Why an entry scored what it did (shown by `ask --json`): each feature in 0..1 before weighting."""

    question_covered: float  # IDF-weighted share of the question's terms the phrasing has
    phrasing_covered: float  # share of the phrasing's terms the question has
    token_sort: float  # rapidfuzz ratio of the sorted words
    answer_covered: float  # share of the question's terms the entry as a whole has (its answer and phrasings)
    subject_conflict: bool  # the question names services/documents this entry does not


@dataclass(frozen=True)
class Scored:
    entry: Entry
    score: float
    parts: Parts | None = None


@dataclass(frozen=True)
class Match:
    kind: Kind
    entry: Entry | None = None
    score: float = 0.0
    alternatives: tuple[Scored, ...] = ()  # best first; the suggestions when kind == "suggest"
    lang: str | None = None  # detected language of the question, None when unsure
    intent: str | None = None  # small-talk intent
    normalised: str = ""  # the folded question as typed, NOT redacted: never store it (bot.engine stores its own redacted copy)
    unknown_share: float = 0.0
    reason: str = ""  # one line: why this decision (for `ask --json` and the dashboard)
    subjects: frozenset[str] = frozenset()  # services and documents the question names
    focus: str = ""  # the part of a long message that asks (empty when it is the whole message)


@dataclass(frozen=True)
class Ranking:
    """Everything `decide` needs, computed once per message (calibration replays `decide` on it)."""

    candidates: list[Scored]  # best first
    reading: list[str]  # the asking tokens of the best reading
    unknown_share: float  # share of them the content never uses
    subjects: frozenset[str]  # services and documents the message names
    letter: bool  # a long message: its question was read apart from its story
    focus: str = ""  # the asking part of a letter


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
        # Per instance, so an old matcher (content reloaded) is freed with its cache.
        self._unknown_weight = functools.lru_cache(maxsize=50_000)(self._unknown_weight_uncached)
        self._build_subjects(kb)
        self._build_language_vocab(kb)
        self._build_smalltalk(kb)
        # Word rarity is measured over everything the content says, answers included: a word that is
        # rare in the phrasings but common in Vietnamese ("khoảng", "hiểu") must not outweigh the words
        # of the question in a long letter.
        background = []
        for faq in kb.faqs.values():
            background += [self.normaliser.tokens(line) for line in (faq.answer.vi + "\n" + faq.answer.en).splitlines()]
        for guide in kb.guides.values():
            for text in [*guide.steps, *(p.problem for p in guide.problems), *(p.fix for p in guide.problems), guide.audience]:
                background += [self.normaliser.tokens(text.vi), self.normaliser.tokens(text.en)]
        self._build_index([(e, toks) for e, _, toks in tokenised if toks], [b for b in background if b])
        self.answer_terms: dict[int, frozenset[str]] = {}
        for faq in kb.faqs.values():
            self.answer_terms[id(faq)] = frozenset(_terms(self.normaliser.tokens(faq.answer.vi)) + _terms(self.normaliser.tokens(faq.answer.en)))
        for guide in kb.guides.values():
            body = " ".join(s.vi + " " + s.en for s in guide.steps)
            self.answer_terms[id(guide)] = frozenset(_terms(self.normaliser.tokens(body)))
        # What an entry says is its answer and all its phrasings: a long question is explained by the
        # entry as a whole, not by its one closest phrasing.
        for doc in self.docs:
            key = id(doc.entry)
            self.answer_terms[key] = self.answer_terms.get(key, frozenset()) | doc.terms

    # -- index ----------------------------------------------------------------------------------------------
    def _build_index(self, docs: list[tuple[Entry, list[str]]], background: list[list[str]] = ()) -> None:
        n = len(docs) + len(background)
        df: dict[str, int] = defaultdict(int)
        for tokens in background:
            for t in set(_terms(tokens)):
                df[t] += 1
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
        avgdl = sum(len(t) for t in term_lists) / max(len(term_lists), 1)
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
        self._scores = np.zeros(len(docs), dtype=np.float32)

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
        # Teencode first ("ban giup dc nhung gi"): patterns are written in full words.
        abbreviations = self.normaliser.lexicon.abbreviations
        folded = " ".join(abbreviations[w][0] if w in abbreviations else w for w in folded.split())
        if folded in self.smalltalk:
            return self.smalltalk[folded]
        words = folded.split()
        if len(words) > 12:
            return None
        intent, i = None, 0
        while i < len(words):
            for size in range(min(6, len(words) - i), 0, -1):
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

    def _retrieve(self, weights: dict[str, float]) -> list[int]:
        """BM25 candidates: the top documents by the sum of their postings, each scaled by the weight of
        the part of the message the term came from. Very common terms are left to the rerank."""
        idf = self.idf
        telling = [(idf[t] * w, t, w) for t, w in weights.items() if t in self.postings and idf[t] >= RETRIEVAL_MIN_IDF]
        if not telling:
            return []
        telling.sort(reverse=True)
        scores = self._scores
        scores.fill(0.0)
        for _, t, w in telling[:RETRIEVAL_TERMS]:
            ix, contribution = self.postings[t]
            scores[ix] += contribution * w
        touched = np.flatnonzero(scores)
        if len(touched) > CANDIDATES:
            touched = touched[np.argpartition(-scores[touched], CANDIDATES - 1)[:CANDIDATES]]
        return touched.tolist()

    def weight(self, term: str) -> float:
        """IDF for known terms; unknown words weigh the most (they are what we cannot explain), unknown
        word pairs half their words' mean (a new pair of known words is only mildly surprising)."""
        w = self.idf.get(term)
        if w is not None:
            return w
        return self._unknown_weight(term)

    def _unknown_weight_uncached(self, term: str) -> float:
        if term in self.normaliser.lexicon.stopwords:
            return STOPWORD_WEIGHT
        if "_" in term:
            a, b = term.split("_", 1)
            return 0.5 * (self.weight(a) + self.weight(b)) / 2
        return self.max_idf

    # -- subjects and vagueness -----------------------------------------------------------------------------
    def subjects_of(self, tokens: list[str]) -> frozenset[str]:
        """The services and documents named in a normalised token list, as "class:name" strings."""
        found = set()
        starts = self._subject_starts
        for i, token in enumerate(tokens):
            for phrase, subject in starts.get(token, ()):
                if tuple(tokens[i : i + len(phrase)]) == phrase:
                    found.add(subject)
        return frozenset(found)

    def _build_subjects(self, kb: KnowledgeBase) -> None:
        self._subject_phrases: dict[tuple[str, ...], str] = {}
        for kind, group in kb.lexicon.subjects.items():
            for name, phrases in group.items():
                for phrase in phrases:
                    tokens = tuple(self.normaliser.tokens(phrase))
                    if tokens:
                        self._subject_phrases.setdefault(tokens, f"{kind}:{name}")
        self._subject_starts: dict[str, list[tuple[tuple[str, ...], str]]] = defaultdict(list)
        for phrase, subject in self._subject_phrases.items():
            self._subject_starts[phrase[0]].append((phrase, subject))
        self.entry_subjects: dict[int, frozenset[str]] = {}
        # What an entry is about is what its title says (and its keywords): other phrasings may mention a
        # service in passing ("sao dvc bắt dùng vneid" under the portal's old-account entry).
        for entry in [*kb.faqs.values(), *kb.guides.values()]:
            if isinstance(entry, Guide):
                texts = [entry.title.vi, entry.title.en]
            else:
                texts = [entry.questions.vi[0], *entry.questions.en[:1], *entry.keywords]
            self.entry_subjects[id(entry)] = frozenset().union(*(self.subjects_of(self.normaliser.tokens(t)) for t in texts))
        for item in kb.out_of_scope:
            self.entry_subjects[id(item)] = frozenset().union(*(self.subjects_of(self.normaliser.tokens(q)) for q in item.questions))

    def conflicts(self, asked: frozenset[str], entry: Entry) -> bool:
        """True when, for some class of subject, the question names some and the entry names others only."""
        if not asked:
            return False
        named = self.entry_subjects.get(id(entry), frozenset())
        for kind in {a.split(":", 1)[0] for a in asked}:
            mine = {n for n in named if n.startswith(kind + ":")}
            if mine and not mine & asked:
                return True
        return False

    def _substance(self, tokens: list[str]) -> list[str]:
        lex = self.normaliser.lexicon
        return [t for t in tokens if t not in lex.stopwords and t not in lex.vague and not t.isdigit()]

    def is_vague(self, text: str) -> bool:
        """Asks nothing specific: every word is a function word, a filler or a word of asking."""
        folded = fold(text)
        if not folded or len(folded.split()) > MAX_VAGUE_WORDS or any(w.isdigit() for w in folded.split()):
            return False
        return all(not self._substance(r) for r in self.normaliser.readings(text))

    # -- ranking --------------------------------------------------------------------------------------------
    def _queries(self, parts: list[Part], read: Callable[[str, int, bool], list[list[str]]]) -> list[tuple[dict[str, float], list[str], list[list[str]]]]:
        """Readings of the message: (term -> part weight, the asking tokens). Ambiguous teencode gives
        several readings of the asking parts; the story is read once."""
        per_part = []
        for part in parts:
            # A short question: every reading of ambiguous teencode, typos repaired. A letter: its many
            # words matter more than any one of them, so no typo repair (the costly step: a fuzzy search
            # of the vocabulary per unknown word) and at most two readings of its question.
            if len(parts) == 1:
                readings = read(part.text, 8, True)
            else:
                readings = read(part.text, 2 if part.weight >= 1.0 else 1, False)
            per_part.append([(part.weight, r) for r in readings if r] or [(part.weight, [])])
        out = []
        # A letter is read at most twice: its many words make ambiguous teencode matter less, and each
        # reading is a full rerank.
        for combo in itertools.islice(itertools.product(*per_part), 8 if len(parts) == 1 else 2):
            weights: dict[str, float] = {}
            asking: list[str] = []
            for w, tokens in combo:
                for t in _terms(tokens):
                    if weights.get(t, 0.0) < w:
                        weights[t] = w
                if w >= 1.0:
                    asking += tokens
            if weights:
                out.append((weights, asking, [tokens for _, tokens in combo]))
        return out

    def _reader(self) -> Callable[[str, int, bool], list[list[str]]]:
        """Readings of a text, remembered for one message (focus and ranking read the same parts)."""
        return functools.lru_cache(maxsize=128)(lambda text, variants, repair: self.normaliser.readings(text, repair=repair, max_variants=variants))

    def focus(self, text: str, read: Callable[[str, int, bool], list[list[str]]] | None = None) -> list[Part]:
        """The message as weighted parts (bot.focus), counting words of substance with our lexicon."""
        read = read or self._reader()
        return focus(text, lambda part: len(self._substance(read(part, 1, False)[0])), self.thresholds.story_weight)

    def rank(self, text: str) -> Ranking:
        """All candidate entries with their best score, best first; plus the asking tokens of the best
        reading, the share of them unknown to the content, and the subjects the message names."""
        th = self.thresholds
        read = self._reader()
        parts = self.focus(text, read)
        queries = self._queries(parts, read)
        letter = len(parts) > 1
        wq, wd, wt, wa = th.letter_weights if letter else th.weights
        best: dict[int, tuple[float, Entry, tuple]] = {}
        best_reading, best_score = (queries[0][1] if queries else []), -1.0
        asked = frozenset().union(*(self.subjects_of(tokens) for *_, each in queries for tokens in each))
        idf = self.idf
        conflicted: dict[int, bool] = {}
        for weights, asking, _ in queries:
            # Coverage of the question is the asking part's, plus the story's in a bounded share: a long
            # story must not dilute a well-matched question, nor a matched story outvote it.
            # In a letter, names of people and places are words the content never uses: they should not
            # outweigh the words of the question as they do in a short message (where they mean "not ours").
            cap = UNKNOWN_IN_LETTERS * self.max_idf if letter else self.max_idf
            ask_w: dict[str, float] = {}
            story_w: dict[str, float] = {}
            get = self.idf.get
            for t, w in weights.items():
                v = get(t)
                if v is None:
                    v = self._unknown_weight(t)
                (ask_w if w >= 1.0 else story_w)[t] = v if v < cap else cap
            share = th.story_weight if story_w and ask_w else 0.0
            ask_mass, story_mass = sum(ask_w.values()) or 1.0, sum(story_w.values()) or 1.0
            q_w = {t: (1.0 - share) * v / ask_mass for t, v in ask_w.items()}
            q_w.update((t, share * v / story_mass) for t, v in story_w.items())
            q_keys = frozenset(q_w)
            q_sorted = " ".join(sorted(asking))
            answer_cover: dict[int, float] = {}
            for i in self._retrieve(weights):
                doc = self.docs[i]
                shared = doc.terms & q_keys
                cov_q = sum(map(q_w.__getitem__, shared))
                cov_d = sum(map(idf.__getitem__, shared)) / doc.mass if doc.mass else 0.0
                tsr = fuzz.ratio(q_sorted, doc.sorted_text) / 100.0 if wt else 0.0  # letters weigh it 0: skip the work
                key = id(doc.entry)
                cover = answer_cover.get(key)
                if cover is None:
                    cover = answer_cover[key] = sum(map(q_w.__getitem__, self.answer_terms.get(key, frozenset()) & q_keys))
                conflict = conflicted.get(key)
                if conflict is None:
                    conflict = conflicted[key] = self.conflicts(asked, doc.entry)
                score = wq * cov_q + wd * cov_d + wt * tsr + wa * cover
                if conflict:
                    score *= 1.0 - th.subject_penalty
                if key not in best or score > best[key][0]:
                    best[key] = (score, doc.entry, (cov_q, cov_d, tsr, cover, conflict))
                if score > best_score:
                    best_score, best_reading = score, asking
        # The head of the list is all anyone reads: the answer, its rival, three distinct suggestions.
        order = sorted(best.values(), key=lambda x: -x[0])[:RANKED]
        ranked = [Scored(e, round(s, 4), Parts(round(f[0], 3), round(f[1], 3), round(f[2], 3), round(f[3], 3), f[4])) for s, e, f in order]
        content = [t for t in best_reading if t not in self.normaliser.lexicon.stopwords]
        known = [t for t in content if t in self.idf]
        unknown = 1 - len(known) / len(content) if content else 0.0
        asking_text = " ".join(p.text for p in parts if p.weight >= 1.0) if letter else ""
        return Ranking(ranked, best_reading, unknown, asked, letter, asking_text)

    def search(self, text: str) -> Match:
        text = clean(text)
        folded = fold(text)
        lang = self.detect_language(text)
        if not folded:
            return Match("fallback", lang=lang, reason="empty message")
        intent = self.detect_smalltalk(folded)
        if intent:
            return Match("smalltalk", intent=intent, score=1.0, lang=lang, normalised=folded, reason=f"small talk: {intent}")
        if self.is_vague(text):
            return Match("clarify", lang=lang, normalised=folded, reason="asks nothing specific")
        return self.decide(self.rank(text), lang=lang, normalised=folded)

    def decide(self, ranking: Ranking, *, lang: str | None = None, normalised: str = "", thresholds: Thresholds | None = None) -> Match:
        """The three-zone decision; separate from ranking so calibration can replay it cheaply."""
        th = thresholds or self.thresholds
        ranked, reading, unknown = ranking.candidates, ranking.reading, ranking.unknown_share
        answer_at, margin, suggest_at = (th.answer_letter, th.margin_letter, th.suggest_letter) if ranking.letter else (th.answer, th.margin, th.suggest)
        unknown_limit = 1.01 if ranking.letter else th.unknown_share  # a letter's names and places are not "out of scope"
        common = dict(lang=lang, normalised=normalised, unknown_share=unknown, subjects=ranking.subjects, focus=ranking.focus)
        if not ranked:
            return Match("fallback", reason="no entry shares a word with the question", **common)
        top = ranked[0]
        rival_entry = next((s for s in ranked[1:] if not compatible(top.entry, s.entry)), None)
        rival = rival_entry.score if rival_entry else 0.0
        suggestions = tuple(s for s in self._distinct(ranked) if not isinstance(s.entry, OutOfScope))[:3]
        if isinstance(top.entry, OutOfScope):  # closest to something we know we do not cover
            return Match("fallback", top.entry, top.score, (), reason=f"closest to out-of-scope '{top.entry.id}'", **common)
        content = [t for t in reading if t not in self.normaliser.lexicon.stopwords]
        single_shared = len(content) <= 1 and self.entries_with.get(content[0] if content else "", 0) > 1
        why_not = (
            f"score {top.score:.2f} below {answer_at:.2f}" if top.score < answer_at
            else f"lead {top.score - rival:.2f} over '{rival_entry.entry.id if rival_entry else '-'}' below {margin:.2f}" if top.score - rival < margin
            else f"{unknown:.0%} of the words are unknown to the content" if unknown >= unknown_limit
            else "one word that several entries share" if single_shared
            else "the question names another service or document than this entry" if top.parts and top.parts.subject_conflict
            else ""
        )
        if not why_not:
            return Match("answer", top.entry, top.score, suggestions, reason=f"score {top.score:.2f}, lead {top.score - rival:.2f}", **common)
        if top.score >= suggest_at and suggestions:
            return Match("suggest", suggestions[0].entry, top.score, suggestions, reason=why_not, **common)
        return Match("fallback", None, top.score, suggestions, reason=why_not, **common)

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
