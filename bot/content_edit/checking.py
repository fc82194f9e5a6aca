"""Would the content load with these files changed, and where is each problem, for an editor?

`check_with` runs exactly what `python -m bot check` runs (load_knowledge with every check: placeholders,
sizes per channel, near-duplicate phrasings, links between entries...) on a temporary copy of the content
folder with the changed files in place. The copy is named "content", so problems read
"content/faq/eid.yaml:212" as `bot check` prints them, and their lines are lines of the edited file.

`place` adds the field of an edited entry a problem's line falls in ("questions.vi.3", "answer.en",
"working_groups.4.ward"), from the node positions of the edited text (the loader reports lines only), so
the page can show each problem next to its field.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..knowledge import ContentError, KnowledgeBase, load_knowledge
from ..yamlsource import Problem
from . import layout
from .yamlpatch import field_at, field_lines

_MISSING = re.compile(r"missing '([A-Za-z_]+)'")
_UNKNOWN_KEY = re.compile(r"unknown key '([A-Za-z_]+)'")

Span = tuple[int, int, list[tuple[int, int, str]]]  # an edited entry's first and last line, and its fields


@dataclass(frozen=True)
class EditProblem:
    """One problem where the editor will see it: file and line as `bot check` prints them, and the field of
    the edited entry when the line is inside it."""

    file: str
    line: int
    message: str
    field: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"file": self.file, "line": self.line, "message": self.message, "field": self.field}


class Invalid(Exception):
    """The draft would not load (the API answers 422 with `problems`); nothing was written."""

    def __init__(self, problems: list[EditProblem]):
        self.problems = problems
        super().__init__("; ".join(f"{p.file}:{p.line}: {p.message}" for p in problems))

    def to_dict(self) -> dict[str, Any]:
        return {"problems": [p.to_dict() for p in self.problems]}


@dataclass
class Validation:
    problems: list[EditProblem]
    kb: KnowledgeBase | None  # the draft's content, when it loads

    @property
    def ok(self) -> bool:
        return not self.problems


def _ignore(root: Path):
    """retired/ (never loaded) and hidden files (a publish's temporary files) stay out of the copy."""

    def ignore(folder: str, names: list[str]) -> set[str]:
        skipped = {n for n in names if n.startswith(".")}
        if Path(folder).resolve() == root:
            skipped |= {layout.RETIRED_DIR} & set(names)
        return skipped

    return ignore


def check_with(content_dir: Path, files: dict[str, str | None]) -> tuple[KnowledgeBase | None, list[Problem]]:
    """load_knowledge on a copy of `content_dir` with `files` (relative path -> text, None: removed)."""
    with tempfile.TemporaryDirectory(prefix="digiguide-draft-") as tmp:
        target = Path(tmp) / "content"
        shutil.copytree(content_dir, target, ignore=_ignore(content_dir.resolve()))
        for rel, text in files.items():
            if rel.startswith(f"{layout.RETIRED_DIR}/"):
                continue
            path = target / rel
            if text is None:
                path.unlink(missing_ok=True)
            else:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(text, encoding="utf-8")
        try:
            return load_knowledge(target), []
        except ContentError as exc:
            return None, list(exc.problems)


def entry_span(text: str, index: int | None) -> Span:
    """The lines and fields of FAQ item `index` of a file, or of the whole file (a guide, locality.yaml)."""
    lines = field_lines(text)
    if index is None:
        return 1, text.count("\n") + 1, lines
    own = next((a, b) for a, b, f in lines if f == str(index))
    prefix = f"{index}."
    return own[0], own[1], [(a, b, f[len(prefix) :]) for a, b, f in lines if f.startswith(prefix)]


def place(problems: list[Problem], spans: dict[str, list[Span]]) -> list[EditProblem]:
    """Each loader problem, with the field of an edited entry (spans per relative file) it falls in."""
    out = []
    for p in problems:
        rel = p.file[len("content/") :] if p.file.startswith("content/") else p.file
        field_name = None
        for first, last, fields in spans.get(rel, []):
            if first <= p.line <= last:
                field_name = field_of(fields, p.line, p.message)
                break
        out.append(EditProblem(p.file, p.line, p.message, field_name))
    return out


def field_of(fields: list[tuple[int, int, str]], line: int, message: str) -> str | None:
    """The field a problem is about: the deepest one at its line, or, for "missing 'x'" and "unknown key
    'x'" (reported at the line of the mapping that lacks or has it), that key beside its siblings."""
    found = field_at(fields, line)
    named = _MISSING.search(message) or _UNKNOWN_KEY.search(message)
    if named is None:
        return found
    parent = found.rsplit(".", 1)[0] if found and "." in found else ""
    return f"{parent}.{named.group(1)}" if parent else named.group(1)
