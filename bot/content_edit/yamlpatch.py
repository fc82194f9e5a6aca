"""Change a YAML file's text in place: only the lines whose values changed are rewritten.

Why not dump the whole document with ruamel.yaml's round-trip mode: the content files mix indentation
styles (FAQ entries start `- id:` at column 0 while their lists are indented under their keys; some guides
indent one list and not the next), and one indentation setting cannot reproduce them all: a plain
load-and-dump of the unchanged content rewrote 20 of its 39 files. So the text itself is kept: the file is
composed (PyYAML's C parser gives every node's start and end), the wanted value is compared with the old
one node by node, and only what differs is rendered anew, by ruamel.yaml in the style of the node it
replaces (quoted, block literal, flow mapping, the list indentation of that block) and in YAML 1.1, so
that `yes` or `0123` come out quoted for the loader (PyYAML reads YAML 1.1). Comments, blank lines, key
order and every untouched line stay byte-identical. The result is parsed again and must read back as the
value asked for, else `PatchError`: nothing is written that would load as something else.
"""

from __future__ import annotations

import datetime as dt
import functools
import io
import json
import re
from dataclasses import dataclass
from difflib import SequenceMatcher
from typing import Any, Sequence

import yaml
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.scalarstring import DoubleQuotedScalarString, LiteralScalarString, SingleQuotedScalarString
from yaml.constructor import SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
DATE_KEYS = frozenset({"reviewed", "valid_until", "checked", "since"})  # their ISO strings are written as dates
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
DEFAULT_OFFSET = 2  # dash of a list item, counted from its key's column, when the file shows no list to copy

Path = tuple[str | int, ...]


class PatchError(ValueError):
    """The value cannot be written as YAML that reads back the same (a message for the editor)."""


@dataclass(frozen=True)
class _Edit:
    start: int
    end: int
    text: str


# -- reading ------------------------------------------------------------------------------------------------
def compose(text: str) -> Node | None:
    """The node tree of a document, positions included (raises yaml.YAMLError on bad syntax)."""
    return yaml.compose(text, Loader=_Loader)


def construct(node: Node | None) -> Any:
    """The value the loader sees for a node (dates as dates)."""
    return None if node is None else SafeConstructor().construct_document(node)


def to_plain(value: Any) -> Any:
    """JSON-able: dates as YYYY-MM-DD, keys as strings, everything else as it is."""
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): to_plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [to_plain(v) for v in value]
    return value


