"""`python -m analytics {report,export,mark,unmark,purge,groups,outreach,tickets,demo}`: what officials and operators run against the event store.

    python -m analytics report [--since DATE] [--until DATE] [--channel C] [--topic T] [--ward W] [--source S]
                               [--format table|csv|json] [--db PATH]
    python -m analytics export [--db PATH] [--out DIR]         # every table and report section as CSV
    python -m analytics mark KEY resolved|ignored [--entry ID] [--db PATH] [--content DIR]
                                                               # KEY: the "key" column of the unanswered clusters
    python -m analytics unmark KEY [--db PATH]
    python -m analytics purge --older-than DAYS [--vacuum] [--db PATH]
    python -m analytics groups [--since DATE] [--until DATE] [--ward W] [--format table|csv|json] [--db PATH] [--content DIR]
                                                               # results per working group and ward
    python -m analytics outreach [--ward W] [--until DATE] [--lang vi|en] [--format table|csv|json] [--db PATH] [--content DIR]
                                                               # what each ward should explain next, and whether it worked
                                                               # (analytics/advice.py, campaigns.py; no --ward: the province)
    python -m analytics tickets [--since DATE] [--until DATE] [--ward W] [--format table|csv|json] [--db PATH] [--content DIR]
                                                               # questions handed over to officials (tickets_report.py)
    python -m analytics demo [--db PATH] [--force] [--content DIR]
                                                               # fill a fresh database with generated data
    python -m analytics users add NAME --role admin|editor|viewer [--ward WARD_ID ...] | list | role NAME --role R [--ward ...] | disable NAME | enable NAME | reset NAME
    python -m analytics tokens add NAME --role admin|editor|viewer [--ward ...] | list | revoke NAME   (analytics/accounts_cli.py)

Dates are Vietnam days (YYYY-MM-DD), inclusive. `--db` takes an SQLite file or a postgresql:// URL
(bot.storage); it defaults to DIGIGUIDE_DATABASE_URL when that is set, else DIGIGUIDE_DB (data/digiguide.db).
A bad date, an SQLite file that does not exist or a database that cannot be opened is reported on stderr
with exit status 2.
"""

from __future__ import annotations

import argparse
import csv
import difflib
import io
import json
import os
import sys
from pathlib import Path
from typing import Any

from bot import storage

from . import accounts_cli
from . import report as rpt
from .store import connect, purge_older_than

TABLES = ("events", "daily", "daily_users", "daily_guide", "daily_feedback", "daily_questions", "cluster_marks", "user_firsts", "guide_furthest")
TITLES = {
    "filters": "Filters", "notes": "Notes", "totals": "Totals", "by_topic": "Questions by topic", "by_channel": "Questions by channel",
    "by_lang": "Questions by language", "by_source": "Questions by source", "by_ward": "Questions by ward",
    "daily": "Questions per day and topic", "weekly": "Questions per ISO week and topic", "top_questions": "Top questions per topic",
    "unanswered": "Unanswered question clusters", "helpfulness": "Helpfulness (least helpful first)", "funnels": "Guide funnels",
}
# columns shown in the table format (CSV and JSON keep everything)
TABLE_COLUMNS = {
    "by_topic": ["value", "questions", "answered", "suggest", "fallback", "answer_rate", "fallback_rate", "users"],
    "top_questions": ["topic", "rank", "count", "example", "first_day", "last_day"],
    "unanswered": ["count", "fallback", "suggest", "topic", "status", "entry_id", "after_mark", "first_day", "last_day", "example", "key"],
}
UNCLIPPED = {"key"}  # copied into `mark`: shown whole (it is the last column, so a long one aligns nothing)
MARK_HINT = 'To triage a cluster: python -m analytics mark "KEY" resolved --entry ID   (or: ignored; unmark "KEY" to reopen it)'

for _dim in ("channel", "lang", "source", "ward"):
    TABLE_COLUMNS[f"by_{_dim}"] = TABLE_COLUMNS["by_topic"]
