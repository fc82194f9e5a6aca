"""Command line: `python -m bot {serve,chat,ask,check,links,db}` (also installed as `digiguide`)."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
from pathlib import Path

from .askjson import ask_record
from .engine import Engine, Incoming, Outcome
from .knowledge import ContentError, KnowledgeBase, load_knowledge
from .replies import numbered_text


def _load(content_dir: Path) -> KnowledgeBase:
    try:
        return load_knowledge(content_dir)
    except ContentError as exc:
        print(f"Content is invalid ({len(exc.problems)} problem(s)); fix these and try again:", file=sys.stderr)
        for problem in exc.problems:
            print(f"  {problem}", file=sys.stderr)
        sys.exit(1)


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
    from .state import DatabaseStateStore

    settings = Settings.load()
    kb = _load(args.content)
    store = DatabaseStateStore(settings.database)
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
    return serve(settings, workers=args.workers)


def cmd_db(args: argparse.Namespace) -> int:
    """`db status|upgrade|copy`: what an operator needs to run and move the database (docs/operations.md)."""
    from . import storage
    from .config import Settings, SettingsError
    from .storage import migrate
    from .storage.copy import CopyError, copy_database

    def default() -> storage.Target:
        try:
            return Settings.load().database
        except SettingsError as exc:
            raise SystemExit(f"Invalid setting: {exc}") from None

    try:
        if args.db_command == "copy":
            report = copy_database(args.source, args.target, progress=None)
            for table, rows in report.rows.items():
                print(f"{table:<18} {rows:>12,}")
            print(f"copied {report.total:,} rows from {storage.Target.parse(args.source)} to {storage.Target.parse(args.target)} in {report.seconds:.1f} s")
            return 0
        where = storage.Target.parse(args.where) if args.where else default()
        with storage.connect(where) as db:
            if args.db_command == "upgrade":
                print(f"{where}: schema at {migrate.current(db)} (newest {migrate.head()})")
                return 0
            print(f"database  {where}\nengine    {db.engine}\nschema    {migrate.current(db)} (newest {migrate.head()})\nsize      {db.size_bytes() / 1e6:,.1f} MB")
            for table in db.table_names():
                if table != migrate.VERSION_TABLE:
                    print(f"  {table:<18} {db.scalar(f'select count(*) from {table}'):>12,}")
        return 0
    except CopyError as exc:
        print(f"copy refused: {exc}", file=sys.stderr)
        return 1
    except (*storage.Error, ValueError) as exc:
        print(f"database error: {exc}", file=sys.stderr)
        return 1


def _workers(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of workers, got {text!r}") from None
    if not 1 <= n <= 64:
        raise argparse.ArgumentTypeError(f"workers must be between 1 and 64, got {n}")
    return n


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
    return cmd_stale(args, kb) if args.stale else 0


def cmd_stale(args: argparse.Namespace, kb: KnowledgeBase) -> int:
    """`check --stale`: the entries due for review (bot.freshness). A report, so exit 0; bad inputs exit 2."""
    from .freshness import read_fingerprints, review_list, review_table

    today = args.today or dt.date.today()
    fingerprints, asked, note = None, None, "asked: not counted, pass --db"
    if args.sources is not None:
        try:
            fingerprints = read_fingerprints(args.sources.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            print(f"--sources {args.sources}: {exc}", file=sys.stderr)
            return 2
    if args.db is not None:
        from analytics.freshness_data import ASKED_DAYS, asked_counts
        from analytics.store import connect

        if not args.db.is_file():
            print(f"--db {args.db}: no analytics database there", file=sys.stderr)
            return 2
        db = connect(args.db)
        try:
            asked = asked_counts(db, today - dt.timedelta(days=ASKED_DAYS - 1))
        finally:
            db.close()
        note = f"asked = answers in the {ASKED_DAYS} days to {today}"
    items = review_list(kb, today, asked, fingerprints)
    print()
    print(review_table(items, len(kb.faqs) + len(kb.guides), today, kb.review_months, note))
    return 0


def _day(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date written YYYY-MM-DD") from None


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
    serve = sub.add_parser("serve", help="run the server: web chat, Telegram (when configured), health and admin")
    serve.add_argument("--workers", type=_workers, default=_workers(os.environ.get("DIGIGUIDE_WORKERS", "1")),
                       help="worker processes on the one port (default DIGIGUIDE_WORKERS or 1); more than one needs a shared database")
    sub.add_parser("chat", help="talk to the bot in the terminal")
    check = sub.add_parser("check", help="validate the content; exit 1 with file:line messages when invalid")
    check.add_argument("--stale", action="store_true", help="also list the entries due for review (expired, old, sources changed)")
    check.add_argument("--db", type=Path, help="with --stale: analytics database, to put the most asked entries first")
    check.add_argument("--today", type=_day, help="with --stale: review as of this day (YYYY-MM-DD)")
    check.add_argument("--sources", type=Path, help="with --stale: JSON of url -> fingerprint from a fetch job")
    db = sub.add_parser("db", help="the database: schema status, upgrade, copy (e.g. SQLite to PostgreSQL)")
    db_sub = db.add_subparsers(dest="db_command", required=True)
    db_status = db_sub.add_parser("status", help="engine, schema revision and rows per table")
    db_status.add_argument("where", nargs="?", help="a file or postgresql:// URL (default: DIGIGUIDE_DATABASE_URL, else DIGIGUIDE_DB)")
    db_upgrade = db_sub.add_parser("upgrade", help="migrate to the newest schema (serve does this at start)")
    db_upgrade.add_argument("where", nargs="?", help="as for status")
    db_copy = db_sub.add_parser("copy", help="copy every table into an empty database (SQLite to PostgreSQL, or back)")
    db_copy.add_argument("source", help="a file or postgresql:// URL to read")
    db_copy.add_argument("target", help="a file or postgresql:// URL to fill (must be empty)")
    links = sub.add_parser("links", help="list every deep link and poster code (for working groups)")
    links.add_argument("--group", help="only this working group")
    links.add_argument("--format", choices=["table", "csv", "json"], default="table")
    args = parser.parse_args(argv)
    args.content_given = args.content is not None
    if args.content is None:
        from .knowledge import DEFAULT_CONTENT_DIR

        args.content = DEFAULT_CONTENT_DIR
    command = {"ask": cmd_ask, "chat": cmd_chat, "check": cmd_check, "serve": cmd_serve, "links": cmd_links, "db": cmd_db}[args.command]
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