def norm(value: Any) -> Any:
    """What counts when comparing an old value with an edited one: the loader strips texts, and a date
    and its YYYY-MM-DD text are the same thing."""
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, dict):
        return {str(k): norm(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [norm(v) for v in value]
    return value


_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def clean_value(value: Any) -> Any:
    """Texts as a YAML file can hold them: line ends as "\n" (a browser's textarea may send "\r\n") and
    no invisible control characters."""
    if isinstance(value, str):
        return _CONTROL.sub("", value.replace("\r\n", "\n").replace("\r", "\n"))
    if isinstance(value, dict):
        return {k: clean_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [clean_value(v) for v in value]
    return value


def _key(value: Any) -> str:
    return json.dumps(norm(value), sort_keys=True, ensure_ascii=False, default=str)


def node_at(root: Node | None, path: Path) -> Node:
    """The node at `path` (mapping keys and list indexes); KeyError when there is none."""
    node = root
    for part in path:
        if isinstance(node, MappingNode):
            node = next((v for k, v in node.value if k.value == part), None)
        elif isinstance(node, SequenceNode) and isinstance(part, int) and 0 <= part < len(node.value):
            node = node.value[part]
        else:
            node = None
        if node is None:
            raise KeyError(path)
    if node is None:
        raise KeyError(path)
    return node


# -- positions ----------------------------------------------------------------------------------------------
class _Text:
    def __init__(self, text: str):
        self.text = text

    def line_start(self, i: int) -> int:
        return self.text.rfind("\n", 0, i) + 1

    def line_end(self, i: int) -> int:
        j = self.text.find("\n", i)
        return len(self.text) if j < 0 else j

    def end(self, node: Node) -> int:
        """Index just after the node's last character (block collections end where their last child does;
        trailing blank lines of a block literal are not part of it here)."""
        if isinstance(node, (MappingNode, SequenceNode)) and not node.flow_style and node.value:
            last = node.value[-1]
            return self.end(last[1] if isinstance(node, MappingNode) else last)
        start, end = node.start_mark.index, node.end_mark.index
        while end > start and self.text[end - 1] in " \t\r\n":
            end -= 1
        return end

    def dash(self, item: Node) -> int:
        """Index of the `-` that opens a block list item."""
        i = item.start_mark.index - 1
        while i >= 0 and self.text[i] in " \t":
            i -= 1
        if i >= 0 and self.text[i] == "-":
            return i
        return max(self.line_start(item.start_mark.index), item.start_mark.index - 2)

    def column(self, i: int) -> int:
        return i - self.line_start(i)

    def blank_separated(self, items: Sequence[Node]) -> bool:
        """Are the list's items separated by a blank line (as FAQ entries are)?"""
        if len(items) < 2:
            return False
        gap = self.text[self.line_end(self.end(items[0])) : self.line_start(self.dash(items[1]))]
        return "\n\n" in gap

    def guess_offset(self, node: Node | None, default: int) -> int:
        """Columns from a key to the dash of its list, as the first block list under `node` has them."""
        if isinstance(node, MappingNode) and not node.flow_style:
            for k, v in node.value:
                if isinstance(v, SequenceNode) and not v.flow_style and v.value:
                    return max(0, self.column(self.dash(v.value[0])) - k.start_mark.column)
                found = self.guess_offset(v, -1)
                if found >= 0:
                    return found
        if isinstance(node, SequenceNode) and not node.flow_style:
            for item in node.value:
                found = self.guess_offset(item, -1)
                if found >= 0:
                    return found
        return default


# -- rendering ----------------------------------------------------------------------------------------------
@functools.lru_cache(maxsize=4)
def _dumper(offset: int) -> YAML:
    y = YAML(typ="rt")
    y.version = (1, 1)  # quote what PyYAML (YAML 1.1) would read as a bool, a number or a date
    y.width = 4096  # never fold a long line: editors and diffs read lines
    y.indent(mapping=2, sequence=offset + 2, offset=offset)
    return y


def _dump(data: CommentedMap, offset: int) -> str:
    buf = io.StringIO()
    _dumper(offset).dump(data, buf)
    out = buf.getvalue()
    out = out.split("---\n", 1)[1] if out.startswith("%YAML") else out  # the 1.1 directive is not ours to keep
    return out.rstrip("\n")


def _indent(text: str, col: int) -> str:
    """Continuation lines moved to `col` (the first line is placed by the caller; empty lines stay empty)."""
    pad = " " * col
    lines = text.split("\n")
    return "\n".join([lines[0], *[pad + line if line else line for line in lines[1:]]])


def _children(hint: Node | None) -> dict[Any, Node]:
    return {k.value: v for k, v in hint.value} if isinstance(hint, MappingNode) else {}


def _set_flow(data: CommentedMap | CommentedSeq, flow: bool) -> None:
    if flow:
        data.fa.set_flow_style()
    else:
        data.fa.set_block_style()


def styled(value: Any, hint: Node | None = None, key: Any = None) -> Any:
    """`value` as ruamel objects carrying the style of `hint`, the node it replaces or a sibling of it."""
    if isinstance(value, dict):
        kids = _children(hint)
        out = CommentedMap()
        for k, v in value.items():
            out[k] = styled(v, kids.get(k), k)
        flow = isinstance(hint, MappingNode) and hint.flow_style and not any(isinstance(v, LiteralScalarString) for v in out.values())
        _set_flow(out, bool(flow))
        return out
    if isinstance(value, (list, tuple)):
        items = hint.value if isinstance(hint, SequenceNode) else []
        out = CommentedSeq()
        for i, v in enumerate(value):
            item_hint = items[i] if i < len(items) else (items[-1] if items else None)
            out.append(styled(v, item_hint))
            if isinstance(v, (list, tuple)):
                out[-1].fa.set_flow_style()  # a list in a list: kept on one line
        flow = isinstance(hint, SequenceNode) and hint.flow_style and not any(isinstance(v, LiteralScalarString) for v in out)
        _set_flow(out, bool(flow))
        return out
    if isinstance(value, str):
        text = value.strip()
        was_date = isinstance(hint, ScalarNode) and hint.tag == "tag:yaml.org,2002:timestamp"
        if (key in DATE_KEYS or was_date) and _DATE.match(text):
            try:
                return dt.date.fromisoformat(text)
            except ValueError:
                pass
        style = hint.style if isinstance(hint, ScalarNode) else None
        if "\n" in text or (style in ("|", ">") and text):
            return LiteralScalarString(text + "\n")
        if style == '"':
            return DoubleQuotedScalarString(text)
        if style == "'":
            return SingleQuotedScalarString(text)
        return text
    return value


def render_pair(key: Any, value: Any, col: int, hint: Node | None, offset: int) -> str:
    """`key: value` for a mapping whose keys are at `col` (no trailing newline)."""
    data = CommentedMap()
    data[key] = styled(value, hint, key)
    return _indent(_dump(data, offset), col)


def render_item(value: Any, col: int, hint: Node | None, offset: int) -> str:
    """A list item's value as it follows its `- `, its own lines at `col` (no trailing newline)."""
    data = styled(value, hint)
    if isinstance(data, CommentedMap) and data and not data.fa.flow_style():
        return _indent(_dump(data, offset), col)
    if isinstance(data, CommentedSeq):
        data.fa.set_flow_style()
    text = _dump(CommentedMap([("k", data)]), offset)
    return _indent(text[2:].lstrip(" "), col)


def render_document(value: Any, hint: Node | None = None, offset: int = DEFAULT_OFFSET, blank_lines: bool = True) -> str:
    """A whole new file: a mapping, or a list of entries (one blank line between them, as in faq/)."""
    if isinstance(value, list):
        items = hint.value if isinstance(hint, SequenceNode) else []
        parts = ["- " + render_item(v, 2, items[0] if items else None, offset) for v in value]
        return ("\n\n" if blank_lines else "\n").join(parts) + "\n"
    return _dump(CommentedMap([("k", None)]) if value is None else styled(value, hint), offset) + "\n"


# -- patching -----------------------------------------------------------------------------------------------
class _Patcher:
    def __init__(self, text: str, root: Node | None):
        self.t = _Text(text)
        self.offset = self.t.guess_offset(root, DEFAULT_OFFSET)
        self.edits: list[_Edit] = []

    def node(self, node: Node, new: Any, hint: Node | None = None) -> bool:
        """Edits that turn `node` into `new`; False when the node must be rendered whole by its parent."""
        if _key(construct(node)) == _key(new):
            return True
        if isinstance(node, MappingNode) and not node.flow_style and isinstance(new, dict) and new:
            self.mapping(node, new)
            return True
        if isinstance(node, SequenceNode) and not node.flow_style and isinstance(new, (list, tuple)) and new:
            self.sequence(node, list(new))
            return True
        return False

    def _offset(self, node: Node | None) -> int:
        return self.t.guess_offset(node, self.offset)

    def mapping(self, node: MappingNode, new: dict) -> None:
        t = self.t
        pairs = node.value
        col = pairs[0][0].start_mark.column
        for n, (k, v) in enumerate(pairs):
            if k.value not in new:
                self.delete_pair(pairs, n)
            elif not self.node(v, new[k.value]):
                wrapper = MappingNode("tag:yaml.org,2002:map", [(k, v)])
                self.replace(k.start_mark.index, t.end(v), render_pair(k.value, new[k.value], col, v, self._offset(wrapper)))
        old = {k.value for k, _ in pairs}
        added = [k for k in new if k not in old]
        if added:
            at = t.line_end(t.end(pairs[-1][1]))
            text = "".join("\n" + " " * col + render_pair(k, new[k], col, None, self.offset) for k in added)
            self.edits.append(_Edit(at, at, text))

    def replace(self, start: int, end: int, rendered: str) -> None:
        """Replace text[start:end]; a comment after it on its line stays on the first line of the new text
        (`code: |  # comment`), never inside a block that now follows."""
        t = self.t
        line_end = t.line_end(end)
        tail = t.text[end:line_end]
        if "\n" in rendered and tail.strip().startswith("#"):
            first, rest = rendered.split("\n", 1)
            rendered, end = f"{first}{tail}\n{rest}", line_end
        self.edits.append(_Edit(start, end, rendered))

    def delete_pair(self, pairs: list, n: int) -> None:
        t = self.t
        k, v = pairs[n]
        start = t.line_start(k.start_mark.index)
        if t.text[start : k.start_mark.index].strip():  # `- key:` opens a list item: keep the dash
            if n + 1 < len(pairs):
                self.edits.append(_Edit(k.start_mark.index, pairs[n + 1][0].start_mark.index, ""))
            return
        self.edits.append(_Edit(start, min(len(t.text), t.line_end(t.end(v)) + 1), ""))

    def sequence(self, node: SequenceNode, new: list) -> None:
        t = self.t
        items = node.value
        spaced = t.blank_separated(items)
        matcher = SequenceMatcher(None, [_key(construct(i)) for i in items], [_key(v) for v in new], autojunk=False)
        for op, i1, i2, j1, j2 in matcher.get_opcodes():
            if op == "equal":
                continue
            pairs = min(i2 - i1, j2 - j1)
            for i, j in zip(range(i1, i1 + pairs), range(j1, j1 + pairs)):
                if not self.node(items[i], new[j]):
                    col = items[i].start_mark.column
                    self.replace(items[i].start_mark.index, t.end(items[i]), render_item(new[j], col, items[i], self._offset(items[i])))
            for i in range(i1 + pairs, i2):
                self.delete_item(items, i, spaced)
            if j1 + pairs < j2:
                self.insert_items(items, i1 + pairs, new[j1 + pairs : j2], spaced)

    def delete_item(self, items: list[Node], i: int, spaced: bool) -> None:
        t = self.t
        text = t.text
        start = t.line_start(t.dash(items[i]))
        end = min(len(text), t.line_end(t.end(items[i])) + 1)
        prev_blank = start >= 2 and text[start - 2 : start] == "\n\n"
        if spaced and prev_blank and text[end : end + 1] == "\n":
            end += 1  # one blank line stays between the neighbours
        elif spaced and prev_blank and end >= len(text):
            start -= 1
        self.edits.append(_Edit(start, end, ""))

    def insert_items(self, items: list[Node], at: int, values: list, spaced: bool) -> None:
        """Insert before items[at] (after the last item when `at` is past the end)."""
        t = self.t
        sep = "\n\n" if spaced else "\n"
        anchor = items[min(at, len(items) - 1)]
        dash_col = t.column(t.dash(anchor))
        hint = items[min(at, len(items) - 1)]
        offset = self._offset(hint)
        rendered = ["- " + render_item(v, dash_col + 2, hint, offset) for v in values]
        pad = " " * dash_col
        if at < len(items):
            pos = t.dash(items[at])
            self.edits.append(_Edit(pos, pos, "".join(r + sep + pad for r in rendered)))
        else:
            pos = t.line_end(t.end(items[-1]))
            self.edits.append(_Edit(pos, pos, "".join(sep + pad + r for r in rendered)))

    def apply(self) -> str:
        text = self.t.text
        last = len(text) + 1
        for edit in sorted(self.edits, key=lambda e: (e.start, e.end), reverse=True):
            if edit.end > last:
                raise PatchError("internal: overlapping edits")
            text = text[: edit.start] + edit.text + text[edit.end :]
            last = edit.start
        return text


def patch_text(text: str, new: Any, path: Path = ()) -> str:
    """The document `text` with the value at `path` replaced by `new` (a missing last key is added, index
    len(list) appends), every other byte kept. Raises PatchError when the result would not read back as
    asked, KeyError when `path` does not lead anywhere."""
    try:
        root = compose(text)
    except yaml.YAMLError as exc:
        raise PatchError(f"the file is not valid YAML: {exc}") from exc
    wanted = set_in(construct(root), path, clean_value(new))
    if root is None:
        return _checked(render_document(wanted), wanted)
    patcher = _Patcher(text, root)
    if patcher.node(root, wanted):
        out = patcher.apply()
    else:  # the document changes type (never for content): written anew
        spaced = isinstance(root, SequenceNode) and patcher.t.blank_separated(root.value)
        out = render_document(wanted, root, patcher.offset, spaced)
    return _checked(out, wanted)


def insert_raw_item(text: str, index: int, item_text: str) -> str:
    """Insert a list item given as its own YAML text ("- id: ...", comments and all) before item `index`
    of the document's top-level list (at the end when `index` is past it): moving an entry between files
    keeps every byte of it."""
    try:
        root = compose(text) if text.strip() else None
        item = construct(compose(item_text))
    except yaml.YAMLError as exc:
        raise PatchError(f"not valid YAML: {exc}") from exc
    if not isinstance(item, list) or len(item) != 1:
        raise PatchError("the text must be one list item")
    old = construct(root) if root is not None else []
    if not isinstance(old, list):
        raise PatchError("the file is not a list of entries")
    body = item_text.rstrip("\n") + "\n"
    if root is None or not root.value:
        out = (text.rstrip("\n") + "\n\n" if text.strip() else "") + body
        return _checked(out, [*old, item[0]])
    t = _Text(text)
    items = root.value
    spaced = t.blank_separated(items) or len(items) < 2
    pad = " " * t.column(t.dash(items[0]))
    body = "\n".join(pad + line if line else line for line in body.rstrip("\n").split("\n")) + "\n"
    index = max(0, min(index, len(items)))
    if index < len(items):
        pos = t.line_start(t.dash(items[index]))
        out = text[:pos] + body + ("\n" if spaced else "") + text[pos:]
    else:
        pos = t.line_end(t.end(items[-1]))
        out = text[:pos] + "\n" + ("\n" if spaced else "") + body.rstrip("\n") + text[pos:]
    return _checked(out, [*old[:index], item[0], *old[index:]])


def _checked(out: str, wanted: Any) -> str:
    try:
        back = construct(compose(out))
    except yaml.YAMLError as exc:
        raise PatchError(f"the edit would not be valid YAML: {exc}") from exc
    if _key(back) != _key(wanted):
        raise PatchError("the edit cannot be written so that it reads back the same; check for unusual characters")
    return out


def get_in(value: Any, path: Path) -> Any:
    for part in path:
        value = value[part]
    return value


def set_in(value: Any, path: Path, new: Any) -> Any:
    """A copy of `value` with `path` set to `new` (a missing last key is added; index len appends)."""
    if not path:
        return new
    head, rest = path[0], path[1:]
    if isinstance(value, dict):
        out = dict(value)
        out[head] = set_in(value[head], rest, new) if rest else new
        return out
    if isinstance(value, list) and isinstance(head, int) and 0 <= head <= len(value):
        out = list(value)
        if head == len(value):
            if rest:
                raise KeyError(path)
            out.append(new)
        else:
            out[head] = set_in(value[head], rest, new) if rest else new
        return out
    raise KeyError(path)


def delete_in(value: Any, path: Path) -> Any:
    """A copy of `value` without the key or item at `path`."""
    head, rest = path[0], path[1:]
    if rest:
        return set_in(value, (head,), delete_in(value[head], rest))
    if isinstance(value, dict) and head in value:
        return {k: v for k, v in value.items() if k != head}
    if isinstance(value, list) and isinstance(head, int) and 0 <= head < len(value):
        return value[:head] + value[head + 1 :]
    raise KeyError(path)


# -- where things are, for editors' messages ----------------------------------------------------------------
def node_text(text: str, path: Path) -> str:
    """The lines of the node at `path` as they stand in the file (a list item with its dash)."""
    root = compose(text)
    node = node_at(root, path)
    t = _Text(text)
    if not path:
        return text
    parent = node_at(root, path[:-1])
    start = t.line_start(t.dash(node) if isinstance(parent, SequenceNode) else node.start_mark.index)
    return text[start : t.line_end(t.end(node))] + "\n"


def field_lines(text: str, path: Path = ()) -> list[tuple[int, int, str]]:
    """(first line, last line, dotted field) of every value under `path`, lines 1-based: a problem the
    loader reports at a line is shown next to the deepest field whose lines hold it."""
    root = compose(text)
    t = _Text(text)
    out: list[tuple[int, int, str]] = []

    def line(i: int) -> int:
        return t.text.count("\n", 0, i) + 1

    def walk(node: Node, first: int, name: str) -> None:
        if name:
            out.append((line(first), line(t.end(node)), name))
        if isinstance(node, MappingNode):
            for k, v in node.value:
                walk(v, k.start_mark.index, f"{name}.{k.value}" if name else str(k.value))
        elif isinstance(node, SequenceNode):
            for i, item in enumerate(node.value):
                walk(item, item.start_mark.index if node.flow_style else t.dash(item), f"{name}.{i}" if name else str(i))

    walk(node_at(root, path), 0, "")
    return out


def field_at(ranges: list[tuple[int, int, str]], line: int) -> str | None:
    """The deepest field whose lines contain `line`."""
    best = None
    for first, last, name in ranges:
        if first <= line <= last and (best is None or name.count(".") >= best.count(".")):
            best = name
    return best
