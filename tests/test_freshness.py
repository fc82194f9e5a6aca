"""Answers tied to their legal basis and kept fresh: the optional fields load and are checked, the review
list says which entries an official must look at again and why (most asked first), and `bot check --stale`
prints it."""

import datetime as dt
import json
import re
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from types import MappingProxyType

import pytest

from analytics.freshness_data import asked_counts
from analytics.store import VIETNAM, connect, write_batch
from bot.engine import Event
from bot.freshness import fingerprint, review_list
from bot.knowledge import ContentError, SourceCheck, load_knowledge

ROOT = Path(__file__).resolve().parent.parent
D = dt.date.fromisoformat
URL_A = "https://example.gov.vn/a"
URL_B = "https://example.gov.vn/b"


def problems_for(content: Path) -> list[str]:
    with pytest.raises(ContentError) as info:
        load_knowledge(content)
    return [str(p) for p in info.value.problems]


def edit(path: Path, old: str, new: str) -> int:
    """Replace the first `old` in a content file; return its 1-based line."""
    text = path.read_text(encoding="utf-8")
    index = text.index(old)
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return text[:index].count("\n") + 1


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "bot", *args], capture_output=True, text=True, cwd=ROOT, timeout=120)


def small_kb(kb, faqs=(), guides=(), months=12):
    """The real knowledge base with only these entries (real FAQ/Guide objects with edited dates)."""
    locality = {**kb.locality, "review_months": months}
    return replace(
        kb,
        faqs=MappingProxyType({f.id: f for f in faqs}),
        guides=MappingProxyType({g.id: g for g in guides}),
        locality=locality,
    )


def faq(kb, ident, **changes):
    return replace(kb.faqs[ident], **changes)


# -- the real content ---------------------------------------------------------------------------------------


def test_real_content_carries_the_new_fields_and_check_still_passes(kb):
    offices = set(kb.locality["offices"])
    entries = [*kb.faqs.values(), *kb.guides.values()]
    assert {e.owner for e in entries} - {None} <= offices
    assert sum(1 for e in entries if e.owner) >= 50 and sum(1 for e in entries if e.legal_basis) >= 30
    # a decree cited by its sources, an expiry stated by its sources
    assert "Nghị định 69/2024/NĐ-CP" in [b.id for b in kb.faqs["eid-levels"].legal_basis]
    assert kb.faqs["eid-card-fee"].valid_until == D("2026-12-31")
    assert kb.review_months == 12
    out = run("check")
    assert out.returncode == 0 and out.stdout.startswith("Content OK")


def test_real_content_due_for_review_only_after_review_months(kb):
    newest = max(e.reviewed for e in [*kb.faqs.values(), *kb.guides.values()])
    fresh = review_list(kb, newest)
    assert all(not any("months ago" in r for r in item.reasons) for item in fresh)
    later = review_list(kb, newest + dt.timedelta(days=800))
    assert len(later) == len(kb.faqs) + len(kb.guides)
    assert any(r.startswith("expired 2026-12-31") for r in next(i for i in later if i.key == "faq:eid-card-fee").reasons)


# -- the loader checks the new fields ------------------------------------------------------------------------


def test_unknown_owner_and_bad_dates_name_the_file_the_line_and_the_entry(content_copy):
    eid = content_copy / "faq" / "eid.yaml"
    line = edit(eid, "- id: eid-what-is\n", "- id: eid-what-is\n  owner: polic\n") + 1
    edit(eid, "- id: eid-levels\n", "- id: eid-levels\n  valid_until: 31/12/2026\n")
    guide = content_copy / "guides" / "eid-activate.yaml"
    edit(guide, "\nreviewed: ", "\nlegal_basis: [see the decree]\nreviewed: ")
    problems = "\n".join(problems_for(content_copy))
    assert f"content/faq/eid.yaml:{line}: unknown owner 'polic' of FAQ entry 'eid-what-is' (use an office of content/locality.yaml: one_stop, police, reception)" in problems
    assert "valid_until of FAQ entry 'eid-levels' must be a date written YYYY-MM-DD, got '31/12/2026'" in problems
    assert re.search(r"content/guides/eid-activate\.yaml:\d+: legal_basis of guide 'eid-activate': 'see the decree' must name a numbered text", problems)


