"""Terminal chat: the simplest channel, and the model for channels without buttons (Zalo).

Buttons are shown as a numbered list; typing the number sends that button's action (the engine keeps
the mapping, so this file only reads lines and prints replies).
"""

from __future__ import annotations

import sys
from typing import TextIO

from ..engine import Engine, Incoming
from ..replies import numbered_text

CHANNEL = "console"


def run(engine: Engine, user_id: str = "local", stdin: TextIO = sys.stdin, stdout: TextIO = sys.stdout) -> None:
    def show(incoming: Incoming) -> None:
        outcome = engine.handle(incoming)
        lang = outcome.event.lang
        for reply in outcome.replies:
            print(numbered_text(reply, engine.kb.message("numbered_hint", lang)), file=stdout)
            print(file=stdout)

    show(Incoming(CHANNEL, user_id, start_payload=""))
    interactive = stdin.isatty()
    while True:
        if interactive:
            print("> ", end="", file=stdout, flush=True)
        line = stdin.readline()
        if not line:
            break
        line = line.rstrip("\n")
        if line.strip().lower() in ("/quit", "/exit"):
            break
        show(Incoming(CHANNEL, user_id, text=line))
