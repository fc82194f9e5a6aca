"""A draft: edits to the content that are not published yet, and whether they would load.

A draft holds new texts for the files it changes, built with bot.content_edit.yamlpatch (so everything an
edit does not touch stays byte-identical). `validate` runs exactly what `python -m bot check` runs,
load_knowledge with every check, on a temporary copy of the content folder with the draft's files in
place, and returns each problem with its file and line *in the edited file*, and, for the entries the
draft changed, the field the line belongs to ("questions.vi.3", "answer.en"), so the editor sees each
problem next to its field (bot.content_edit.checking). The draft's KnowledgeBase, when valid, is what the
"try a question", preview and impact views run on.

Retiring moves the entry to retired/ (see bot.content_edit.layout): the loader never reads that folder,
so a retired entry is gone for the bot and kept, byte for byte, for a later restore.
"""

from __future__ import annotations

import difflib
import textwrap
from dataclasses import dataclass, field
from typing import Any, Sequence

import yaml

from ..knowledge import TOPIC_IDS, KnowledgeBase
from . import layout
from .checking import EditProblem, Invalid, Span, Validation, check_with, entry_span, place
from .repo import ContentRepo, NotFound
from .yamlpatch import PatchError, compose, construct, delete_in, insert_raw_item, node_text, norm, patch_text, render_document, to_plain

ACTIONS = ("create", "edit", "retire", "restore", "remove", "revert", "locality")


@dataclass
class Change:
    """What happens to one entry (or to locality.yaml): its YAML before and after, as revisions keep it."""

    kind: str  # faq | guide | locality
    entry_id: str | None
    action: str  # one of ACTIONS
    file: str  # where the entry is after the change (before it, for a retirement's source)
    before: str | None  # YAML of the entry (the whole file for a guide or locality.yaml); None: did not exist
    after: str | None
    files: list[str] = field(default_factory=list)  # every file this change writes
    meta: dict[str, Any] = field(default_factory=dict)  # e.g. {"position": 3} where a retired FAQ entry stood


def parse_path(path: str | Sequence[str | int]) -> tuple[str | int, ...]:
    """"hotlines.vneid.number" or "wards.2.name.vi" (numbers index lists) as a path tuple."""
    parts = path.split(".") if isinstance(path, str) else list(path)
    return tuple(int(p) if isinstance(p, str) and p.isdigit() else p for p in parts)


def _entry_from_text(kind: str, text: str | None) -> dict | None:
    if text is None:
        return None
    value = to_plain(yaml.safe_load(text))
    if kind == "faq":
        return value[0] if isinstance(value, list) and value else None
    return value if isinstance(value, dict) else None