def test_sources_with_a_check_date_and_legal_basis_items_are_accepted_and_checked(content_copy):
    eid = content_copy / "faq" / "eid.yaml"
    source = "    - https://vnexpress.net/vneid-co-the-thay-the-nhung-giay-to-nao-4924821.html\n  reviewed: 2026-11-27\n  legal_basis: [Nghị định 69/2024/NĐ-CP]\n"
    edit(
        eid,
        source,
        "    - url: https://vnexpress.net/vneid-co-the-thay-the-nhung-giay-to-nao-4924821.html\n"
        "      checked: 2026-11-28\n      fingerprint: sha256:00aa11bb22cc33dd\n"
        "  reviewed: 2026-11-27\n"
        "  legal_basis:\n    - {id: Nghị định 69/2024/NĐ-CP, title: định danh và xác thực điện tử, url: https://vanban.chinhphu.vn/?docid=210870}\n"
        "  valid_until: 2027-06-30\n",
    )
    kb = load_knowledge(content_copy)
    entry = kb.faqs["eid-what-is"]
    assert entry.source_checks == (SourceCheck("https://vnexpress.net/vneid-co-the-thay-the-nhung-giay-to-nao-4924821.html", D("2026-11-28"), "sha256:00aa11bb22cc33dd"),)
    assert entry.sources[-1].startswith("https://vnexpress.net/") and entry.valid_until == D("2027-06-30")
    assert entry.legal_basis[0].title == "định danh và xác thực điện tử" and entry.legal_basis[0].url.startswith("https://vanban")

    edit(eid, "      checked: 2026-11-28\n", "      checked: 2099-01-01\n")
    edit(eid, "url: https://vanban.chinhphu.vn/?docid=210870", "url: vanban.chinhphu.vn")
    edit(content_copy / "locality.yaml", "review_months: 12", "review_months: zero")
    problems = "\n".join(problems_for(content_copy))
    assert "checked of FAQ entry 'eid-what-is' date 2099-01-01 is in the future" in problems
    assert "malformed URL 'vanban.chinhphu.vn'" in problems
    assert re.search(r"content/locality\.yaml:\d+: review_months must be a whole number of months from 1 to 120, got 'zero'", problems)


# -- review_list ----------------------------------------------------------------------------------------------


def test_expired_expiring_and_overdue_entries_and_their_reasons(kb):
    small = small_kb(
        kb,
        faqs=[
            faq(kb, "eid-levels", reviewed=D("2026-01-10"), valid_until=D("2026-07-01")),
            faq(kb, "eid-what-is", reviewed=D("2026-06-01"), valid_until=D("2026-08-20")),
            faq(kb, "eid-fee", reviewed=D("2025-07-31")),  # 12 months and 1 day: due
            faq(kb, "eid-who-eligible", reviewed=D("2025-08-01")),  # exactly 12 months: not yet
        ],
    )
    items = {i.entry_id: i for i in review_list(small, D("2026-08-01"))}
    assert set(items) == {"eid-levels", "eid-what-is", "eid-fee"}
    assert items["eid-levels"].reasons == ("expired 2026-07-01",)
    assert items["eid-what-is"].reasons == ("expires 2026-08-20, in 19 day(s)",)
    assert items["eid-fee"].reasons == ("reviewed 2025-07-31, 12 months ago (review every 12)",)
    assert items["eid-levels"].owner == "police" and items["eid-levels"].kind == "faq" and items["eid-levels"].topic == "eid"
    assert items["eid-levels"].title == kb.faqs["eid-levels"].questions.vi[0]
    # review_months comes from locality.yaml
    assert [i.entry_id for i in review_list(small_kb(kb, faqs=[faq(kb, "eid-fee", reviewed=D("2026-01-31"))], months=6), D("2026-08-01"))] == ["eid-fee"]