NONE_LABEL = {"value", "topic"}  # columns where "" means "not set"
BLANK = " "  # a cell left empty on purpose (repeated guide names in funnels)


class UsageError(Exception):
    pass


def default_db() -> storage.Target:
    """Where the server keeps its tables: DIGIGUIDE_DATABASE_URL when set, else the file DIGIGUIDE_DB."""
    from bot.config import Settings

    return Settings.load().database


def _day(value: str):
    try:
        return rpt.parse_day(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _target(where: str | None) -> storage.Target:
    try:
        return storage.Target.parse(where or default_db())
    except ValueError as exc:
        raise UsageError(f"--db: {exc}") from None


def _open(target: storage.Target) -> storage.Database:
    try:
        return connect(target)
    except storage.OperationalError as exc:
        raise UsageError(f"cannot open the database {target}: {exc}") from None


def _open_existing(where: str | None) -> storage.Database:
    """The database `--db` names (or the default); an SQLite file that does not exist is a usage error (it
    would be created empty)."""
    target = _target(where)
    if target.engine == "sqlite" and not target.path.exists():
        raise UsageError(f"no analytics database at {target.path} (use --db PATH or set DIGIGUIDE_DB)")
    return _open(target)


# -- rendering -------------------------------------------------------------------------------------------------

def _cell(column: str, value: Any, width: int = 60) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.1%}" if column.endswith(("rate", "share", "acceptance")) else f"{value:.2f}"
    text = str(value)
    if text == "" and column in NONE_LABEL:
        return "(none)"
    return text if len(text) <= width or column in UNCLIPPED else text[: width - 1] + "…"


def render_table(report: dict[str, Any]) -> str:
    out: list[str] = []
    for name in rpt.SECTIONS:
        data = report[name]
        out.append(f"== {TITLES[name]} ==")
        if name in ("filters", "totals"):
            width = max(map(len, data))
            out.extend(f"{k.ljust(width)}  {_cell(k, v) if v is not None or name == 'totals' else '(any)'}" for k, v in data.items())
        elif name == "notes":
            out.extend(data or ["(none)"])
        else:
            header, rows = _table_rows(name, data)
            if name in TABLE_COLUMNS and header:
                keep = [header.index(c) for c in TABLE_COLUMNS[name]]
                header, rows = [header[i] for i in keep], [[r[i] for i in keep] for r in rows]
            if not rows:
                out.append("(nothing)")
            else:
                cells = [header] + [[_cell(h, v) for h, v in zip(header, r)] for r in rows]
                widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
                numeric = [all(_is_number(r[i]) for r in rows) for i in range(len(header))]
                for row in cells:
                    out.append("  ".join(c.rjust(w) if num else c.ljust(w) for c, w, num in zip(row, widths, numeric)).rstrip())
                if name == "unanswered":
                    out.append(MARK_HINT)
        out.append("")
    return "\n".join(out)


def _table_rows(name: str, data: Any) -> tuple[list[str], list[list[Any]]]:
    """Rows for the table format: series pivoted to one column per topic, funnels one block per guide."""
    if name in ("daily", "weekly"):
        topics = sorted({p["topic"] for p in data})
        cells: dict[tuple[str, str], dict[str, int]] = {}
        for p in data:
            cells.setdefault((p["period"], p["start"]), {})[p["topic"]] = p["questions"]
        header = ["period"] + (["start"] if name == "weekly" else []) + ["all"] + [t or "(none)" for t in topics]
        rows = []
        for (period, start), by_topic in cells.items():
            rows.append([period] + ([start] if name == "weekly" else []) + [sum(by_topic.values())] + [by_topic.get(t, 0) for t in topics])
        return header, rows
    if name == "funnels":
        header = ["guide_id", "topic", "step", "users", "dropped", "drop_off_rate", "completion_rate"]
        rows = []
        for fn in data:
            for s in fn["steps"]:
                first = s is fn["steps"][0]
                rows.append([fn["guide_id"] if first else BLANK, (fn["topic"] or "-") if first else BLANK, s["step"], s["users"], s["dropped"], s["drop_off_rate"], fn["completion_rate"] if first else BLANK])
        return header, rows
    return rpt.section_rows(name, data)


