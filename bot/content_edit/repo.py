"""Read the content folder as editors see it: entries to list, search and open, as the YAML has them.

An editor works on the YAML keys, not on the loader's typed objects (those have placeholders filled in and
texts stripped): `get` returns the entry exactly as written, JSON-able (dates as YYYY-MM-DD), and that is
what the editor sends back. Files are parsed with the fast C parser and kept until they change on disk,
so listing 200 entries for every page view costs no more than a stat per file.
"""

from __future__ import annotations

import datetime as dt
import threading
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable

import yaml

from ..freshness import EXPIRED, ReviewItem, review_list
from ..knowledge import ContentError, KnowledgeBase, load_knowledge
from ..text import fold
from . import layout
from .yamlpatch import compose, construct, to_plain

REVIEW_STATES = ("ok", "due", "expired", "retired", "unknown")


class NotFound(KeyError):
    """No such entry (the API answers 404)."""

    def __init__(self, kind: str, entry_id: str):
        super().__init__(f"no {kind} entry {entry_id!r}")
        self.kind, self.entry_id = kind, entry_id

    def __str__(self) -> str:
        return self.args[0]


@dataclass(frozen=True)
class EntryInfo:
    """One row of the editors' list."""

    kind: str  # faq | guide
    id: str
    topic: str | None
    title_vi: str
    title_en: str
    reviewed: str | None  # YYYY-MM-DD as written
    review_state: str  # one of REVIEW_STATES: bot.freshness's verdict ("unknown": the content does not load)
    retired: bool
    file: str  # relative to the content folder: "faq/eid.yaml"
    line: int  # where the entry starts in that file
    review_reasons: tuple[str, ...] = field(default=())  # bot.freshness's words: "reviewed 2025-01-02, 23 months ago..."

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class _Parsed:
    stamp: tuple[int, int, int]
    entries: tuple[tuple[dict, int, str], ...]  # (raw entry, line, folded search text)


def _state(retired: bool, reviews: dict | None, review: ReviewItem | None) -> str:
    if retired:
        return "retired"
    if reviews is None:
        return "unknown"
    if review is None:
        return "ok"
    return "expired" if review.severity == EXPIRED else "due"


def _strings(value: Any) -> Iterable[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, v in value.items():
            if key not in ("sources", "reviewed"):
                yield from _strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)


def _titles(kind: str, raw: dict) -> tuple[str, str]:
    def first(lang: str) -> str:
        if kind == "guide":
            title = raw.get("title")
            return str(title.get(lang, "")) if isinstance(title, dict) else ""
        questions = raw.get("questions")
        items = questions.get(lang) if isinstance(questions, dict) else None
        return str(items[0]) if isinstance(items, list) and items else ""

    return first("vi"), first("en")


