"""`python -m analytics users ...` and `tokens ...`: officials' accounts and API tokens from the command line.

    python -m analytics users add NAME --role admin|editor|viewer [--ward WARD_ID ...]   # prints a one-time password
    python -m analytics users list | disable NAME | enable NAME | reset NAME             # reset prints a new one
    python -m analytics users role NAME --role admin|editor|viewer [--ward WARD_ID ...]  # its sessions see it at once
    python -m analytics tokens add NAME --role admin|editor|viewer [--ward WARD_ID ...]  # prints an API token once
    python -m analytics tokens list | revoke NAME
    (each also takes --db PATH|URL, default DIGIGUIDE_DATABASE_URL else DIGIGUIDE_DB; add also --content DIR,
    for the ward ids)

A secret is the only thing on stdout (one line), and it is printed nowhere else: `otp=$(python -m
analytics users add lan --role editor)` captures exactly it, while the explanation goes to stderr.
Ward ids are checked against content/locality.yaml's wards. An unknown ward, role or name, or an
SQLite file that does not exist (only `add` creates one) is an error on stderr with exit status 2.
`--db` takes an SQLite file or a postgresql:// URL (bot.storage.Target).
Every change is in the audit log with actor "cli".
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from collections.abc import Callable
from pathlib import Path

from bot import storage

from .accounts import ROLES, AccountError, Accounts, check_wards, connect, normalise_name
from .store import VIETNAM

ACTOR = "cli"


class CliError(Exception):
    pass


def _when(ts: float | None) -> str:
    return "-" if ts is None else dt.datetime.fromtimestamp(ts, VIETNAM).strftime("%Y-%m-%d %H:%M")


def _wards_text(wards: tuple[str, ...]) -> str:
    return ",".join(wards) if wards else "all"


def table(header: list[str], rows: list[list[str]]) -> str:
    """Plain columns, as `python -m analytics report` prints them."""
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in [header, *rows])


def _known_wards(content: Path | None) -> frozenset[str]:
    from bot.config import Settings
    from bot.knowledge import ContentError, load_knowledge

    try:
        kb = load_knowledge(content or Settings.load().content_dir)
    except (ContentError, OSError) as exc:
        raise CliError(f"cannot load the content to check the ward ids: {exc}") from None
    return frozenset(kb.ward_ids)


class Commands:
    """The commands, bound to how the database is found (analytics.__main__.default_db: a path or a
    bot.storage.Target)."""

    def __init__(self, default_db: Callable[[], storage.Target | Path | str]):
        self.default_db = default_db

    def _open(self, args: argparse.Namespace, create: bool = False) -> Accounts:
        try:
            where = storage.Target.parse(args.db or self.default_db())
        except ValueError as exc:
            raise CliError(f"--db: {exc}") from None
        if not create and where.engine == "sqlite" and not where.path.exists():
            raise CliError(f"no database at {where.path} (use --db PATH or set DIGIGUIDE_DB)")
        wards = _known_wards(args.content) if getattr(args, "ward", None) else None
        try:
            return Accounts(connect(where), known_wards=wards)
        except storage.OperationalError as exc:
            raise CliError(f"cannot open the database {where}: {exc}") from None

    def users_add(self, args: argparse.Namespace) -> None:
        accounts = self._open(args, create=True)
        otp = accounts.add_user(args.name, args.role, args.ward, actor=ACTOR)
        account = accounts.get_user(args.name)
        print(f"created {account.role} {account.name!r} (wards: {_wards_text(account.wards)}); one-time password, shown only now: "
              "hand it over, it must be changed at the first login:", file=sys.stderr, flush=True)
        print(otp, flush=True)

    def users_list(self, args: argparse.Namespace) -> None:
        users = self._open(args).list_users()
        if not users:
            print("(no accounts: `python -m analytics users add NAME --role admin` creates one)")
            return
        print(table(["name", "role", "wards", "state", "created"], [[u.name, u.role, _wards_text(u.wards), u.state, _when(u.created_at)] for u in users]))

    def users_disable(self, args: argparse.Namespace) -> None:
        changed = self._open(args).disable(args.name, actor=ACTOR)
        print(f"disabled {normalise_name(args.name)!r}: it cannot log in, its sessions ended" if changed else f"{normalise_name(args.name)!r} was disabled already")

    def users_enable(self, args: argparse.Namespace) -> None:
        changed = self._open(args).enable(args.name, actor=ACTOR)
        print(f"enabled {normalise_name(args.name)!r}: it can log in again with its password" if changed else f"{normalise_name(args.name)!r} was enabled already")

    def users_role(self, args: argparse.Namespace) -> None:
        account = self._open(args).set_role(args.name, args.role, args.ward, actor=ACTOR)
        print(f"{account.name!r} is now {account.role} (wards: {_wards_text(account.wards)}); its open sessions see the change at once")

    def users_reset(self, args: argparse.Namespace) -> None:
        otp = self._open(args).reset(args.name, actor=ACTOR)
        print(f"new one-time password for {normalise_name(args.name)!r}, shown only now (its sessions ended; it must be changed at the next login):", file=sys.stderr, flush=True)
        print(otp, flush=True)

    def tokens_add(self, args: argparse.Namespace) -> None:
        accounts = self._open(args, create=True)
        token = accounts.add_token(args.name, args.role, args.ward, actor=ACTOR)
        print(f"created API token {normalise_name(args.name)!r} ({args.role}, wards: {_wards_text(check_wards(args.ward))}), shown only now: "
              "send it as `Authorization: Bearer <token>`:", file=sys.stderr, flush=True)
        print(token, flush=True)

    def tokens_list(self, args: argparse.Namespace) -> None:
        tokens = self._open(args).list_tokens()
        if not tokens:
            print("(no API tokens)")
            return
        rows = [[t.name, t.role, _wards_text(t.wards), t.prefix + "…", t.state, _when(t.created_at), _when(t.last_used_at)] for t in tokens]
        print(table(["name", "role", "wards", "token", "state", "created", "last used"], rows))

    def tokens_revoke(self, args: argparse.Namespace) -> None:
        self._open(args).revoke_token(args.name, actor=ACTOR)
        print(f"revoked API token {normalise_name(args.name)!r}: it no longer works")


def _run(command: Callable[[argparse.Namespace], None]) -> Callable[[argparse.Namespace], int]:
    """Our errors become one line on stderr and exit status 2, like the other analytics commands."""

    def run(args: argparse.Namespace) -> int:
        try:
            command(args)
        except (AccountError, CliError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        return 0

    return run


def register(sub: argparse._SubParsersAction, db_help: str, default_db: Callable[[], storage.Target | Path | str]) -> None:
    """Add `users` and `tokens` to `python -m analytics`'s subcommands."""
    commands = Commands(default_db)

    def leaf(group: argparse._SubParsersAction, name: str, help: str, command, *, named: bool = True, grants: bool = False) -> None:
        parser = group.add_parser(name, help=help)
        if named:
            parser.add_argument("name", metavar="NAME")
        if grants:
            parser.add_argument("--role", required=True, choices=ROLES)
            parser.add_argument("--ward", action="append", default=[], metavar="WARD_ID", help="bind to this ward (repeat for more; none: every ward)")
            parser.add_argument("--content", type=Path, metavar="DIR", help="content folder with locality.yaml's wards (default: DIGIGUIDE_CONTENT)")
        parser.add_argument("--db", help=db_help)  # text, not a Path: a postgresql:// URL would lose a slash
        parser.set_defaults(func=_run(command))

    users = sub.add_parser("users", help="officials' accounts: add, list, role, disable, enable, reset").add_subparsers(dest="users_command", required=True, metavar="COMMAND")
    leaf(users, "add", "create an account; prints its one-time password", commands.users_add, grants=True)
    leaf(users, "list", "list the accounts", commands.users_list, named=False)
    leaf(users, "disable", "block an account's logins and end its sessions", commands.users_disable)
    leaf(users, "enable", "let a disabled account log in again", commands.users_enable)
    leaf(users, "role", "change an account's role and wards (--ward again for each; none: every ward)", commands.users_role, grants=True)
    leaf(users, "reset", "issue a new one-time password (prints it) and end the account's sessions", commands.users_reset)

    tokens = sub.add_parser("tokens", help="API tokens for /dashboard/api: add, list, revoke").add_subparsers(dest="tokens_command", required=True, metavar="COMMAND")
    leaf(tokens, "add", "create an API token; prints it once", commands.tokens_add, grants=True)
    leaf(tokens, "list", "list the API tokens (their first characters only)", commands.tokens_list, named=False)
    leaf(tokens, "revoke", "make a token stop working", commands.tokens_revoke)
