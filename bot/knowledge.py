"""Load and validate content/ into an immutable KnowledgeBase.

Content is data edited by officials; the engine must never start on content it would render wrongly.
`load_knowledge` collects *every* problem (file and line) before failing, so one `check` run shows the
editor everything to fix. Placeholders from locality.yaml are resolved here, once, per language.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Iterable, Mapping
from urllib.parse import urlparse

from .handover.hours import HoursError, OfficeHours
from .text import Lexicon
from .yamlsource import LineDict, LineList, Problem, YamlSyntaxError, load

LANGS = ("vi", "en")
TOPIC_IDS = ("eid", "portal", "fees", "bills", "qr", "safety", "signature")
ID_RE = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
MAX_ID_LEN = 32  # keeps every action ("fb:<id>:down", "g:<id>:12") inside Telegram's 64-byte callback_data
TELEGRAM_LIMIT = 4096
ZALO_LIMIT = 2000
_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
LEGAL_ID_RE = re.compile(r"^(?=.*\d)\S.{2,118}$")  # a legal text is cited by its number: "Thông tư 75/2022/TT-BTC"
FINGERPRINT_RE = re.compile(r"^[A-Za-z0-9:_-]{8,100}$")
DEFAULT_REVIEW_MONTHS = 12  # when locality.yaml has no review_months

DEFAULT_CONTENT_DIR = Path(__file__).resolve().parent.parent / "content"

# Runtime parameters each message may use (placeholders without a dot); everything else must be a
# locality path.
MESSAGE_PARAMS: Mapping[str, frozenset[str]] = {
    "topic": frozenset({"topic", "page", "pages"}),
    "guide_intro": frozenset({"title", "audience", "prepare", "total"}),
    "guide_step": frozenset({"step", "total", "text"}),
    "guide_end": frozenset({"problems", "help"}),
    "fallback": frozenset({"help"}),
    "feedback_down": frozenset({"help"}),
    "handover_confirm": frozenset({"question", "ward", "when"}),
    "handover_when_open": frozenset({"hours", "due"}),
    "handover_when_closed": frozenset({"opens", "due"}),
    "handover_sent": frozenset({"code", "when"}),
    "handover_current": frozenset({"code", "question"}),
    "handover_add_prompt": frozenset({"code"}),
    "handover_added": frozenset({"code"}),
    "handover_withdrawn": frozenset({"code"}),
    "handover_reply": frozenset({"code", "ward", "text"}),
    "handover_notice": frozenset({"code", "ward", "question"}),
}
REQUIRED_MESSAGES = (
    "welcome help menu topic suggest fallback empty non_text unsupported feedback_question feedback_up feedback_down "
    "guide_intro guide_step guide_end guide_none hotlines lang_set stale_action rate_limited error forget_done numbered_hint "
    "clarify where_to_ask welcome_link featured "
    "handover_ask handover_any_ward handover_pick_ward handover_confirm handover_when_open handover_when_closed handover_sent handover_current "
    "handover_add_prompt handover_added handover_withdrawn handover_cancelled handover_reply handover_notice "
    "notify_optin notify_nothing notify_answer"
).split()
REQUIRED_BUTTONS = (
    "next prev menu start_guide begin helpful not_helpful hotline more switch_lang topic featured "
    "ask_official notify_me send edit_question cancel add_info withdraw other_ward"
).split()
REQUIRED_COMMANDS = "next prev menu help hotline lang_en lang_vi forget handover".split()
SMALLTALK_INTENTS = ("greeting", "thanks", "who", "capabilities", "goodbye")


@dataclass(frozen=True)
class Localized:
    """A text in both languages, placeholders already filled in."""

    vi: str
    en: str

    def get(self, lang: str) -> str:
        return self.en if lang == "en" else self.vi


@dataclass(frozen=True)
class Phrasings:
    vi: tuple[str, ...]
    en: tuple[str, ...]
    lines: tuple[int, ...] = ()  # source line of each phrasing, vi then en (for editors' messages)

    def get(self, lang: str) -> tuple[str, ...]:
        return self.en if lang == "en" else self.vi

    def all(self) -> tuple[tuple[str, str], ...]:
        return tuple(("vi", q) for q in self.vi) + tuple(("en", q) for q in self.en)

    def line_of(self, index: int, default: int = 1) -> int:
        return self.lines[index] if index < len(self.lines) else default


@dataclass(frozen=True)
class LegalBasis:
    """A legal text an answer rests on (a decree, a circular, a law...): when it is amended or replaced,
    the answer must be reviewed. Written in YAML as a plain id or as {id, title, url}."""

    id: str  # as officials cite it: "Nghị định 69/2024/NĐ-CP"
    title: str = ""
    url: str | None = None


@dataclass(frozen=True)
class SourceCheck:
    """An editor re-read a source page on `checked` (and noted a fingerprint of its text then). Written in
    YAML as a source {url, checked, fingerprint}; plain URLs count as read on the entry's `reviewed` date.
    bot.freshness compares these across entries and with an operator's fetch of the pages."""

    url: str
    checked: dt.date
    fingerprint: str | None = None


