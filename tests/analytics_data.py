"""A deterministic generator of realistic analytics events, and the numbers a report must show for them.

Used by tests/test_analytics_report.py (and meant for the analytics benchmark and dashboard tests):

    events, expected = generate(n_users=400, days=35, seed=7)
    write(db, events)                       # through analytics.store.write_batch: rollups stay consistent
    summarise(events, channel="zalo")       # the expected figures under a filter

The events look like what bot.engine emits: salted-hash users that keep one channel, language, ward and
campaign source; sessions at any hour of the Vietnam day (so UTC and local days differ); typed questions
drawn from a catalogue of question groups with near-identical spellings (typos that should merge into one
cluster), a small long tail of unique unanswered questions, suggestions that are sometimes tapped, guides
walked step by step with drop-off, thumbs up/down, menus, topic pages, small talk and stray commands.

The generator itself is analytics/demo_citizens.py (the demo command uses it too); this file holds the
tests' fixed catalogue, with its simplified question keys. `summarise` computes every figure straight from
the Event list, in plain Python, without the store or the report code, following the definitions in
analytics/report.py's docstring.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
import uuid
from collections import Counter, defaultdict
from pathlib import Path
from urllib.parse import urlsplit

from rapidfuzz import fuzz

from analytics.demo_citizens import CHANNELS, SOURCES, TAIL_SHARE, VIETNAM, WARDS, Catalogue, Group, write  # write: for the tests
from analytics.demo_citizens import generate_events as _generate_events
from bot.engine import Event
from bot.storage import Target

ENGINES = ["sqlite", "postgresql"]  # as tests/conftest.py's db_target

START = dt.date(2025, 3, 3)  # a Monday, so weeks line up with the first day
QUESTION_KINDS = ("faq", "guide", "suggest", "fallback")
ANSWERED_KINDS = ("faq", "guide")
UNANSWERED_KINDS = ("fallback", "suggest")

STOPWORDS = frozenset("toi cua la gi the nao lam sao o dau co khong duoc bi cho ve voi minh can ban a nhe oi how to the my is i do can".split())

# guide id -> (topic, number of steps); pages are 0 (overview), 1..n (steps), n+1 (wrap-up)
GUIDES = {"eid-activate": ("eid", 5), "fees-pay-portal": ("fees", 4), "safety-report-scam": ("safety", 3)}
GUIDE_CONTINUE = {"eid-activate": 0.85, "fees-pay-portal": 0.7, "safety-report-scam": 0.9}
FAQS = {
    "eid-forgot-password": "eid", "eid-no-otp": "eid", "eid-levels": "eid", "eid-change-phone": "eid", "eid-what-is": "eid",
    "portal-login": "portal", "portal-track": "portal", "fees-traffic-fine": "fees", "bills-electric": "bills",
    "bills-water": "bills", "qr-receive": "qr", "safety-otp-share": "safety", "signature-what-is": "signature",
}
# share of thumbs-up per entry (default 0.8): a couple of entries officials should look at first
UP_SHARE = {"eid-no-otp": 0.3, "bills-water": 0.5, "fees-pay-portal": 0.55}

GROUPS = [
    Group("eid-forgot", "eid", "faq", "eid-forgot-password", "quen mat khau vneid thi lam sao", weight=9),
    Group("eid-otp", "eid", "faq", "eid-no-otp", "khong nhan duoc ma otp kich hoat vneid", weight=7),
    Group("eid-levels", "eid", "faq", "eid-levels", "tai khoan dinh danh muc 2 khac muc 1 the nao", weight=5),
    Group("eid-phone", "eid", "faq", "eid-change-phone", "doi so dien thoai tren ung dung vneid", weight=4),
    Group("portal-login", "portal", "faq", "portal-login", "dang nhap cong dich vu cong quoc gia", weight=5),
    Group("portal-track", "portal", "faq", "portal-track", "tra cuu trang thai ho so da nop truc tuyen", weight=3),
    Group("fees-fine", "fees", "faq", "fees-traffic-fine", "nop phat nguoi giao thong online", weight=4),
    Group("bills-electric", "bills", "faq", "bills-electric", "thanh toan tien dien qua ung dung ngan hang", weight=5),
    Group("bills-water", "bills", "faq", "bills-water", "tra tien nuoc hang thang qua mang", weight=3),
    Group("qr-receive", "qr", "faq", "qr-receive", "tao ma qr nhan tien chuyen khoan", weight=4),
    Group("safety-otp", "safety", "faq", "safety-otp-share", "nguoi la goi dien xin ma otp", weight=4),
    Group("signature", "signature", "faq", "signature-what-is", "chu ky so ca nhan dung vao viec gi", weight=2),
    Group("guide-activate", "eid", "guide", "eid-activate", "huong dan tung buoc kich hoat vneid", weight=6),
    Group("guide-fees", "fees", "guide", "fees-pay-portal", "huong dan nop le phi tren cong dich vu", weight=3),
    Group("guide-scam", "safety", "guide", "safety-report-scam", "cach bao cao lua dao qua mang", weight=2),
    Group("sug-vneid", "eid", "suggest", "eid-what-is", "vneid bao loi khi dang nhap ung dung", weight=4),
    Group("sug-bills", "bills", "suggest", "bills-electric", "hoa don thang nay tang bat thuong", weight=2),
    Group("fb-gold", None, "fallback", None, "gia vang hom nay bao nhieu tien", weight=4),
    Group("fb-land", None, "fallback", None, "thu tuc cap so do dat dai nong thon", weight=3),
    Group("fb-pension", None, "fallback", None, "luong huu thang nay chua nhan duoc", weight=2),
    Group("fb-passport", None, "fallback", None, "xin ho chieu online mat bao lau", weight=2),
    Group("small-hello", None, "smalltalk", None, "xin chao ban nhe", weight=3),
    Group("en-forgot", "eid", "faq", "eid-forgot-password", "forgot my vneid password", lang="en", weight=5),
    Group("en-electric", "bills", "faq", "bills-electric", "pay electricity bill online", lang="en", weight=3),
    Group("en-police", None, "fallback", None, "where is the nearest police station", lang="en", weight=2),
]
GROUP_BY_ID = {g.id: g for g in GROUPS}
TAIL_SYLLABLES = "xoai mit buoi chom nhan vai cam quyt sau rieng thanh long coc oi man dua hau lekima bao lut nang gio mua dong hoang hon binh minh".split()


def question_key(text: str) -> str:
    """Sorted content words, like bot.engine's key (a simplified stand-in)."""
    return " ".join(sorted({w for w in text.split() if w not in STOPWORDS}))