def _is_number(value: Any) -> bool:
    return value is None or value == BLANK or (isinstance(value, (int, float)) and not isinstance(value, bool))


def _csv_value(value: Any) -> Any:
    return rpt.csv_cell(value)  # citizens' questions as typed: never a formula in the official's spreadsheet


def render_csv(report: dict[str, Any]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    for name in rpt.SECTIONS:
        buf.write(f"# {name}\n")
        header, rows = rpt.section_rows(name, report[name])
        if header:
            writer.writerow(header)
            writer.writerows([[_csv_value(v) for v in r] for r in rows])
    return buf.getvalue()


# -- commands --------------------------------------------------------------------------------------------------

def _filters(args: argparse.Namespace) -> rpt.Filters:
    try:
        return rpt.Filters(since=args.since, until=args.until, channel=args.channel, topic=args.topic, ward=args.ward, source=args.source)
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def cmd_report(args: argparse.Namespace) -> int:
    f = _filters(args)
    db = _open_existing(args.db)
    try:
        report = rpt.full_report(db, f, per_topic=args.per_topic, clusters=args.clusters, min_votes=args.min_votes, include_ignored=args.include_ignored)
    finally:
        db.close()
    if args.format == "json":
        print(json.dumps(report, ensure_ascii=False, indent=2))
    elif args.format == "csv":
        sys.stdout.write(render_csv(report))
    else:
        print(render_table(report))
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    db = _open_existing(args.db)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    try:
        for table in TABLES:
            cursor = db.execute(f"select * from {table}")
            path = out / f"{table}.csv"
            with path.open("w", newline="", encoding="utf-8") as fh:
                writer = csv.writer(fh)
                writer.writerow([d[0] for d in cursor.description])
                rows = 0
                while batch := cursor.fetchmany(10000):
                    writer.writerows([[_csv_value(v) for v in r] for r in batch])
                    rows += len(batch)
            written.append((path, rows))
        report = rpt.full_report(db, rpt.Filters(), clusters=None, include_ignored=True)
    finally:
        db.close()
    for name in rpt.SECTIONS:
        header, rows = rpt.section_rows(name, report[name])
        path = out / f"report_{name}.csv"
        with path.open("w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh)
            writer.writerow(header)
            writer.writerows([[_csv_value(v) for v in r] for r in rows])
        written.append((path, len(rows)))
    for path, rows in written:
        print(f"{path}  {rows} row(s)")
    return 0


def _load_content(path: Path | None):
    """The knowledge base of `--content`, else DIGIGUIDE_CONTENT; a broken one is a usage error (exit 2)."""
    from bot.config import Settings
    from bot.knowledge import ContentError, load_knowledge

    try:
        return load_knowledge(path or Settings.load().content_dir)
    except (ContentError, OSError) as exc:
        raise UsageError(f"cannot load the content: {exc}") from None


def _check_entry(entry: str, content: Path | None) -> None:
    """`mark --entry` must name an FAQ entry or guide of the content, or the mark points nowhere."""
    kb = _load_content(content)
    if entry in kb.faqs or entry in kb.guides:
        return
    close = difflib.get_close_matches(entry, [*kb.faqs, *kb.guides], n=3)
    hint = f" (did you mean {' or '.join(close)}?)" if close else " (see the ids in content/faq/*.yaml and content/guides/)"
    raise UsageError(f"no FAQ entry or guide {entry!r} in {kb.content_dir}{hint}")


def cmd_mark(args: argparse.Namespace) -> int:
    args.key = args.key.strip()
    db = _open_existing(args.db)
    try:
        if args.key and rpt.unknown_keys(db, [args.key]):
            raise UsageError(f"no stored question has the key {args.key!r}: copy it from the \"key\" column of `python -m analytics report`")
        if args.entry and args.status == "resolved":
            _check_entry(args.entry, args.content)
        rpt.mark_cluster(db, args.key, args.status, entry_id=args.entry)
        told = _tell_watchers(_target(args.db), args.key, args.entry) if args.entry and args.status == "resolved" else 0
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    finally:
        db.close()
    print(f"marked {args.key!r} {args.status}" + (f" (entry {args.entry})" if args.entry and args.status == "resolved" else ""))
    if told:
        print(f"{told} citizen(s) who asked to be told get the answer (the running server sends it within seconds)")
    return 0


def _tell_watchers(where: storage.Target, key: str, entry_id: str) -> int:
    """Queue the entry for the citizens waiting on `key`; the running server's courier sends it. The
    sealed addresses are copied, never opened, so this needs no salt."""
    from bot.handover.store import TicketStore

    tickets = TicketStore(where, None)
    try:
        return tickets.notify_resolved([key], entry_id).queued
    finally:
        tickets.close_db()


def cmd_unmark(args: argparse.Namespace) -> int:
    db = _open_existing(args.db)
    try:
        removed = rpt.unmark(db, args.key)
    finally:
        db.close()
    print(f"removed {removed} mark(s) from {args.key!r}")
    return 0


def cmd_purge(args: argparse.Namespace) -> int:
    db = _open(_target(args.db))
    try:
        deleted = purge_older_than(db, args.older_than)
        if args.vacuum:  # SQLite: the file shrinks; PostgreSQL: the space is reusable (VACUUM, in autocommit)
            db.execute("vacuum")
    finally:
        db.close()
    print(f"deleted {deleted} event(s) older than {args.older_than} days")
    return 0


def _check_ward(kb, ward: str | None) -> None:
    """A --ward the content's locality.yaml does not have is a usage error (None: no ward asked)."""
    if ward is not None and ward not in kb.ward_ids:
        raise UsageError(f"unknown ward {ward!r}: one of {', '.join(sorted(kb.ward_ids))}")


def cmd_groups(args: argparse.Namespace) -> int:
    """Results per working group and per ward (analytics/outreach_report.py)."""
    from . import outreach_report as orr

    try:
        f = rpt.Filters(since=args.since, until=args.until, ward=args.ward)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    kb = _load_content(args.content)
    _check_ward(kb, args.ward)
    db = _open_existing(args.db)
    try:
        data = orr.for_kb(db, kb, f)
    finally:
        db.close()
    if args.format == "json":
        print(json.dumps(data, ensure_ascii=False, indent=2))
    elif args.format == "csv":
        sys.stdout.write(orr.as_csv(data))
    else:
        print(orr.as_table(data, {g.id: g.code for g in kb.working_groups.values()}))
    return 0


def cmd_outreach(args: argparse.Namespace) -> int:
    """What a ward's working groups should explain next, and the before/after of what they did (advice_output)."""
    from . import advice_output

    kb = _load_content(args.content)
    _check_ward(kb, args.ward)
    db = _open_existing(args.db)
    try:
        data = advice_output.outreach_data(db, kb, args.ward, args.until, args.lang)
    finally:
        db.close()
    if args.format == "json":
        print(json.dumps(data, ensure_ascii=False, indent=2))
    else:
        sys.stdout.write(advice_output.as_csv(data) if args.format == "csv" else advice_output.as_table(data))
    return 0


def _salt_for(target: storage.Target) -> str:
    """The salt the server will use with this database: DIGIGUIDE_SALT, else the file next to the SQLite
    file, or (PostgreSQL) the one next to DIGIGUIDE_DB, where the server keeps it."""
    from bot.config import Settings, load_or_create_secret

    if os.environ.get("DIGIGUIDE_SALT", "").strip():
        return os.environ["DIGIGUIDE_SALT"].strip()
    if target.engine == "sqlite":
        return load_or_create_secret(target.path.parent / "salt")
    return Settings.load().salt


def cmd_tickets(args: argparse.Namespace) -> int:
    """Questions handed over to officials: per ward, topic and channel (analytics/tickets_report.py)."""
    from . import tickets_report as tr

    hours = _load_content(args.content).office_hours
    db = _open_existing(args.db)
    try:
        fig = tr.figures(db, hours, since=args.since, until=args.until, wards=[args.ward] if args.ward is not None else None)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    finally:
        db.close()
    if args.format == "json":
        print(tr.as_json(fig))
    else:
        sys.stdout.write(tr.as_csv(fig) if args.format == "csv" else tr.as_table(fig))
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    """Fill a fresh database with generated data (analytics/demo.py), and say how to open the dashboard."""
    from . import demo

    target = _target(args.db)
    shown = target.path if target.engine == "sqlite" else target
    kb = _load_content(args.content)
    try:
        made = demo.fill(target, kb, force=args.force, clear=TABLES, salt=_salt_for(target))
    except demo.NotEmpty as exc:
        raise UsageError(f"{shown} already has {exc.events} event(s): the demo would mix made-up figures into them. "
                         "Use another --db, or --force to delete its analytics data first") from None
    except storage.OperationalError as exc:
        raise UsageError(f"cannot open the database {shown}: {exc}") from None
    except storage.Error as exc:
        raise UsageError(f"{shown} is not an analytics database ({exc})") from None
    print(demo.describe(made, default_db=_same(target, default_db())))
    return 0


def _same(a: storage.Target, b: storage.Target) -> bool:
    if a.engine == "sqlite" and b.engine == "sqlite":
        return a.path.resolve() == b.path.resolve()
    return a == b


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m analytics", description="DigiGuide analytics for officials")
    sub = parser.add_subparsers(dest="command", required=True)
    db_help = "SQLite file or postgresql:// URL (default: DIGIGUIDE_DATABASE_URL, else DIGIGUIDE_DB)"

    report = sub.add_parser("report", help="print every report section")
    report.add_argument("--since", type=_day, metavar="DATE", help="first Vietnam day, YYYY-MM-DD (inclusive)")
    report.add_argument("--until", type=_day, metavar="DATE", help="last Vietnam day, YYYY-MM-DD (inclusive)")
    report.add_argument("--channel", help="zalo, telegram, web, ...")
    report.add_argument("--topic", help="eid, portal, fees, bills, qr, safety, signature")
    report.add_argument("--ward")
    report.add_argument("--source", help="deep-link campaign payload, e.g. g-eid-activate")
    report.add_argument("--format", choices=("table", "csv", "json"), default="table")
    report.add_argument("--per-topic", type=int, default=10, metavar="N", help="top questions per topic (default 10)")
    report.add_argument("--clusters", type=int, default=50, metavar="N", help="unanswered clusters to list (default 50)")
    report.add_argument("--min-votes", type=int, default=1, metavar="N", help="helpfulness: entries with at least N votes")
    report.add_argument("--include-ignored", action="store_true", help="also list clusters marked ignored")
    report.add_argument("--db", help=db_help)
    report.set_defaults(func=cmd_report)

    export = sub.add_parser("export", help="write every table and report section as CSV files")
    export.add_argument("--out", type=Path, default=Path("export"), metavar="DIR", help="output directory (default: ./export)")
    export.add_argument("--db", help=db_help)
    export.set_defaults(func=cmd_export)

    mark = sub.add_parser("mark", help="mark an unanswered question key resolved or ignored")
    mark.add_argument("key", help="the question key, as shown in the report (quote it)")
    mark.add_argument("status", choices=rpt.MARK_STATUSES)
    mark.add_argument("--entry", help="the FAQ or guide id that now answers it (resolved only)")
    mark.add_argument("--db", help=db_help)
    mark.add_argument("--content", type=Path, metavar="DIR", help="content folder, to check --entry (default: DIGIGUIDE_CONTENT)")
    mark.set_defaults(func=cmd_mark)

    unmark = sub.add_parser("unmark", help="remove the mark from a question key")
    unmark.add_argument("key")
    unmark.add_argument("--db", help=db_help)
    unmark.set_defaults(func=cmd_unmark)

    purge = sub.add_parser("purge", help="delete events older than a number of days")
    purge.add_argument("--older-than", type=int, required=True, metavar="DAYS")
    purge.add_argument("--db", help=db_help)
    purge.add_argument("--vacuum", action="store_true", help="also give the space back to the disk")
    purge.set_defaults(func=cmd_purge)

    groups = sub.add_parser("groups", help="results per working group and ward: new citizens, questions, topics, guides")
    groups.add_argument("--since", type=_day, metavar="DATE", help="first Vietnam day, YYYY-MM-DD (inclusive)")
    groups.add_argument("--until", type=_day, metavar="DATE", help="last Vietnam day, YYYY-MM-DD (inclusive)")
    groups.add_argument("--ward", metavar="WARD_ID", help="only the working groups of this ward (locality.yaml's ward id)")
    groups.add_argument("--format", choices=("table", "csv", "json"), default="table")
    groups.add_argument("--db", help=db_help)
    groups.add_argument("--content", type=Path, metavar="DIR", help="content folder, for the groups and guides (default: DIGIGUIDE_CONTENT)")
    groups.set_defaults(func=cmd_groups)

    outreach = sub.add_parser("outreach", help="what each ward should explain next (compared with the province), and whether it worked")
    outreach.add_argument("--ward", metavar="WARD_ID", help="the ward (locality.yaml's ward id); without it: the province")
    outreach.add_argument("--until", type=_day, metavar="DATE", help="last Vietnam day of the 4 weeks compared (default: the last day with data)")
    outreach.add_argument("--lang", choices=("vi", "en"), default="vi", help="language of the reasons")
    outreach.add_argument("--format", choices=("table", "csv", "json"), default="table")
    outreach.add_argument("--db", help=db_help)
    outreach.add_argument("--content", type=Path, metavar="DIR", help="content folder, for the wards and guides (default: DIGIGUIDE_CONTENT)")
    outreach.set_defaults(func=cmd_outreach)

    tickets = sub.add_parser("tickets", help="questions handed over to officials: per ward, topic and channel, time to answer, in time")
    tickets.add_argument("--since", type=_day, metavar="DATE", help="first Vietnam day the questions were sent, YYYY-MM-DD (inclusive)")
    tickets.add_argument("--until", type=_day, metavar="DATE", help="last Vietnam day, YYYY-MM-DD (inclusive)")
    tickets.add_argument("--ward", metavar="WARD_ID", help="only this ward's questions (locality.yaml's ward id; \"\" for none)")
    tickets.add_argument("--format", choices=("table", "csv", "json"), default="table")
    tickets.add_argument("--db", help=db_help)
    tickets.add_argument("--content", type=Path, metavar="DIR", help="content folder, for the office hours (default: DIGIGUIDE_CONTENT)")
    tickets.set_defaults(func=cmd_tickets)

    demo = sub.add_parser("demo", help="fill a fresh database with realistic generated data, to explore the dashboard")
    demo.add_argument("--db", help=db_help)
    demo.add_argument("--force", action="store_true", help="delete the analytics data already in the database first")
    demo.add_argument("--content", type=Path, metavar="DIR", help="content folder the generated questions are answered from (default: DIGIGUIDE_CONTENT)")
    demo.set_defaults(func=cmd_demo)

    accounts_cli.register(sub, db_help, default_db)  # users add|list|disable|enable|reset, tokens add|list|revoke
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # `... | head`: stop quietly
        sys.stderr.close()
        return 0


if __name__ == "__main__":
    sys.exit(main())
