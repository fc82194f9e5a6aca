"""What the engine says, as data: channels render it; nothing here knows a platform.

An action is a short string (at most 64 bytes so Telegram callback_data can carry it):
  m                 topic menu           t:<topic>[:<page>]   one topic's entries
  f:<faq>           an FAQ answer        g:<guide>:<step>     a guide at a step (0 = overview)
  fb:<id>:up|down   feedback             s:<n>                the n-th suggestion shown last
  l:vi|l:en         language             h                    helplines        ?:help   usage help
"""

from __future__ import annotations

from dataclasses import dataclass, field

MAX_ACTION_BYTES = 64


@dataclass(frozen=True)
class Button:
    label: str
    action: str

    def __post_init__(self) -> None:
        if len(self.action.encode()) > MAX_ACTION_BYTES:
            raise ValueError(f"action longer than {MAX_ACTION_BYTES} bytes: {self.action!r}")


@dataclass(frozen=True)
class Reply:
    """One message: text plus buttons laid out in rows (a channel may flatten them)."""

    text: str
    buttons: tuple[tuple[Button, ...], ...] = ()

    @property
    def flat_buttons(self) -> list[Button]:
        return [b for row in self.buttons for b in row]


def numbered_text(reply: Reply, hint: str = "") -> str:
    """Render buttons as a numbered list, for channels without buttons (console, Zalo).

    Numbers run 1..n over the flattened buttons; the engine maps a typed number back to that button.
    """
    buttons = reply.flat_buttons
    if not buttons:
        return reply.text
    lines = [reply.text, ""]
    if hint:
        lines.append(hint)
    lines.extend(f"{i}. {b.label}" for i, b in enumerate(buttons, 1))
    return "\n".join(lines)


def split_text(text: str, limit: int) -> list[str]:
    """Split a long text at paragraph, then line, then word boundaries so each part fits ``limit``."""
    if len(text) <= limit:
        return [text]
    parts: list[str] = []
    current = ""
    for sep, pieces in (("\n\n", text.split("\n\n")),):
        for piece in pieces:
            candidate = f"{current}{sep}{piece}" if current else piece
            if len(candidate) <= limit:
                current = candidate
                continue
            if current:
                parts.append(current)
            current = ""
            while len(piece) > limit:  # a single paragraph longer than the limit: cut at a line or word
                cut = max(piece.rfind("\n", 0, limit), piece.rfind(" ", 0, limit))
                cut = cut if cut > limit // 2 else limit
                parts.append(piece[:cut].rstrip())
                piece = piece[cut:].lstrip()
            current = piece
    if current:
        parts.append(current)
    return parts


def split_reply(reply: Reply, limit: int) -> list[Reply]:
    """Split a reply's text to fit ``limit``; the buttons stay on the last part, where the reader ends."""
    chunks = split_text(reply.text, limit)
    return [Reply(chunk, reply.buttons if i == len(chunks) - 1 else ()) for i, chunk in enumerate(chunks)]