def _record(text: str) -> dict:
    """The event's question and key for a typed text (the stand-in for what bot.engine stores)."""
    return {"question": text, "question_key": question_key(text)}


def _tail(rng) -> Group:
    """A one-off unanswered question: five random syllables and a number nobody else types."""
    text = " ".join(rng.sample(TAIL_SYLLABLES, 5) + [f"so{rng.randrange(10**6)}"])
    return Group("tail", None, "fallback", None, text)


CATALOGUE = Catalogue(
    groups=GROUPS, faqs=FAQS, guides=GUIDES, record=_record, tail=_tail, stopwords=STOPWORDS,
    guide_continue=GUIDE_CONTINUE, up_share=UP_SHARE, channels=CHANNELS, wards=WARDS, sources=SOURCES,
)
VARIANTS = CATALOGUE.variants
TOPIC_ENTRIES = CATALOGUE.topic_entries
KEY_GROUP = {question_key(text): g.id for g in GROUPS for text, _ in VARIANTS[g.id]}


def check_catalogue(threshold: float = 90) -> None:
    """The catalogue's promise: spellings of one group are near-identical, different groups are not."""
    keys = defaultdict(list)
    for key, gid in KEY_GROUP.items():
        keys[gid].append(key)
    assert len(KEY_GROUP) == sum(len(v) for v in VARIANTS.values()), "two spellings share a key"
    for gid, ks in keys.items():
        for a in ks:
            for b in ks:
                assert fuzz.ratio(a, b) >= threshold + 1, (gid, a, b, fuzz.ratio(a, b))
    for g1, k1 in keys.items():
        for g2, k2 in keys.items():
            if g1 < g2:
                for a in k1:
                    for b in k2:
                        assert fuzz.ratio(a, b) < threshold - 10, (a, b, fuzz.ratio(a, b))


def generate_events(n_users: int = 400, days: int = 35, seed: int = 7, start: dt.date = START, tail_share: float = TAIL_SHARE) -> list[Event]:
    """Events of `n_users` citizens over `days` Vietnam days from `start`, sorted by time. About six events
    per user; `tail_share` of typed questions are one-off unanswered texts (raise it to stress clustering)."""
    return _generate_events(CATALOGUE, n_users, days, seed, start, tail_share)


def generate(n_users: int = 400, days: int = 35, seed: int = 7, start: dt.date = START) -> tuple[list[Event], dict]:
    events = generate_events(n_users, days, seed, start)
    return events, summarise(events)


# -- the expected figures, computed independently ------------------------------------------------------------

def day_of(e: Event) -> str:
    return dt.datetime.fromtimestamp(e.ts, VIETNAM).date().isoformat()


def monday(day: str) -> str:
    d = dt.date.fromisoformat(day)
    return (d - dt.timedelta(days=d.weekday())).isoformat()


def cluster_of(key: str) -> str:
    """The group a key belongs to; a long-tail key is its own cluster."""
    return KEY_GROUP.get(key, key)