@dataclass(frozen=True)
class FAQ:
    id: str
    topic: str
    questions: Phrasings
    answer: Localized
    sources: tuple[str, ...]
    reviewed: dt.date
    keywords: tuple[str, ...] = ()
    guide: str | None = None
    location: str = ""
    legal_basis: tuple[LegalBasis, ...] = ()
    valid_until: dt.date | None = None  # the last day a fact of the answer holds (a fee reduction...)
    owner: str | None = None  # id of the office (content/locality.yaml offices) that answers for it
    source_checks: tuple[SourceCheck, ...] = ()

    def title(self, lang: str) -> str:
        return self.questions.get(lang)[0]

    @property
    def family(self) -> str:
        """FAQ entries that link a guide answer the same need as the guide: the matcher treats them as one."""
        return f"g:{self.guide}" if self.guide else f"f:{self.id}"


@dataclass(frozen=True)
class Problemfix:
    problem: Localized
    fix: Localized


@dataclass(frozen=True)
class Guide:
    id: str
    topic: str
    title: Localized
    audience: Localized
    questions: Phrasings
    prepare: Phrasings
    steps: tuple[Localized, ...]
    problems: tuple[Problemfix, ...]
    sources: tuple[str, ...]
    reviewed: dt.date
    location: str = ""
    code: str | None = None  # short code typed on Zalo from a poster, e.g. "ID1"
    legal_basis: tuple[LegalBasis, ...] = ()
    valid_until: dt.date | None = None
    owner: str | None = None
    source_checks: tuple[SourceCheck, ...] = ()

    @property
    def family(self) -> str:
        return f"g:{self.id}"


@dataclass(frozen=True)
class WorkingGroup:
    """A residential working group that shares links and posters (content/locality.yaml)."""

    id: str
    name: Localized
    ward: str | None
    code: str


@dataclass(frozen=True)
class OutOfScope:
    """A kind of question we do not answer; its phrasings steer the matcher towards "I don't know", and
    `help` says who does answer it (the land office, the social insurance hotline...)."""

    id: str
    questions: tuple[str, ...]
    location: str = ""
    help: Localized | None = None
    topic = None

    @property
    def family(self) -> str:
        return f"x:{self.id}"


@dataclass(frozen=True)
class Topic:
    id: str
    title: Localized
    description: Localized
    keywords: tuple[str, ...]
    help: Localized | None = None  # who to call or where to go when the bot cannot help on this topic
    subjects: tuple[str, ...] = ()  # services and documents (lexicon.yaml) that belong to this topic


@dataclass(frozen=True)
class SmallTalk:
    intent: str
    patterns: tuple[str, ...]  # both languages; folded when matched
    reply: Localized


@dataclass(frozen=True)
class KnowledgeBase:
    """Everything the engine knows, immutable once loaded; a reload builds a new one."""

    faqs: Mapping[str, FAQ]
    guides: Mapping[str, Guide]
    topics: Mapping[str, Topic]
    messages: Mapping[str, Localized]
    buttons: Mapping[str, Localized]
    commands: Mapping[str, tuple[str, ...]]
    smalltalk: tuple[SmallTalk, ...]
    lexicon: Lexicon
    locality: Mapping[str, Any]
    version: str
    out_of_scope: tuple[OutOfScope, ...] = ()
    working_groups: Mapping[str, WorkingGroup] = field(default_factory=dict)
    content_dir: Path = field(default=DEFAULT_CONTENT_DIR)
    featured: tuple[str, ...] = ()  # entry ids behind the menu's "common tasks" button, in order

    @property
    def office_hours(self) -> OfficeHours:
        """When officials answer handed-over questions (locality.yaml `handover`, checked at load)."""
        return OfficeHours.from_locality(self.locality.get("handover"))

    @property
    def ward_ids(self) -> tuple[str, ...]:
        """The ward ids of locality.yaml, in its order: what a ticket, an account or a report may name."""
        return tuple(str(w["id"]) for w in self.locality.get("wards") or [] if isinstance(w, dict) and w.get("id"))

    def ward_name(self, ward: str | None, lang: str) -> str | None:
        """A ward's name from locality.yaml in `lang` (None for an unknown or empty ward)."""
        for item in self.locality.get("wards") or []:
            if isinstance(item, dict) and item.get("id") == ward and ward:
                name = item.get("name")
                return str(name.get(lang) or name.get("vi")) if isinstance(name, dict) else str(name or ward)
        return None

    @property
    def review_months(self) -> int:
        """An entry reviewed longer ago than this is due for review (locality.yaml review_months)."""
        months = self.locality.get("review_months", DEFAULT_REVIEW_MONTHS)
        return months if isinstance(months, int) else DEFAULT_REVIEW_MONTHS

    def where_to_ask(self, topic: str | None, lang: str) -> str:
        """The hotline or office for a topic (topics.yaml `help`), or the general one."""
        found = self.topics.get(topic) if topic else None
        if found is not None and found.help is not None:
            return found.help.get(lang)
        return self.message("where_to_ask", lang)

    def topic_of_subjects(self, subjects: Iterable[str]) -> str | None:
        """The topic a question belongs to by the services it names ("service:power" -> bills)."""
        names = {s.split(":", 1)[-1] for s in subjects}
        for topic in self.topics.values():
            if names & set(topic.subjects):
                return topic.id
        return None

    def message(self, key: str, lang: str, **params: Any) -> str:
        text = self.messages[key].get(lang)
        return _fill_params(text, params) if params else text.replace("{{", "{").replace("}}", "}")

    def button(self, key: str, lang: str) -> str:
        return self.buttons[key].get(lang)

    def entries_of(self, topic: str) -> list[FAQ | Guide]:
        """Guides first (they are the most complete help), then FAQ entries, in file order."""
        guides = [g for g in self.guides.values() if g.topic == topic]
        faqs = [f for f in self.faqs.values() if f.topic == topic]
        return [*guides, *faqs]


