"""The one place where our SQL meets PostgreSQL's: queries are written once, in the subset both engines
share, with SQLite's `?` placeholders; `for_postgresql` turns such a statement into what psycopg sends.

Why translate at all instead of writing two sets of queries: every query then exists once, and a
feature cannot quietly exist on one engine only. What is translated is deliberately small and purely
lexical (outside string literals and quoted names):

- `?` becomes `%s`, and a literal `%` becomes `%%` (psycopg's placeholder syntax);
- the bare word `user` becomes `"user"`: a plain column name in SQLite (our tables key citizens' hashes
  by it), but in PostgreSQL a keyword that means the session's role, so `where user = ?` would
  silently compare the database login name;
- `insert or ignore into` becomes `insert into ... on conflict do nothing`.

Everything else (upserts with a conflict target, `returning`, `coalesce`, `case`) is written portably
in the queries themselves; the tests run the same queries on both engines.
"""

from __future__ import annotations

import re
from functools import lru_cache

_TOKEN = re.compile(
    r"""'(?:[^']|'')*'        # a string literal
      | "(?:[^"]|"")*"        # a quoted name
      | --[^\n]*              # a comment
      | \?                    # a placeholder
      | %                     # psycopg's escape character
      | \b[A-Za-z_][A-Za-z_0-9]*\b  # a word
    """,
    re.VERBOSE,
)
_INSERT_OR_IGNORE = re.compile(r"^\s*insert\s+or\s+ignore\s+into\b", re.IGNORECASE)


@lru_cache(maxsize=4096)
def for_postgresql(sql: str) -> str:
    """`sql` (our SQLite-flavoured subset) as psycopg expects it for PostgreSQL."""
    ignore = bool(_INSERT_OR_IGNORE.match(sql))
    if ignore:
        sql = _INSERT_OR_IGNORE.sub("insert into", sql, count=1)

    def swap(match: re.Match) -> str:
        token = match.group(0)
        if token[0] == "'":
            return token.replace("%", "%%")  # psycopg reads placeholders inside literals too
        if token == "?":
            return "%s"
        if token == "%":
            return "%%"
        if token.lower() == "user":
            return '"user"'
        return token

    out = _TOKEN.sub(swap, sql)
    if ignore:
        out = out.rstrip().rstrip(";") + " on conflict do nothing"
    return out