def summarise(events: list[Event], since=None, until=None, channel=None, topic=None, ward=None, source=None) -> dict:
    """Every figure a report over `events` must show, under the given filters (dates as ISO strings)."""
    since, until = str(since or "0000-00-00"), str(until or "9999-99-99")

    def keep(e, dims=("channel", "topic", "ward", "source")):
        if not since <= day_of(e) <= until:
            return False
        wanted = {"channel": channel, "topic": topic, "ward": ward, "source": source}
        return all(wanted[d] is None or (getattr(e, d) or "") == wanted[d] for d in dims)

    chosen = [e for e in events if keep(e)]
    kinds = Counter(e.kind for e in chosen)
    questions = sum(kinds[k] for k in QUESTION_KINDS)
    answered = sum(kinds[k] for k in ANSWERED_KINDS)
    users = {e.user for e in events if keep(e, ("channel", "ward", "source"))}
    out: dict = {
        "totals": {
            "events": len(chosen), "questions": questions, "answered": answered, "suggest": kinds["suggest"],
            "fallback": kinds["fallback"], "suggestions_tapped": kinds["suggestion"],
            "answer_rate": answered / questions if questions else None,
            "fallback_rate": kinds["fallback"] / questions if questions else None,
            "suggestion_acceptance": kinds["suggestion"] / kinds["suggest"] if kinds["suggest"] else None,
            "unique_users": None if topic is not None else len(users),
        }
    }
    typed = [e for e in chosen if e.kind in QUESTION_KINDS]
    for dim in ("topic", "channel", "lang", "source", "ward"):
        out[f"by_{dim}"] = dict(Counter(getattr(e, dim) or "" for e in typed))
    out["daily"] = dict(Counter((day_of(e), e.topic or "") for e in typed))
    out["weekly"] = dict(Counter((monday(day_of(e)), e.topic or "") for e in typed))

    # question rollups are not kept per source: these sections ignore that filter
    no_source = [e for e in events if keep(e, ("channel", "topic", "ward")) and e.question_key]
    top: dict[str, Counter] = defaultdict(Counter)
    for e in no_source:
        if e.kind in QUESTION_KINDS:
            top[e.topic or ""][cluster_of(e.question_key)] += 1
    out["top_questions"] = {t: dict(c) for t, c in top.items()}
    clusters: dict[str, dict] = {}
    for e in no_source:
        if e.kind in UNANSWERED_KINDS:
            c = clusters.setdefault(cluster_of(e.question_key), {"count": 0, "first_day": "9999", "last_day": "0000", "texts": set()})
            c["count"] += 1
            c["first_day"], c["last_day"] = min(c["first_day"], day_of(e)), max(c["last_day"], day_of(e))
            c["texts"].add(e.question)
    out["unanswered"] = clusters

    votes: dict[str, list[int]] = {}
    for e in chosen:
        if e.kind == "feedback" and e.feedback in ("up", "down"):
            v = votes.setdefault(e.entry_id, [0, 0])
            v[0 if e.feedback == "up" else 1] += 1
    out["helpfulness"] = {k: tuple(v) for k, v in votes.items()}

    # funnels: every event on a guide page reaches daily_guide (see analytics.store.write_batch)
    furthest: dict[str, dict[str, int]] = defaultdict(dict)
    for e in chosen:
        if e.entry_id and e.guide_step is not None:
            seen = furthest[e.entry_id]
            seen[e.user] = max(seen.get(e.user, -1), e.guide_step)
    funnels = {}
    for guide, per_user in furthest.items():
        top_step = max(per_user.values())
        funnels[guide] = {s: sum(1 for m in per_user.values() if m >= s) for s in range(top_step + 1)}
    out["funnels"] = funnels
    return out


# -- databases for a module's data set (db_target is per test; a data set is written once per module) --------

def module_target(request, folder: Path, engine: str, name: str = "analytics") -> str:
    """A migrated, empty database like tests/conftest.py's db_target, for a module-scoped fixture
    parametrized over ENGINES: an SQLite file in `folder`, or a database copied from the session's
    migrated template on its PostgreSQL server (dropped when `request`'s scope ends)."""
    if engine == "sqlite":
        return str(folder / f"{name}.db")
    server = request.getfixturevalue("pg_server")
    template = request.getfixturevalue("pg_template")
    dbname = f"{name}_{uuid.uuid4().hex[:10]}"
    url = server.create_database(dbname, template=template)
    request.addfinalizer(lambda: server.drop_database(dbname))
    return url


def copy_of(request, where: str, folder: Path) -> str:
    """A private copy of the database `where`, for a test that changes it: SQLite's backup into
    `folder`/copy.db, or CREATE DATABASE ... TEMPLATE on PostgreSQL (nobody may be connected to `where`)."""
    target = Target.parse(where)
    if target.engine == "sqlite":
        copy = folder / "copy.db"
        src, dst = sqlite3.connect(target.path), sqlite3.connect(copy)
        try:
            src.backup(dst)
        finally:
            src.close()
            dst.close()
        return str(copy)
    server = request.getfixturevalue("pg_server")
    dbname = f"copy_{uuid.uuid4().hex[:12]}"
    url = server.create_database(dbname, template=urlsplit(target.url).path.lstrip("/"))
    request.addfinalizer(lambda: server.drop_database(dbname))
    return url
