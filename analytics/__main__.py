"""`python -m analytics {report,export,purge}`: what officials and operators run against the event store."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .store import connect, purge_older_than


def default_db() -> Path:
    from bot.config import Settings

    return Settings.load().db_path


def cmd_purge(args: argparse.Namespace) -> int:
    db = connect(args.db or default_db())
    deleted = purge_older_than(db, args.older_than)
    db.execute("vacuum") if args.vacuum else None
    print(f"deleted {deleted} event(s) older than {args.older_than} days")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m analytics", description="DigiGuide analytics for officials")
    sub = parser.add_subparsers(dest="command", required=True)
    purge = sub.add_parser("purge", help="delete events older than a number of days")
    purge.add_argument("--older-than", type=int, required=True, metavar="DAYS")
    purge.add_argument("--db", type=Path, help="database file (default: DIGIGUIDE_DB)")
    purge.add_argument("--vacuum", action="store_true", help="also give the space back to the disk")
    purge.set_defaults(func=cmd_purge)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