class ContentRepo:
    """The content folder: what is on disk now (a Draft holds what is not yet)."""

    def __init__(self, content_dir: Path | str):
        self.dir = Path(content_dir).resolve()
        self._cache: dict[str, _Parsed] = {}
        self._loaded: tuple[str, KnowledgeBase | None] | None = None  # (version, its content) for review states
        self._load_lock = threading.Lock()

    # -- files ----------------------------------------------------------------------------------------------
    def version(self) -> str:
        return layout.content_version(self.dir)

    def read(self, rel: str) -> str | None:
        path = self.dir / rel
        return path.read_text(encoding="utf-8") if path.is_file() else None

    def _entries_of(self, rel: str) -> tuple[tuple[dict, int, str], ...]:
        path = self.dir / rel
        try:
            st = path.stat()
        except FileNotFoundError:
            return ()
        stamp = (st.st_mtime_ns, st.st_size, st.st_ino)  # a publish renames a new file in: a new inode
        cached = self._cache.get(rel)
        if cached is not None and cached.stamp == stamp:
            return cached.entries
        try:
            root = compose(path.read_text(encoding="utf-8"))
        except (yaml.YAMLError, UnicodeDecodeError):
            root = None
        nodes = [] if root is None else (root.value if isinstance(root, yaml.SequenceNode) else [root])
        entries = []
        for node in nodes:
            if isinstance(node, yaml.MappingNode):
                raw = to_plain(construct(node))
                if isinstance(raw.get("id"), str):
                    entries.append((raw, node.start_mark.line + 1, fold(" ".join([raw["id"], *_strings(raw)]))))
        self._cache[rel] = _Parsed(stamp, tuple(entries))
        return self._cache[rel].entries

    def _files(self, kind: str, retired: bool) -> list[str]:
        if kind == "faq":
            return [layout.RETIRED_FAQ] if retired else layout.faq_files(self.dir)
        if retired:
            return [f"{layout.RETIRED_GUIDES}/{p.name}" for p in sorted((self.dir / layout.RETIRED_GUIDES).glob("*.yaml"))]
        return layout.guide_files(self.dir)

    def _reviews(self, kb: KnowledgeBase | None) -> dict[str, ReviewItem] | None:
        """bot.freshness's review list of what is on disk (the same as `bot check --stale`), by "kind:id";
        None when the content does not load. `kb`: the live content, when the caller has it loaded."""
        version = self.version()
        if kb is None or kb.version != version:
            with self._load_lock:
                if self._loaded is None or self._loaded[0] != version:
                    try:
                        self._loaded = (version, load_knowledge(self.dir))
                    except ContentError:
                        self._loaded = (version, None)
                kb = self._loaded[1]
        if kb is None:
            return None
        return {item.key: item for item in review_list(kb, dt.date.today())}

    # -- entries --------------------------------------------------------------------------------------------
    def _rows(self, include_retired: bool, kb: KnowledgeBase | None = None) -> list[tuple[EntryInfo, str]]:
        reviews = self._reviews(kb)
        rows = []
        for retired in (False, True) if include_retired else (False,):
            for kind in layout.KINDS:
                for rel in self._files(kind, retired):
                    for raw, line, haystack in self._entries_of(rel):
                        vi, en = _titles(kind, raw)
                        reviewed = raw.get("reviewed")
                        review = reviews.get(f"{kind}:{raw['id']}") if reviews is not None else None
                        info = EntryInfo(
                            kind=kind,
                            id=raw["id"],
                            topic=raw.get("topic") if isinstance(raw.get("topic"), str) else None,
                            title_vi=vi,
                            title_en=en,
                            reviewed=str(reviewed) if reviewed is not None else None,
                            review_state=_state(retired, reviews, review),
                            retired=retired,
                            file=rel,
                            line=line,
                            review_reasons=review.reasons if review is not None and not retired else (),
                        )
                        rows.append((info, haystack))
        return rows

    def entries(self, include_retired: bool = False, kb: KnowledgeBase | None = None) -> list[EntryInfo]:
        """Every entry: FAQ entries then guides, in file order (retired ones last, when asked for). `kb`:
        the live content if the caller has it (else it is loaded once per version, for review states)."""
        return [info for info, _ in self._rows(include_retired, kb)]

    def search(
        self,
        text: str = "",
        topic: str | None = None,
        review_state: str | None = None,
        kind: str | None = None,
        include_retired: bool = False,
        kb: KnowledgeBase | None = None,
    ) -> list[EntryInfo]:
        """Entries whose id, phrasings, titles or texts contain every word of `text` (accents, case and
        punctuation ignored, so "quen mat khau" finds "Quên mật khẩu"), filtered by topic, review state
        ("ok", "due", "expired" as bot.freshness judges; "retired" lists retired entries) and kind."""
        words = fold(text).split()
        include_retired = include_retired or review_state == "retired"
        out = []
        for info, haystack in self._rows(include_retired, kb):
            if topic and info.topic != topic:
                continue
            if review_state and info.review_state != review_state:
                continue
            if kind and info.kind != kind:
                continue
            if all(w in haystack for w in words):
                out.append(info)
        return out

    def find(self, kind: str, entry_id: str, retired: bool = False) -> tuple[str, int, dict]:
        """(file, index in the file's list (0 for a guide), raw entry); NotFound when there is none."""
        if kind not in layout.KINDS:
            raise NotFound(kind, entry_id)
        if kind == "guide" and layout.valid_id(entry_id):
            rel = (layout.retired_guide_file if retired else layout.guide_file)(entry_id)
            found = self._entries_of(rel)
            if found and found[0][0].get("id") == entry_id:
                return rel, 0, found[0][0]
            raise NotFound(kind, entry_id)
        for rel in self._files(kind, retired):
            for index, (raw, _line, _text) in enumerate(self._entries_of(rel)):
                if raw.get("id") == entry_id:
                    return rel, index, raw
        raise NotFound(kind, entry_id)

    def get(self, kind: str, entry_id: str) -> dict:
        """The entry as its YAML has it (JSON-able; the API's {"entry": ...})."""
        return _copy(self.find(kind, entry_id)[2])

    def snapshot(self, kind: str, entry_id: str) -> tuple[dict, str]:
        """The entry and the content version it belongs to, read consistently (the API's GET): the
        version is read before and after the entry, so a publish in between cannot pair an old entry
        with the new version (which would let a later save overwrite that publish unnoticed)."""
        for _ in range(10):
            before = self.version()
            entry = self.get(kind, entry_id)
            if self.version() == before:
                return entry, before
        raise RuntimeError("the content keeps changing; try again")

    def get_retired(self, kind: str, entry_id: str) -> dict:
        return _copy(self.find(kind, entry_id, retired=True)[2])

    def exists(self, entry_id: str) -> bool:
        """Is the id used by any entry, FAQ or guide, live or retired (ids must stay unique across all)."""
        for kind in layout.KINDS:
            for retired in (False, True):
                try:
                    self.find(kind, entry_id, retired)
                    return True
                except NotFound:
                    continue
        return False

    def locality(self) -> dict:
        """locality.yaml as written (hotlines, offices, wards, working groups...)."""
        text = self.read(layout.LOCALITY)
        value = to_plain(construct(compose(text))) if text else {}
        return value if isinstance(value, dict) else {}


def _copy(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value