class Draft:
    """Edits on top of the content version `base_version` (the version the editor opened)."""

    def __init__(self, repo: ContentRepo, base_version: str | None = None):
        self.repo = repo
        self.base_version = base_version or repo.version()
        self._files: dict[str, str | None] = {}  # relative path -> new text (None: the file goes)
        self.originals: dict[str, str | None] = {}  # the same files as they were read from disk
        self._changes: dict[tuple[str, str | None], Change] = {}
        self._validation: tuple[tuple, Validation] | None = None

    # -- files ------------------------------------------------------------------------------------------------
    def text(self, rel: str) -> str | None:
        if rel in self._files:
            return self._files[rel]
        return self.repo.read(rel)

    def _write(self, rel: str, text: str | None) -> None:
        if not layout.safe_rel(rel):
            raise Invalid([EditProblem(f"content/{rel}", 1, "not a content file this editor may write")])
        if rel not in self.originals:
            self.originals[rel] = self.repo.read(rel)
        self._files[rel] = text

    @property
    def files(self) -> dict[str, str | None]:
        return dict(self._files)

    @property
    def changes(self) -> list[Change]:
        return list(self._changes.values())

    def diff(self, rels: Sequence[str] | None = None) -> str:
        """A unified diff of the changed files (all, or `rels`), as a reviewer reads it."""
        out = []
        for rel in rels or sorted(self._files):
            before, after = self.originals.get(rel), self._files.get(rel)
            if before == after:
                continue
            out.extend(
                difflib.unified_diff(
                    (before or "").splitlines(keepends=True),
                    (after or "").splitlines(keepends=True),
                    fromfile=f"a/content/{rel}" if before is not None else "/dev/null",
                    tofile=f"b/content/{rel}" if after is not None else "/dev/null",
                )
            )
        return "".join(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n" for line in out)

    # -- locating entries in the draft ------------------------------------------------------------------------
    def _faq_files(self) -> list[str]:
        names = set(layout.faq_files(self.repo.dir)) | {r for r in self._files if r.startswith(f"{layout.FAQ_DIR}/")}
        return sorted(r for r in names if self.text(r) is not None)

    @staticmethod
    def _compose(text: str, rel: str = ""):
        """The node tree; a file broken by hand becomes the editor's problem, with its line, not a crash."""
        try:
            return compose(text)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            raise Invalid([EditProblem(f"content/{rel}", mark.line + 1 if mark else 1, f"YAML syntax: {getattr(exc, 'problem', None) or exc}")]) from exc

    @classmethod
    def _index_of(cls, text: str | None, entry_id: str, rel: str = "") -> int | None:
        if not text:
            return None
        root = cls._compose(text, rel)
        if not isinstance(root, yaml.SequenceNode):
            return None
        for i, node in enumerate(root.value):
            if isinstance(node, yaml.MappingNode) and any(k.value == "id" and getattr(v, "value", None) == entry_id for k, v in node.value):
                return i
        return None

    def locate(self, kind: str, entry_id: str, retired: bool = False) -> tuple[str, int] | None:
        """(file, index) of a live (or retired) entry in the draft, None when there is none."""
        if kind == "guide":
            if not layout.valid_id(entry_id):
                return None
            rel = (layout.retired_guide_file if retired else layout.guide_file)(entry_id)
            value = self._value(rel)
            return (rel, 0) if isinstance(value, dict) and value.get("id") == entry_id else None
        if kind != "faq":
            return None
        for rel in [layout.RETIRED_FAQ] if retired else self._faq_files():
            index = self._index_of(self.text(rel), entry_id, rel)
            if index is not None:
                return rel, index
        return None

    def _value(self, rel: str) -> Any:
        text = self.text(rel)
        return to_plain(construct(self._compose(text, rel))) if text else None

    def current(self, kind: str, entry_id: str, retired: bool = False) -> dict | None:
        """The entry as the draft has it (plain, JSON-able), None when there is none."""
        found = self.locate(kind, entry_id, retired)
        if found is None:
            return None
        rel, index = found
        value = self._value(rel)
        return value[index] if kind == "faq" else value

    def _entry_text(self, kind: str, rel: str, index: int) -> str:
        text = self.text(rel) or ""
        return text if kind == "guide" else textwrap.dedent(node_text(text, (index,)))

    def _record(self, kind: str, entry_id: str | None, action: str, file: str, before: str | None, after: str | None, files: list[str], meta: dict | None = None) -> Change:
        key = (kind, entry_id)
        old = self._changes.get(key)
        if old is not None:  # several edits of one entry in one draft: one change, from the first state to the last
            before = old.before
            action = old.action if action == "edit" else action
            files = sorted(set(old.files) | set(files))
            meta = {**old.meta, **(meta or {})}
        change = Change(kind, entry_id, action, file, before, after, sorted(set(files)), meta or {})
        self._changes[key] = change
        self._validation = None
        return change

    @staticmethod
    def _problem(rel: str, message: str, field_name: str | None = None) -> Invalid:
        return Invalid([EditProblem(f"content/{rel}", 1, message, field_name)])

    @staticmethod
    def _patched(rel: str, text: str, new: Any, path: tuple = ()) -> str:
        try:
            return patch_text(text, new, path)
        except PatchError as exc:
            raise Invalid([EditProblem(f"content/{rel}", 1, str(exc))]) from exc

    @staticmethod
    def _checked_entry(kind: str, entry: Any, entry_id: str | None) -> dict:
        if not isinstance(entry, dict) or not entry:
            raise Invalid([EditProblem("content/", 1, f"the {kind} entry must be a mapping of its YAML keys")])
        bad = [k for k in entry if not isinstance(k, str) or not k]
        if bad:
            raise Invalid([EditProblem("content/", 1, f"keys must be non-empty texts, not {bad[0]!r}")])
        if entry_id is not None:
            if entry.get("id", entry_id) != entry_id:
                raise Invalid([EditProblem("content/", 1, f"the id cannot change ({entry_id!r}): create a new entry and retire this one", "id")])
            entry = {"id": entry_id, **entry} if "id" not in entry else entry
        return entry

    # -- edits ------------------------------------------------------------------------------------------------
    def apply(self, kind: str, entry_id: str, entry: dict) -> Change:
        """Replace a live entry by `entry` (its YAML keys); only the values that differ are rewritten."""
        entry = self._checked_entry(kind, entry, entry_id)
        found = self.locate(kind, entry_id)
        if found is None:
            raise NotFound(kind, entry_id)
        rel, index = found
        text = self.text(rel) or ""
        before = self._entry_text(kind, rel, index)
        new_text = self._patched(rel, text, entry, (index,) if kind == "faq" else ())
        self._write(rel, new_text)
        return self._record(kind, entry_id, "edit", rel, before, self._entry_text(kind, rel, index), [rel])

    def create(self, kind: str, entry: dict, file: str | None = None) -> Change:
        """A new entry: an FAQ entry at the end of faq/<topic>.yaml (or `file`), a guide as guides/<id>.yaml."""
        entry = self._checked_entry(kind, entry, None)
        entry_id = entry.get("id")
        if not layout.valid_id(entry_id):
            raise Invalid([EditProblem("content/", 1, f"id {entry_id!r} must be lowercase letters, digits and '-', at most 32 characters", "id")])
        if self.repo.exists(entry_id) or any(self.locate(k, entry_id, r) for k in layout.KINDS for r in (False, True)):
            raise Invalid([EditProblem("content/", 1, f"id {entry_id!r} is already used (by a live or a retired entry)", "id")])
        if kind == "guide":
            rel = layout.guide_file(entry_id)
            template = self._template_guide()
            text = render_document(entry, self._compose(template, layout.guide_files(self.repo.dir)[0]) if template else None)
            self._write(rel, self._patched(rel, text, entry))
            return self._record(kind, entry_id, "create", rel, None, self.text(rel), [rel])
        if kind != "faq":
            raise NotFound(kind, entry_id)
        topic = entry.get("topic")
        if file is None:
            if topic not in TOPIC_IDS:
                raise Invalid([EditProblem("content/faq/", 1, f"unknown topic {topic!r} (use one of: {', '.join(TOPIC_IDS)})", "topic")])
            file = f"{layout.FAQ_DIR}/{topic}.yaml"
        if not file.startswith(f"{layout.FAQ_DIR}/"):
            raise Invalid([EditProblem(f"content/{file}", 1, "an FAQ entry goes into a file under faq/")])
        text = self.text(file) or ""
        items = (construct(self._compose(text, file)) if text.strip() else None) or []
        if not isinstance(items, list):
            raise Invalid([EditProblem(f"content/{file}", 1, "an FAQ file must be a list of entries")])
        self._write(file, self._patched(file, text, entry, (len(items),)) if items else self._patched(file, "", [entry]))
        return self._record(kind, entry_id, "create", file, None, self._entry_text(kind, file, len(items)), [file])

    def _template_guide(self) -> str | None:
        """A guide to copy styles from (quotes, one-line titles), so a new guide looks like the others."""
        names = layout.guide_files(self.repo.dir)
        return self.text(names[0]) if names else None

    def retire(self, kind: str, entry_id: str) -> Change:
        """Take a live entry out of the bot: it moves, unchanged, to retired/."""
        found = self.locate(kind, entry_id)
        if found is None:
            raise NotFound(kind, entry_id)
        rel, index = found
        before = self._entry_text(kind, rel, index)
        if kind == "guide":
            target = layout.retired_guide_file(entry_id)
            self._write(target, self.text(rel))
            self._write(rel, None)
            return self._record(kind, entry_id, "retire", rel, before, None, [rel, target], {"from": rel})
        text = self.text(rel) or ""
        items = construct(self._compose(text, rel))
        target = layout.RETIRED_FAQ
        retired = self.text(target) or ""
        try:
            retired_new = insert_raw_item(retired, 1 << 30, before)
        except PatchError as exc:
            raise Invalid([EditProblem(f"content/{target}", 1, str(exc))]) from exc
        self._write(target, retired_new if retired.strip() else _RETIRED_HEADER + retired_new)
        rest = items[:index] + items[index + 1 :]
        self._write(rel, self._patched(rel, text, rest) if rest else None)  # its last entry gone: so is the file
        return self._record(kind, entry_id, "retire", rel, before, None, [rel, target], {"from": rel, "position": index})

    def restore(self, kind: str, entry_id: str, file: str | None = None, position: int | None = None) -> Change:
        """Bring a retired entry back, unchanged, where it was (`file`, `position`) or at the end of
        faq/<topic>.yaml."""
        found = self.locate(kind, entry_id, retired=True)
        if found is None:
            raise NotFound(kind, entry_id)
        if self.locate(kind, entry_id) is not None:
            raise Invalid([EditProblem("content/", 1, f"{entry_id!r} is live already", "id")])
        rel, index = found
        item_text = self._entry_text(kind, rel, index)
        if kind == "guide":
            target = layout.guide_file(entry_id)
            self._write(target, self.text(rel))
            self._write(rel, None)
            return self._record(kind, entry_id, "restore", target, None, item_text, [rel, target])
        retired = self.text(rel) or ""
        items = construct(self._compose(retired, rel))
        entry = items[index]
        target = file if file and file.startswith(f"{layout.FAQ_DIR}/") else f"{layout.FAQ_DIR}/{entry.get('topic')}.yaml"
        if not layout.safe_rel(target):
            raise Invalid([EditProblem("content/faq/", 1, f"unknown topic {entry.get('topic')!r}", "topic")])
        text = self.text(target) or ""
        try:
            new = insert_raw_item(text, position if position is not None else 1 << 30, item_text)
        except PatchError as exc:
            raise Invalid([EditProblem(f"content/{target}", 1, str(exc))]) from exc
        self._write(target, new)
        rest = items[:index] + items[index + 1 :]
        self._write(rel, self._patched(rel, retired, rest) if rest else _RETIRED_HEADER)
        new_index = self._index_of(new, entry_id) or 0
        return self._record(kind, entry_id, "restore", target, None, self._entry_text(kind, target, new_index), [rel, target])

    def remove(self, kind: str, entry_id: str) -> Change:
        """Delete a live entry outright (undoing its creation: its text stays in the revision history)."""
        found = self.locate(kind, entry_id)
        if found is None:
            raise NotFound(kind, entry_id)
        rel, index = found
        before = self._entry_text(kind, rel, index)
        if kind == "guide":
            self._write(rel, None)
        else:
            items = construct(self._compose(self.text(rel) or "", rel))
            rest = items[:index] + items[index + 1 :]
            self._write(rel, self._patched(rel, self.text(rel) or "", rest) if rest else None)
        return self._record(kind, entry_id, "remove", rel, before, None, [rel], {"from": rel, "position": index})

    def reinsert(self, kind: str, entry_text: str, file: str, position: int | None = None) -> Change:
        """Put back an entry from its YAML text (a revision's "before"), byte for byte, at `position`."""
        entry = _entry_from_text(kind, entry_text)
        entry_id = entry.get("id") if isinstance(entry, dict) else None
        if not layout.valid_id(entry_id) or not layout.safe_rel(file):
            raise Invalid([EditProblem(f"content/{file}", 1, "the saved entry cannot be read back")])
        if any(self.locate(k, entry_id, r) for k in layout.KINDS for r in (False, True)):
            raise Invalid([EditProblem(f"content/{file}", 1, f"id {entry_id!r} is already used", "id")])
        if kind == "guide":
            self._write(layout.guide_file(entry_id), entry_text)
            return self._record(kind, entry_id, "create", layout.guide_file(entry_id), None, entry_text, [layout.guide_file(entry_id)])
        try:
            new = insert_raw_item(self.text(file) or "", position if position is not None else 1 << 30, entry_text)
        except PatchError as exc:
            raise Invalid([EditProblem(f"content/{file}", 1, str(exc))]) from exc
        self._write(file, new)
        index = self._index_of(new, entry_id) or 0
        return self._record(kind, entry_id, "create", file, None, self._entry_text(kind, file, index), [file])

    def set_locality(self, path: str | Sequence[str | int], value: Any) -> Change:
        """Set one value of locality.yaml ("hotlines.vneid.number", "wards.5" to add a ward...)."""
        parts = parse_path(path)
        if not parts:
            raise self._problem(layout.LOCALITY, "name the value to change, e.g. hotlines.vneid.number", "")
        return self._locality(parts, value, delete=False)

    def delete_locality(self, path: str | Sequence[str | int]) -> Change:
        """Remove one value of locality.yaml (a ward, a working group...)."""
        parts = parse_path(path)
        if not parts:
            raise self._problem(layout.LOCALITY, "name the value to remove", "")
        return self._locality(parts, None, delete=True)

    def replace_locality(self, locality: dict) -> Change:
        """All of locality.yaml at once (for a revert): still only the values that differ are rewritten."""
        if not isinstance(locality, dict):
            raise self._problem(layout.LOCALITY, "locality must be a mapping")
        return self._locality((), locality, delete=False)

    def _locality(self, parts: tuple, value: Any, delete: bool) -> Change:
        rel = layout.LOCALITY
        text = self.text(rel) or ""
        dotted = ".".join(str(p) for p in parts)
        try:
            if delete:
                new = self._patched(rel, text, delete_in(to_plain(construct(self._compose(text, rel))), parts))
            else:
                new = self._patched(rel, text, value, parts)
        except (KeyError, IndexError, TypeError) as exc:
            raise self._problem(rel, f"there is no {dotted!r} in locality.yaml", dotted or None) from exc
        self._write(rel, new)
        old = self._changes.get(("locality", None))
        paths = sorted({*(old.meta.get("paths", []) if old else []), dotted or "*"})
        return self._record("locality", None, "locality", rel, text, new, [rel], {"paths": paths})

    # -- validation -------------------------------------------------------------------------------------------
    def validate(self) -> Validation:
        """What `bot check` says about the content with this draft in place (kept until the draft changes)."""
        stamp = tuple(sorted((k, hash(v)) for k, v in self._files.items()))
        if self._validation is not None and self._validation[0] == stamp:
            return self._validation[1]
        kb, problems = check_with(self.repo.dir, self._files)
        placed = place(problems, self._spans()) if problems else []
        result = Validation(placed, kb)
        self._validation = (stamp, result)
        return result

    def kb(self) -> KnowledgeBase:
        """The draft's content; Invalid when it does not load."""
        result = self.validate()
        if result.kb is None:
            raise Invalid(result.problems)
        return result.kb

    def _spans(self) -> dict[str, list[Span]]:
        """Where the entries this draft changed now stand, per file (for placing problems at fields)."""
        spans: dict[str, list[Span]] = {}
        for change in self._changes.values():
            text = self.text(change.file)
            if not text or change.file.startswith(f"{layout.RETIRED_DIR}/") or change.after is None:
                continue
            index = self._index_of(text, change.entry_id or "") if change.kind == "faq" else None
            if change.kind == "faq" and index is None:
                continue
            try:
                spans.setdefault(change.file, []).append(entry_span(text, index))
            except (yaml.YAMLError, StopIteration):
                continue
        return spans


_RETIRED_HEADER = (
    "# Retired FAQ entries: the bot no longer uses them (the loader never reads retired/).\n"
    "# Each keeps its text as it was; bring one back from its revision in the dashboard.\n\n"
)


def entry_state(kind: str, text: str | None) -> dict | None:
    """The entry a revision's YAML text holds (None for "did not exist")."""
    return _entry_from_text(kind, text)


def same_entry(a: Any, b: Any) -> bool:
    return norm(a) == norm(b)
