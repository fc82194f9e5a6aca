"""Command line: `python -m bot {serve,chat,ask,check,links}` (also installed as `digiguide`)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import asdict
from pathlib import Path

from .engine import Engine, Incoming, Outcome
from .knowledge import ContentError, KnowledgeBase, load_knowledge
from .replies import numbered_text

ASK_KINDS = {"faq", "guide", "suggest", "smalltalk", "fallback"}


def _load(content_dir: Path) -> KnowledgeBase:
    try:
        return load_knowledge(content_dir)
    except ContentError as exc:
        print(f"Content is invalid ({len(exc.problems)} problem(s)); fix these and try again:", file=sys.stderr)
        for problem in exc.problems:
            print(f"  {problem}", file=sys.stderr)
        sys.exit(1)


def ask_record(outcome: Outcome) -> dict:
    """The `ask --json` contract of DESIGN.md, built from one engine outcome."""
    event, match = outcome.event, outcome.match
    kind = event.kind if event.kind in ASK_KINDS else "fallback"
    if event.kind == "guide_step":
        kind = "guide"
    elif event.kind == "clarify":
        kind = "smalltalk"  # the bot asks back with the menu: conversation, not an answer
    suggestions = []
    if match is not None and kind == "suggest":
        for scored in match.alternatives:
            entry = scored.entry
            title = entry.title.get(event.lang) if hasattr(entry.title, "get") else entry.title(event.lang)
            suggestions.append({"id": entry.id, "topic": entry.topic, "title": title})
    entry_id = event.entry_id if kind in ("faq", "guide", "suggest") else None
    topic = event.topic if kind in ("faq", "guide", "suggest") else None
    return {
        "kind": kind,
        "topic": topic,
        "id": entry_id,
        "score": round(float(match.score if match else 0.0), 4),
        "lang": event.lang,
        "text": "\n\n".join(r.text for r in outcome.replies),
        "suggestions": suggestions,
        "explain": explain(match),
    }


def explain(match) -> dict | None:
    """Why the matcher decided what it did: the reason, the score's parts for the best candidates, the
    services and documents named, and the part of a long message that was read as the question."""
    if match is None:
        return None
    candidates = []
    for scored in match.alternatives[:3]:
        row = {"id": scored.entry.id, "score": scored.score}
        if scored.parts is not None:
            row.update(asdict(scored.parts))
        candidates.append(row)
    return {
        "decision": match.kind,
        "reason": match.reason,
        "intent": match.intent,
        "subjects": sorted(match.subjects),
        "question_part": match.focus or None,
        "unknown_share": round(match.unknown_share, 3),
        "candidates": candidates,
    }


def cmd_ask(args: argparse.Namespace) -> int:
    from .state import MemoryStateStore

    engine = Engine(_load(args.content), MemoryStateStore(), salt="ask")
    hint = args.lang

    def one(question: str, n: int) -> Outcome:
        # A fresh user per question: `ask` is stateless; --lang forces the reply language.
        incoming = Incoming("cli", f"ask-{n}", text=question, lang=hint)
        outcome = engine.handle(incoming)
        engine.store.delete(outcome.event.user)
        return outcome

    if args.jsonl:
        out = sys.stdout
        for n, line in enumerate(sys.stdin):
            line = line.rstrip("\n")
            if not line.strip():
                continue
            out.write(json.dumps(ask_record(one(line, n)), ensure_ascii=False) + "\n")
        return 0
    question = " ".join(args.question)
    if not question:
        print("usage: python -m bot ask \"question\"", file=sys.stderr)
        return 2
    outcome = one(question, 0)
    if args.json:
        print(json.dumps(ask_record(outcome), ensure_ascii=False))
    else:
        for reply in outcome.replies:
            print(numbered_text(reply))
            print()
    return 0


def cmd_chat(args: argparse.Namespace) -> int:
    from .channels import console
    from .config import Settings
    from .state import SqliteStateStore

    settings = Settings.load()
    kb = _load(args.content)
    store = SqliteStateStore(settings.db_path)
    console.run(Engine(kb, store, settings.salt))
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from .config import Settings, SettingsError
    from .server import serve

    try:
        settings = Settings.load()
    except SettingsError as exc:
        print(f"Invalid setting: {exc}", file=sys.stderr)
        return 2
    if args.content_given:
        settings = replace(settings, content_dir=args.content)
    return serve(settings)


def cmd_links(args: argparse.Namespace) -> int:
    """Every link and poster code, for one working group or all (and the plain, untagged ones)."""
    import csv
    from dataclasses import asdict

    from .config import Settings
    from .outreach import link_rows

    kb = _load(args.content)
    settings = Settings.load()
    if args.group and args.group not in kb.working_groups:
        known = ", ".join(kb.working_groups) or "none"
        print(f"unknown working group {args.group!r} (known: {known})", file=sys.stderr)
        return 2
    username = settings.telegram_username or "<bot-username>"
    rows = link_rows(kb, username, settings.web_url, args.group)
    if args.format == "json":
        print(json.dumps([asdict(r) for r in rows], ensure_ascii=False, indent=1))
    elif args.format == "csv":
        writer = csv.writer(sys.stdout)
        writer.writerow(["group", "target", "title", "payload", "telegram", "web", "zalo_code"])
        writer.writerows([r.group or "", r.target, r.title, r.payload, r.telegram, r.web, r.zalo_code] for r in rows)
    else:
        for r in rows:
            print(f"{r.group or '(no group)':<18} {r.zalo_code:<8} {r.title}\n    {r.telegram}\n    {r.web}")
    if not settings.telegram_username:
        print("note: set TELEGRAM_BOT_USERNAME for real t.me links", file=sys.stderr)
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    kb = _load(args.content)
    steps = sum(len(g.steps) for g in kb.guides.values())
    print(
        f"Content OK (version {kb.version}): {len(kb.faqs)} FAQ entries, {len(kb.guides)} guides ({steps} steps), "
        f"{len(kb.topics)} topics, {len(kb.smalltalk)} small-talk intents."
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="digiguide", description="DigiGuide: digital-skills assistant for citizens")
    parser.add_argument("--content", type=Path, default=None, help="content folder (default: the bundled content/)")
    sub = parser.add_subparsers(dest="command", required=True)
    ask = sub.add_parser("ask", help="answer one question (or many with --jsonl)")
    ask.add_argument("question", nargs="*")
    ask.add_argument("--lang", choices=["vi", "en"], help="force the reply language")
    group = ask.add_mutually_exclusive_group()
    group.add_argument("--json", action="store_true", help="print one JSON object")
    group.add_argument("--jsonl", action="store_true", help="read questions from stdin, one per line; write JSON lines")
    sub.add_parser("serve", help="run the server: web chat, Telegram (when configured), health and admin")
    sub.add_parser("chat", help="talk to the bot in the terminal")
    sub.add_parser("check", help="validate the content; exit 1 with file:line messages when invalid")
    links = sub.add_parser("links", help="list every deep link and poster code (for working groups)")
    links.add_argument("--group", help="only this working group")
    links.add_argument("--format", choices=["table", "csv", "json"], default="table")
    args = parser.parse_args(argv)
    args.content_given = args.content is not None
    if args.content is None:
        from .knowledge import DEFAULT_CONTENT_DIR

        args.content = DEFAULT_CONTENT_DIR
    command = {"ask": cmd_ask, "chat": cmd_chat, "check": cmd_check, "serve": cmd_serve, "links": cmd_links}[args.command]
    try:
        code = command(args)
        sys.stdout.flush()  # a reader that went away shows here, not in the flush at exit
    except BrokenPipeError:
        # `links | head`: the reader has what it wanted. Stop quietly, as the Python docs recommend (signal
        # module, "Note on SIGPIPE"): stdout onto devnull, so the flush at exit cannot fail again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    return code


if __name__ == "__main__":
    sys.exit(main())