def test_most_asked_first_then_most_severe_then_longest_unreviewed(kb):
    guide = replace(kb.guides["eid-forgot-password"], reviewed=D("2024-01-01"))
    small = small_kb(
        kb,
        faqs=[
            faq(kb, "eid-levels", reviewed=D("2025-01-10")),  # overdue only
            faq(kb, "eid-what-is", reviewed=D("2026-05-01"), valid_until=D("2026-06-01")),  # expired
            faq(kb, "eid-fee", reviewed=D("2024-03-01")),  # overdue, longer
            faq(kb, "eid-forgot-password", reviewed=D("2025-02-01")),  # same id as the guide
        ],
        guides=[guide],
    )
    today = D("2026-08-01")
    assert [i.key for i in review_list(small, today)] == [
        "faq:eid-what-is", "guide:eid-forgot-password", "faq:eid-fee", "faq:eid-levels", "faq:eid-forgot-password",
    ]
    asked = {"faq:eid-levels": 40, "guide:eid-forgot-password": 7, "faq:eid-forgot-password": 2}
    ordered = review_list(small, today, asked)
    assert [(i.key, i.asked) for i in ordered] == [
        ("faq:eid-levels", 40), ("guide:eid-forgot-password", 7), ("faq:eid-forgot-password", 2), ("faq:eid-what-is", 0), ("faq:eid-fee", 0),
    ]
    assert ordered[1].reasons == ("reviewed 2024-01-01, 31 months ago (review every 12)",)


def test_a_source_re_checked_for_another_entry_after_this_review_is_listed_unless_its_print_is_the_same(kb):
    def entries(b_print, a_print):
        older = faq(kb, "eid-levels", sources=(URL_A, URL_B), reviewed=D("2026-03-01"), source_checks=(SourceCheck(URL_A, D("2026-03-01"), a_print),) if a_print else ())
        newer = faq(kb, "eid-what-is", sources=(URL_A,), reviewed=D("2026-07-15"), source_checks=(SourceCheck(URL_A, D("2026-07-14"), b_print),))
        return small_kb(kb, faqs=[older, newer])

    today = D("2026-08-01")
    items = review_list(entries("sha256:1111aaaa", None), today)
    assert [(i.entry_id, i.reasons) for i in items] == [
        ("eid-levels", (f"source {URL_A} re-checked 2026-07-14 for faq:eid-what-is, after this entry's review (2026-03-01)",)),
    ]
    assert review_list(entries("sha256:1111aaaa", "sha256:1111aaaa"), today) == []  # same page as when reviewed
    changed = review_list(entries("sha256:2222bbbb", "sha256:1111aaaa"), today)
    assert changed[0].reasons == (f"source {URL_A} changed: re-checked 2026-07-14 for faq:eid-what-is, after this entry's review (2026-03-01)",)
    assert changed[0].severity > review_list(entries("sha256:1111aaaa", None), today)[0].severity


def test_an_operators_fingerprints_flag_the_pages_that_differ(kb):
    recorded = fingerprint("Lệ phí   đăng ký tạm trú\n7.000 đồng")
    assert recorded == fingerprint(" Lệ phí đăng ký tạm trú 7.000 đồng ")  # whitespace does not count
    a = faq(kb, "eid-levels", sources=(URL_A, URL_B), reviewed=D("2026-07-01"), source_checks=(SourceCheck(URL_A, D("2026-07-01"), recorded),))
    b = faq(kb, "eid-what-is", sources=(URL_A,), reviewed=D("2026-07-01"))  # no print of its own: the newest known
    small = small_kb(kb, faqs=[a, b])
    today = D("2026-08-01")
    assert review_list(small, today, fingerprints={URL_A: recorded, URL_B: "sha256:99"}) == []  # B: nothing to compare with
    items = review_list(small, today, fingerprints={URL_A: fingerprint("Lệ phí đăng ký tạm trú 10.000 đồng")})
    assert [(i.entry_id, i.reasons) for i in items] == [
        ("eid-levels", (f"source {URL_A} changed: the page differs from the fingerprint recorded 2026-07-01",)),
        ("eid-what-is", (f"source {URL_A} changed: the page differs from the fingerprint recorded 2026-07-01",)),
    ]


# -- asked counts and the command line ------------------------------------------------------------------------


