"""JSON from outside (the web chat, the platforms' webhooks, the dashboard API), read so that no body can
crash the handler that asked for it.

Why a module of its own: every door that takes JSON met the same three traps, and each answered 500 with a
traceback in the log until they shared one reader:

- a deeply nested body (`[[[[...` 30,000 levels in 60 KB) makes `json.loads` raise RecursionError, which
  is not a ValueError: here it is bad JSON like any other (400);
- a body larger than the door allows, even when the client lies about (or omits) its Content-Length: the
  stream is read chunk by chunk and abandoned once it is too big (413);
- a lone surrogate (`"\\ud800"`) is a valid JSON escape but not text: it passes every type check, then fails
  much later in `str.encode`, an SQLite write or a log line. It is replaced with U+FFFD here, so what the
  handlers get is always text that can be encoded (a typed message keeps the rest of its words).

Invalid UTF-8 is a ValueError of `json.loads` and so bad JSON too.
"""

from __future__ import annotations

import json
import re
from typing import Any

from aiohttp import web

_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")  # \ud800-\udfff: only then can a lone one be inside


class RequestError(Exception):
    """A request we refuse, with the status and the message the client gets."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status, self.message = status, message


def parse(raw: bytes) -> Any:
    """The body as JSON, or RequestError(400) for anything that is not: malformed, too deep, bad UTF-8."""
    try:
        value = json.loads(raw)
    except (ValueError, RecursionError) as exc:  # bad UTF-8 is a ValueError too
        raise RequestError(400, "body is not valid JSON") from exc
    return mend(value) if _SURROGATE_ESCAPE.search(raw) else value


async def read_json(request: web.Request, limit: int) -> Any:
    """Read at most `limit` bytes of the body (413 beyond, whatever Content-Length says), then `parse` it."""
    too_big = RequestError(413, f"request body is too large (at most {limit // 1024} KiB)")
    if request.content_length is not None and request.content_length > limit:
        raise too_big
    chunks, size = [], 0
    async for chunk in request.content.iter_any():
        size += len(chunk)
        if size > limit:
            raise too_big
        chunks.append(chunk)
    return parse(b"".join(chunks))


def mend(value: Any) -> Any:
    """`value` with every lone surrogate in its strings (keys too) replaced by U+FFFD.

    Iterative, not recursive: the structure can be as deep as json.loads allowed."""
    if isinstance(value, str):
        return _mend_text(value)
    stack = [value] if isinstance(value, (dict, list)) else []
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            mended = {_mend_text(k): v for k, v in node.items()}
            node.clear()
            node.update(mended)
            pairs = list(node.items())
        else:
            pairs = list(enumerate(node))
        for key, item in pairs:
            if isinstance(item, str):
                node[key] = _mend_text(item)
            elif isinstance(item, (dict, list)):
                stack.append(item)
    return value


def _mend_text(text: str) -> str:
    if text.isascii():
        return text
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
    return text