class ContentError(Exception):
    """The content is not valid; `problems` says what and where."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


def _fill_params(text: str, params: Mapping[str, Any]) -> str:
    def sub(match: re.Match) -> str:
        name = match.group(1)
        return str(params[name]) if name in params else match.group(0)

    return _PLACEHOLDER.sub(sub, text).replace("{{", "{").replace("}}", "}")


class _Checker:
    """Collects problems while converting raw YAML into typed content."""

    def __init__(self, content_dir: Path, locality: Mapping[str, Any] | None):
        self.content_dir = content_dir
        self.locality = locality or {}
        self.problems: list[Problem] = []
        self.file = ""
        self.today = dt.date.today()

    # -- helpers ------------------------------------------------------------------------------------------
    def report(self, line: int, message: str) -> None:
        self.problems.append(Problem(self.file, line, message))

    def keys(self, data: Any, line: int, required: Iterable[str], optional: Iterable[str] = (), what: str = "") -> bool:
        if not isinstance(data, dict):
            self.report(line, f"{what or 'this'} must be a mapping of keys")
            return False
        required = list(required)
        allowed = set(required) | set(optional)
        for key in data:
            if key not in allowed:
                self.report(_line(data, key), f"unknown key {key!r} in {what} (allowed: {', '.join(sorted(allowed))})")
        ok = True
        for key in required:
            if key not in data or data[key] in (None, "", [], {}):
                self.report(_line(data), f"missing {key!r} in {what}")
                ok = False
        return ok

    def resolve(self, path: str, lang: str, line: int) -> str | None:
        node: Any = self.locality
        for part in path.split("."):
            if isinstance(node, dict) and part in node:
                node = node[part]
            else:
                self.report(line, f"unknown placeholder {{{path}}} (not found in content/locality.yaml)")
                return None
        if isinstance(node, dict) and set(node) >= set(LANGS):
            node = node[lang]
        if isinstance(node, (dict, list)) or node is None:
            self.report(line, f"placeholder {{{path}}} does not name a single value in content/locality.yaml")
            return None
        return str(node)

    def render(self, text: str, lang: str, line: int, params: frozenset[str] = frozenset()) -> str:
        """Fill locality placeholders; check runtime ones are allowed; keep {{ }} escapes for later."""

        def sub(match: re.Match) -> str:
            name = match.group(1).strip()
            if "." in name:
                value = self.resolve(name, lang, line)
                return match.group(0) if value is None else value.replace("{", "{{").replace("}", "}}")
            if name in params:
                return match.group(0)
            self.report(line, f"unknown placeholder {{{name}}}" + (f" (allowed here: {', '.join(sorted(params))})" if params else ""))
            return match.group(0)

        masked = text.replace("{{", "\x00").replace("}}", "\x01")
        out = _PLACEHOLDER.sub(sub, masked)
        if "{" in out.replace("{{", "") or "}" in out.replace("}}", ""):
            stray = _PLACEHOLDER.sub("", out.replace("{{", "").replace("}}", ""))
            if "{" in stray or "}" in stray:
                self.report(line, "unbalanced brace: write a literal { or } as {{ or }}")
        out = out.replace("\x00", "{{").replace("\x01", "}}")
        return out if params else out.replace("{{", "{").replace("}}", "}")

    def localized(self, data: Any, line: int, what: str, params: frozenset[str] = frozenset()) -> Localized:
        if not isinstance(data, dict):
            self.report(line, f"{what} must have a 'vi' and an 'en' text")
            return Localized("", "")
        for key in data:
            if key not in LANGS:
                self.report(_line(data, key), f"unknown language {key!r} in {what} (use vi and en)")
        texts = {}
        for lang in LANGS:
            value = data.get(lang)
            if not isinstance(value, str) or not value.strip():
                self.report(_line(data), f"missing {lang!r} text in {what}")
                texts[lang] = ""
            else:
                texts[lang] = self.render(value.strip(), lang, _line(data, lang), params)
        return Localized(texts["vi"], texts["en"])

    def phrasings(self, data: Any, line: int, what: str, min_vi: int, min_en: int) -> Phrasings:
        if not isinstance(data, dict):
            self.report(line, f"{what} must have 'vi' and 'en' lists")
            return Phrasings((), ())
        for key in data:
            if key not in LANGS:
                self.report(_line(data, key), f"unknown language {key!r} in {what} (use vi and en)")
        out, lines = {}, []
        for lang, minimum in (("vi", min_vi), ("en", min_en)):
            items = data.get(lang) or []
            if not isinstance(items, list):
                self.report(_line(data, lang), f"{what}.{lang} must be a list")
                items = []
            clean = []
            for i, item in enumerate(items):
                if not isinstance(item, str) or not item.strip():
                    self.report(_line_item(items, i), f"empty or non-text item in {what}.{lang}")
                else:
                    clean.append(self.render(item.strip(), lang, _line_item(items, i)))
                    lines.append(_line_item(items, i))
            if len(clean) < minimum:
                self.report(_line(data, lang) if lang in data else _line(data), f"{what} needs at least {minimum} {lang!r} item(s), has {len(clean)}")
            out[lang] = tuple(clean)
        return Phrasings(out["vi"], out["en"], tuple(lines))

    def ident(self, value: Any, line: int, what: str) -> str:
        if not isinstance(value, str) or not ID_RE.match(value) or len(value) > MAX_ID_LEN:
            self.report(line, f"{what} {value!r} must be lowercase letters, digits and '-', at most {MAX_ID_LEN} characters")
            return str(value)
        return value

    def topic(self, value: Any, line: int) -> str:
        if value not in TOPIC_IDS:
            self.report(line, f"unknown topic {value!r} (use one of: {', '.join(TOPIC_IDS)})")
        return str(value)

    def url(self, value: Any, line: int) -> str | None:
        parsed = urlparse(str(value))
        if not isinstance(value, str) or parsed.scheme not in ("http", "https") or "." not in parsed.netloc or " " in value:
            self.report(line, f"malformed URL {value!r} (must start with http:// or https://)")
            return None
        return value

    def urls(self, value: Any, line: int) -> tuple[str, ...]:
        return self.sources(value, line)[0]

    def sources(self, value: Any, line: int, what: str = "") -> tuple[tuple[str, ...], tuple[SourceCheck, ...]]:
        """Source URLs, each a plain URL or {url, checked, fingerprint}: an editor re-read that page."""
        if not isinstance(value, list) or not value:
            self.report(line, "sources must be a non-empty list of URLs")
            return (), ()
        urls, checks = [], []
        for i, item in enumerate(value):
            item_line = _line_item(value, i)
            if not isinstance(item, dict):
                url = self.url(item, item_line)
                urls += [url] if url else []
                continue
            if not self.keys(item, item_line, ("url", "checked"), ("fingerprint",), what=f"source of {what}" if what else "source"):
                continue
            url = self.url(item["url"], _line(item, "url"))
            checked = self.date(item["checked"], _line(item, "checked"), "checked", what)
            fingerprint = item.get("fingerprint")
            if fingerprint is not None and (not isinstance(fingerprint, str) or not FINGERPRINT_RE.match(fingerprint)):
                self.report(_line(item, "fingerprint"), f"fingerprint of a source of {what} must be 8 to 100 letters, digits, ':', '-' or '_' (as the fetch job wrote it), got {fingerprint!r}")
                fingerprint = None
            if url:
                urls.append(url)
                checks.append(SourceCheck(url, checked, fingerprint))
        return tuple(urls), tuple(checks)

    def date(self, value: Any, line: int, key: str = "reviewed", what: str = "", future_ok: bool = False) -> dt.date:
        """A YYYY-MM-DD date; `key` and `what` (the entry) name it in the message."""
        name = f"{key} of {what}" if what else key
        if isinstance(value, dt.datetime):
            value = value.date()
        if isinstance(value, str):
            try:
                value = dt.date.fromisoformat(value)
            except ValueError:
                pass
        if not isinstance(value, dt.date):
            self.report(line, f"{name} must be a date written YYYY-MM-DD, got {value!r}")
            return dt.date.min
        if value > self.today and not future_ok:
            self.report(line, f"{name} date {value} is in the future")
        return value

    def legal_basis(self, value: Any, line: int, what: str) -> tuple[LegalBasis, ...]:
        """Legal texts, each a plain id ("Nghị định 69/2024/NĐ-CP") or {id, title, url}."""
        if not isinstance(value, list) or not value:
            self.report(line, f"legal_basis of {what} must be a list of legal texts, e.g. [Nghị định 69/2024/NĐ-CP]")
            return ()
        out = []
        for i, item in enumerate(value):
            item_line = _line_item(value, i)
            if isinstance(item, dict):
                if not self.keys(item, item_line, ("id",), ("title", "url"), what=f"legal_basis of {what}"):
                    continue
                ident, title = item["id"], item.get("title") or ""
                url = self.url(item["url"], _line(item, "url")) if "url" in item else None
            else:
                ident, title, url = item, "", None
            if not isinstance(ident, str) or not LEGAL_ID_RE.match(ident.strip()) or not isinstance(title, str):
                self.report(item_line, f"legal_basis of {what}: {ident!r} must name a numbered text as it is cited, e.g. Nghị định 69/2024/NĐ-CP")
                continue
            out.append(LegalBasis(ident.strip(), title.strip(), url))
        return tuple(out)

    def owner(self, value: Any, line: int, what: str) -> str | None:
        offices = self.locality.get("offices") if isinstance(self.locality.get("offices"), dict) else {}
        if value not in offices:
            self.report(line, f"unknown owner {value!r} of {what} (use an office of content/locality.yaml: {', '.join(sorted(offices)) or 'none defined'})")
            return None
        return str(value)

    def freshness(self, raw: Mapping[str, Any], what: str) -> dict[str, Any]:
        """The optional legal_basis, valid_until and owner of an entry (FAQ or guide), checked."""
        out: dict[str, Any] = {}
        if "legal_basis" in raw:
            out["legal_basis"] = self.legal_basis(raw["legal_basis"], _line(raw, "legal_basis"), what)
        if "valid_until" in raw:
            day = self.date(raw["valid_until"], _line(raw, "valid_until"), "valid_until", what, future_ok=True)
            out["valid_until"] = None if day == dt.date.min else day
        if "owner" in raw:
            out["owner"] = self.owner(raw["owner"], _line(raw, "owner"), what)
        return out


def _line(data: Any, key: Any = None) -> int:
    if isinstance(data, LineDict):
        return data.line_of(key) if key is not None else data.line
    return 1


def _line_item(items: Any, index: int) -> int:
    return items.line_of(index) if isinstance(items, LineList) else 1


# ------------------------------------------------------------------------------------------------------------

FAQ_REQUIRED = ("id", "topic", "questions", "answer", "sources", "reviewed")
FRESHNESS_KEYS = ("legal_basis", "valid_until", "owner")  # optional on every entry; see bot.freshness
FAQ_OPTIONAL = ("keywords", "guide", *FRESHNESS_KEYS)
GUIDE_REQUIRED = ("id", "topic", "title", "audience", "questions", "prepare", "steps", "problems", "sources", "reviewed")
GUIDE_OPTIONAL = ("code", *FRESHNESS_KEYS)
CODE_RE = re.compile(r"^[A-Za-z]{1,5}[0-9]{1,3}$")  # letters then digits: never an everyday word
MAX_GROUP_ID = 28  # "g-<32-char guide id>__<group id>" must fit Telegram's 64-character payload


def _load_faqs(c: _Checker, raw: Any) -> list[FAQ]:
    if not isinstance(raw, list):
        c.report(1, "an FAQ file must be a list of entries (each starting with '- id: ...')")
        return []
    faqs = []
    for i, item in enumerate(raw):
        line = _line_item(raw, i)
        if not c.keys(item, line, FAQ_REQUIRED, FAQ_OPTIONAL, what=f"FAQ entry {item.get('id', '#' + str(i + 1)) if isinstance(item, dict) else i + 1}"):
            continue
        keywords = item.get("keywords") or []
        if not isinstance(keywords, list) or not all(isinstance(k, (str, int)) and str(k).strip() for k in keywords):
            c.report(_line(item, "keywords"), "keywords must be a list of words")
            keywords = []
        guide = item.get("guide")
        what = f"FAQ entry {item['id']!r}"
        sources, checks = c.sources(item["sources"], _line(item, "sources"), what)
        faqs.append(
            FAQ(
                id=c.ident(item["id"], _line(item, "id"), "id"),
                topic=c.topic(item["topic"], _line(item, "topic")),
                questions=c.phrasings(item["questions"], _line(item, "questions"), "questions", 4, 1),
                answer=c.localized(item["answer"], _line(item, "answer"), "answer"),
                sources=sources,
                reviewed=c.date(item["reviewed"], _line(item, "reviewed")),
                keywords=tuple(str(k) for k in keywords),
                guide=str(guide) if guide else None,
                location=f"{c.file}:{line}",
                source_checks=checks,
                **c.freshness(item, what),
            )
        )
    return faqs


def _load_guide(c: _Checker, raw: Any, expected_id: str) -> Guide | None:
    if not c.keys(raw, 1, GUIDE_REQUIRED, GUIDE_OPTIONAL, what=f"guide {expected_id}"):
        return None
    code = raw.get("code")
    if code is not None and (not isinstance(code, str) or not CODE_RE.match(code)):
        c.report(_line(raw, "code"), f"code {code!r} must be 1-5 letters then 1-3 digits, e.g. ID1")
        code = None
    gid = c.ident(raw["id"], _line(raw, "id"), "id")
    if gid != expected_id:
        c.report(_line(raw, "id"), f"guide id {gid!r} must match its file name {expected_id!r}.yaml")
    steps_raw = raw["steps"]
    steps = []
    if not isinstance(steps_raw, list) or len(steps_raw) < 3:
        c.report(_line(raw, "steps"), "a guide needs a list of at least 3 steps")
    else:
        for i, step in enumerate(steps_raw):
            steps.append(c.localized(step, _line_item(steps_raw, i), f"step {i + 1}"))
    problems_raw = raw["problems"]
    problems = []
    if not isinstance(problems_raw, list):
        c.report(_line(raw, "problems"), "problems must be a list of {problem, fix}")
    else:
        for i, item in enumerate(problems_raw):
            line = _line_item(problems_raw, i)
            if c.keys(item, line, ("problem", "fix"), what=f"problem {i + 1}"):
                problems.append(
                    Problemfix(
                        c.localized(item["problem"], _line(item, "problem"), f"problem {i + 1}"),
                        c.localized(item["fix"], _line(item, "fix"), f"fix {i + 1}"),
                    )
                )
    what = f"guide {gid!r}"
    sources, checks = c.sources(raw["sources"], _line(raw, "sources"), what)
    return Guide(
        id=gid,
        topic=c.topic(raw["topic"], _line(raw, "topic")),
        title=c.localized(raw["title"], _line(raw, "title"), "title"),
        audience=c.localized(raw["audience"], _line(raw, "audience"), "audience"),
        questions=c.phrasings(raw["questions"], _line(raw, "questions"), "questions", 2, 1),
        prepare=c.phrasings(raw["prepare"], _line(raw, "prepare"), "prepare", 1, 1),
        steps=tuple(steps),
        problems=tuple(problems),
        sources=sources,
        reviewed=c.date(raw["reviewed"], _line(raw, "reviewed")),
        location=f"{c.file}:1",
        code=code,
        source_checks=checks,
        **c.freshness(raw, what),
    )


def _load_topics(c: _Checker, raw: Any, known_subjects: frozenset[str] = frozenset()) -> list[Topic]:
    if not isinstance(raw, list):
        c.report(1, "topics.yaml must be a list of topics")
        return []
    topics = []
    for i, item in enumerate(raw):
        if not c.keys(item, _line_item(raw, i), ("id", "title", "description", "help"), ("keywords", "subjects"), what="topic"):
            continue
        subjects = item.get("subjects") or []
        if not isinstance(subjects, list) or any(str(x) not in known_subjects for x in subjects):
            c.report(_line(item, "subjects"), f"subjects of topic {item['id']!r} must be names from lexicon.yaml subjects ({', '.join(sorted(known_subjects))})")
            subjects = []
        topics.append(
            Topic(
                id=c.topic(item["id"], _line(item, "id")),
                title=c.localized(item["title"], _line(item, "title"), "title"),
                description=c.localized(item["description"], _line(item, "description"), "description"),
                keywords=tuple(str(k) for k in item.get("keywords") or []),
                help=c.localized(item["help"], _line(item, "help"), f"help of topic {item['id']}"),
                subjects=tuple(str(x) for x in subjects),
            )
        )
    missing = set(TOPIC_IDS) - {t.id for t in topics}
    if missing:
        c.report(1, f"topics.yaml must define every topic; missing: {', '.join(sorted(missing))}")
    return topics


def _load_working_groups(c: _Checker, locality: Any) -> list[WorkingGroup]:
    raw = locality.get("working_groups") or []
    if not isinstance(raw, list):
        c.report(_line(locality, "working_groups"), "working_groups must be a list of {id, name, ward, code}")
        return []
    wards = {w.get("id") for w in locality.get("wards") or [] if isinstance(w, dict)}
    groups = []
    for i, item in enumerate(raw):
        line = _line_item(raw, i)
        if not c.keys(item, line, ("id", "name", "code"), ("ward",), what="working group"):
            continue
        gid = c.ident(item["id"], _line(item, "id"), "working group id")
        if len(gid) > MAX_GROUP_ID:
            c.report(_line(item, "id"), f"working group id {gid!r} is longer than {MAX_GROUP_ID} characters (links must fit 64)")
        ward = item.get("ward")
        if ward is not None and ward not in wards:
            c.report(_line(item, "ward"), f"unknown ward {ward!r} (add it to wards first)")
        code = item["code"]
        if not isinstance(code, str) or not CODE_RE.match(code):
            c.report(_line(item, "code"), f"code {code!r} must be 1-5 letters then 1-3 digits, e.g. TDP5")
            code = str(code)
        name = item["name"]
        groups.append(WorkingGroup(gid, c.localized(name if isinstance(name, dict) else {"vi": name, "en": name}, _line(item, "name"), "name"), ward, code))
    return groups


def _check_codes(c: _Checker, guides: list[Guide], groups: list[WorkingGroup], locality_file: str) -> None:
    """Codes are typed by hand: they must be unique ignoring case, and no two may read the same."""
    seen: dict[str, str] = {}
    for owner, code, file in [(f"guide {g.id}", g.code, g.location.rsplit(":", 1)[0]) for g in guides if g.code] + [
        (f"working group {w.id}", w.code, locality_file) for w in groups
    ]:
        key = code.lower()
        if key in seen:
            c.problems.append(Problem(file, 1, f"code {code!r} of {owner} is already used by {seen[key]}"))
        seen[key] = owner
    ids = [w.id for w in groups]
    for dup in {i for i in ids if ids.count(i) > 1}:
        c.problems.append(Problem(locality_file, 1, f"duplicate working group id {dup!r}"))


def _load_out_of_scope(c: _Checker, raw: Any) -> list[OutOfScope]:
    if not isinstance(raw, list):
        c.report(1, "out_of_scope.yaml must be a list of {id, questions}")
        return []
    out = []
    for i, item in enumerate(raw):
        line = _line_item(raw, i)
        if not c.keys(item, line, ("id", "questions"), ("help",), what="out-of-scope item"):
            continue
        questions = item["questions"]
        if not isinstance(questions, list) or not all(isinstance(q, str) and q.strip() for q in questions):
            c.report(_line(item, "questions"), "questions must be a list of texts")
            continue
        help_ = c.localized(item["help"], _line(item, "help"), f"help of {item['id']}") if "help" in item else None
        out.append(OutOfScope(c.ident(item["id"], _line(item, "id"), "id"), tuple(questions), f"{c.file}:{line}", help_))
    return out


TELEGRAM_CHAT_ID = re.compile(r"-?[0-9]{1,20}")


def _check_notify_chats(c: _Checker, locality: Mapping[str, Any]) -> None:
    """handover.notify_chats: {ward id or "*": a Telegram group's chat id}, where officials hear of new tickets."""
    handover = locality.get("handover")
    chats = handover.get("notify_chats") if isinstance(handover, dict) else None
    if chats is None:
        return
    line = _line(handover, "notify_chats")
    if not isinstance(chats, dict):
        c.report(line, "handover.notify_chats must map ward ids (or \"*\") to Telegram chat ids")
        return
    wards = {w.get("id") for w in locality.get("wards") or [] if isinstance(w, dict)}
    for ward, chat in chats.items():
        if ward != "*" and ward not in wards:
            c.report(line, f"handover.notify_chats: unknown ward {ward!r} (add it to wards first)")
        if isinstance(chat, bool) or not TELEGRAM_CHAT_ID.fullmatch(str(chat)):
            c.report(line, f"handover.notify_chats: {chat!r} is not a Telegram chat id (a group's starts with -100)")


def _load_messages(c: _Checker, raw: Any):
    if not c.keys(raw, 1, ("messages", "buttons", "commands", "smalltalk"), ("featured",), what="messages.yaml"):
        return {}, {}, {}, ()
    messages, buttons, commands, smalltalk = {}, {}, {}, []
    for section, required, target in (("messages", REQUIRED_MESSAGES, messages), ("buttons", REQUIRED_BUTTONS, buttons)):
        data = raw[section]
        if not c.keys(data, _line(raw, section), required, [k for k in data if isinstance(data, dict)], what=section):
            pass
        if isinstance(data, dict):
            for key, value in data.items():
                params = MESSAGE_PARAMS.get(key, frozenset()) if section == "messages" else frozenset()
                target[key] = c.localized(value, _line(data, key), f"{section}.{key}", params)
    data = raw["commands"]
    if c.keys(data, _line(raw, "commands"), REQUIRED_COMMANDS, what="commands"):
        for key, words in data.items():
            commands[key] = tuple(str(w) for w in words or [])
    data = raw["smalltalk"]
    if c.keys(data, _line(raw, "smalltalk"), SMALLTALK_INTENTS, what="smalltalk"):
        for intent, item in data.items():
            if c.keys(item, _line(data, intent), ("patterns", "reply"), what=f"smalltalk.{intent}"):
                pats = c.phrasings(item["patterns"], _line(item, "patterns"), f"smalltalk.{intent}.patterns", 1, 1)
                smalltalk.append(SmallTalk(intent, pats.vi + pats.en, c.localized(item["reply"], _line(item, "reply"), f"smalltalk.{intent}.reply")))
    return messages, buttons, commands, tuple(smalltalk)


def _check_lexicon(c: _Checker, raw: Any) -> Lexicon:
    if not c.keys(raw, 1, ("abbreviations", "concepts"), ("fillers", "stopwords", "protected", "subjects", "vague"), what="lexicon.yaml"):
        return Lexicon()
    subjects = raw.get("subjects") or {}
    if not isinstance(subjects, dict):
        c.report(_line(raw, "subjects"), "subjects must map a class (service, document) to subjects and their phrases")
        subjects, raw = {}, {**raw, "subjects": {}}
    for kind, group in list(subjects.items()):
        if not isinstance(group, dict) or not all(isinstance(v, list) and v for v in group.values()):
            c.report(_line(subjects, kind), f"subjects.{kind} must map each subject to a list of phrases")
            raw = {**raw, "subjects": {}}
    for key, value in raw["abbreviations"].items():
        if not (isinstance(value, str) or (isinstance(value, list) and value and all(isinstance(v, str) for v in value))):
            c.report(_line(raw["abbreviations"], key), f"abbreviation {key!r} must map to a word or a list of words")
    for key, value in raw["concepts"].items():
        if not isinstance(value, list) or not value:
            c.report(_line(raw["concepts"], key), f"concept {key!r} must list its phrases")
    return Lexicon.from_dict(raw)


def _content_version(paths: list[Path]) -> str:
    digest = hashlib.sha256()
    for path in sorted(paths):
        digest.update(f"{path.parent.name}/{path.name}".encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def load_knowledge(content_dir: Path | str = DEFAULT_CONTENT_DIR) -> KnowledgeBase:
    """Load and validate everything under content_dir. Raises ContentError listing every problem."""
    content_dir = Path(content_dir)
    problems: list[Problem] = []
    raw: dict[str, Any] = {}

    def read(name: str):
        path = content_dir / name
        display = f"content/{name}" if content_dir.name == "content" else str(path)
        if not path.exists():
            problems.append(Problem(display, 1, "file is missing"))
            return None, display
        try:
            return load(path, display), display
        except YamlSyntaxError as exc:
            problems.append(exc.problem)
            return None, display

    for name in ("locality.yaml", "lexicon.yaml", "topics.yaml", "messages.yaml"):
        raw[name] = read(name)
    # The FAQ is one file per topic under faq/ (a single faq.yaml, the older layout, still loads).
    faq_files = sorted((content_dir / "faq").glob("*.yaml"))
    faq_names = [f"faq/{p.name}" for p in faq_files] + (["faq.yaml"] if (content_dir / "faq.yaml").exists() else [])
    if not faq_names:
        problems.append(Problem("content/faq/", 1, "no FAQ files: add content/faq/<topic>.yaml"))
    faqs_raw = [read(name) for name in faq_names]
    has_oos = (content_dir / "out_of_scope.yaml").exists()
    if has_oos:
        raw["out_of_scope.yaml"] = read("out_of_scope.yaml")
    guide_files = sorted((content_dir / "guides").glob("*.yaml"))
    guides_raw = [(p.stem, read(f"guides/{p.name}")) for p in guide_files]
    if problems:  # syntax errors: nothing else can be trusted
        raise ContentError(problems)

    locality = raw["locality.yaml"][0] or {}
    c = _Checker(content_dir, locality)
    c.file = raw["locality.yaml"][1]
    c.keys(locality, 1, ("province", "hotlines", "offices", "links", "sources", "reviewed"), ("utilities", "wards", "working_groups", "review_months", "handover"), what="locality.yaml")
    working_groups = _load_working_groups(c, locality)
    try:
        OfficeHours.from_locality(locality.get("handover"))
    except HoursError as exc:
        c.report(_line(locality, "handover"), str(exc))
    _check_notify_chats(c, locality)
    c.date(locality.get("reviewed"), _line(locality, "reviewed"))
    months = locality.get("review_months", DEFAULT_REVIEW_MONTHS)
    if not isinstance(months, int) or isinstance(months, bool) or not 1 <= months <= 120:
        c.report(_line(locality, "review_months"), f"review_months must be a whole number of months from 1 to 120, got {months!r}")
    c.urls(locality.get("sources"), _line(locality, "sources"))

    c.file = raw["lexicon.yaml"][1]
    lexicon = _check_lexicon(c, raw["lexicon.yaml"][0])
    c.file = raw["topics.yaml"][1]
    topics = _load_topics(c, raw["topics.yaml"][0], frozenset(n for group in lexicon.subjects.values() for n in group))
    c.file = raw["messages.yaml"][1]
    messages, buttons, commands, smalltalk = _load_messages(c, raw["messages.yaml"][0])
    faqs = []
    for data, display in faqs_raw:
        c.file = display
        faqs += _load_faqs(c, data)
    out_of_scope = []
    if has_oos:
        c.file = raw["out_of_scope.yaml"][1]
        out_of_scope = _load_out_of_scope(c, raw["out_of_scope.yaml"][0])
    guides = []
    for stem, (data, display) in guides_raw:
        c.file = display
        guide = _load_guide(c, data, stem)
        if guide:
            guides.append(guide)

    # Cross-references and uniqueness
    _check_codes(c, guides, working_groups, raw["locality.yaml"][1])
    seen: dict[str, str] = {}
    for faq in faqs:
        if faq.id in seen:
            c.problems.append(Problem(*faq.location.rsplit(":", 1)[0:1], int(faq.location.rsplit(":", 1)[1]), f"duplicate FAQ id {faq.id!r} (first at {seen[faq.id]})"))
        seen[faq.id] = faq.location
    guide_ids = {g.id for g in guides}
    messages_raw = raw["messages.yaml"][0] if isinstance(raw["messages.yaml"][0], dict) else {}
    featured = messages_raw.get("featured") or []
    if not isinstance(featured, list):
        featured = []
    for i, ident in enumerate(featured):
        if ident not in guide_ids and ident not in seen:
            c.problems.append(Problem(raw["messages.yaml"][1], _line_item(featured, i), f"featured entry {ident!r} is neither a guide nor an FAQ id"))
    for faq in faqs:
        if faq.guide and faq.guide not in guide_ids:
            file, line = faq.location.rsplit(":", 1)
            c.problems.append(Problem(file, int(line), f"FAQ {faq.id!r} links to guide {faq.guide!r}, which does not exist"))

    kb = KnowledgeBase(
        faqs=MappingProxyType({f.id: f for f in faqs}),
        guides=MappingProxyType({g.id: g for g in guides}),
        topics=MappingProxyType({t.id: t for t in topics}),
        messages=MappingProxyType(messages),
        buttons=MappingProxyType(buttons),
        commands=MappingProxyType(commands),
        smalltalk=smalltalk,
        lexicon=lexicon,
        locality=locality,
        version=_content_version([content_dir / n for n in raw] + [content_dir / n for n in faq_names] + guide_files),
        out_of_scope=tuple(out_of_scope),
        working_groups=MappingProxyType({w.id: w for w in working_groups}),
        content_dir=content_dir,
        featured=tuple(str(f) for f in featured),
    )
    # Checks that need the whole knowledge base. Sizes only make sense once every text rendered cleanly.
    from .checks import check_near_duplicates, check_rendered_sizes

    if not c.problems:
        c.problems.extend(check_rendered_sizes(kb))
    c.problems.extend(check_near_duplicates(kb))
    if c.problems:
        raise ContentError(c.problems)
    return kb