def events_db(path: Path | str) -> Path | str:
    """The database `path` (a file or a PostgreSQL URL) with answers of several entries on two days."""
    noon = dt.datetime(2026, 11, 20, 12, tzinfo=VIETNAM).timestamp()
    old = dt.datetime(2026, 7, 1, 12, tzinfo=VIETNAM).timestamp()

    def ev(kind, entry, ts=noon, user="u1"):
        return Event(ts=ts, channel="web", user=user, lang="vi", kind=kind, topic="eid", entry_id=entry)

    db = connect(path)
    write_batch(
        db,
        [ev("faq", "eid-card-fee", user=f"u{i}") for i in range(5)]
        + [ev("faq", "eid-levels"), ev("guide", "eid-forgot-password"), ev("guide_step", "eid-forgot-password"), ev("faq", "eid-forgot-password")]
        + [ev("suggest", "eid-levels"), ev("fallback", None), ev("faq", "eid-levels", ts=old)],
    )
    db.close()
    return path


def test_asked_counts_answers_per_entry_since_a_day(db_target):
    db = connect(events_db(db_target))
    try:
        assert asked_counts(db, D("2026-09-01")) == {
            "faq:eid-card-fee": 5, "faq:eid-levels": 1, "guide:eid-forgot-password": 1, "faq:eid-forgot-password": 1,
        }
        assert asked_counts(db, D("2026-06-01"))["faq:eid-levels"] == 2
        assert asked_counts(db, D("2026-11-21")) == {}
    finally:
        db.close()


def test_check_stale_prints_the_table_most_asked_first(tmp_path, content_copy, kb):
    db = events_db(tmp_path / "a.db")
    page = "https://vnexpress.net/vneid-co-the-thay-the-nhung-giay-to-nao-4924821.html"
    edit(content_copy / "faq" / "eid.yaml", f"    - {page}\n", f"    - url: {page}\n      checked: 2026-11-27\n      fingerprint: {fingerprint('old page')}\n")
    prints = tmp_path / "prints.json"
    prints.write_text(json.dumps({page: fingerprint("new page")}))
    out = run("--content", str(content_copy), "check", "--stale", "--today", "2026-12-15", "--db", str(db), "--sources", str(prints))
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0].startswith("Content OK")
    # every entry citing the page is listed: the fingerprint recorded for one of them is the newest known
    citing = {f"{kind}:{e.id}" for kind, group in (("faq", kb.faqs), ("guide", kb.guides)) for e in group.values() if page in e.sources}
    assert len(citing) >= 3
    total = len(kb.faqs) + len(kb.guides)
    assert f"{len(citing) + 1} of {total} entries need review on 2026-12-15 (review every 12 months; asked = answers in the 90 days to 2026-12-15)" in out.stdout
    header = next(i for i, line in enumerate(lines) if line.startswith("entry "))
    assert lines[header].split() == ["entry", "asked", "owner", "why"]
    rows = lines[header + 1:]
    assert rows[0].split()[:3] == ["faq:eid-card-fee", "5", "police"] and "expires 2026-12-31, in 16 day(s)" in rows[0]
    assert {row.split()[0] for row in rows[1:]} == citing
    assert all(f"source {page} changed: the page differs from the fingerprint recorded 2026-11-27" in row for row in rows[1:])
    assert next(row for row in rows if row.startswith("faq:eid-what-is ")).split()[1:3] == ["0", "-"]

    plain = run("check", "--stale", "--today", "2026-12-02")
    assert plain.returncode == 0 and "asked: not counted, pass --db" in plain.stdout


def test_check_stale_refuses_bad_inputs_with_exit_2(tmp_path):
    bad = tmp_path / "prints.json"
    bad.write_text("{not json")
    out = run("check", "--stale", "--sources", str(bad))
    assert out.returncode == 2 and "--sources" in out.stderr and "not JSON" in out.stderr
    out = run("check", "--stale", "--db", str(tmp_path / "missing.db"))
    assert out.returncode == 2 and "no analytics database there" in out.stderr and not (tmp_path / "missing.db").exists()
    out = run("check", "--stale", "--today", "2026-13-01")
    assert out.returncode == 2 and "is not a date written YYYY-MM-DD" in out.stderr
