"""What officials read of citizens' questions: the stored question is the citizen's own wording, redacted
(never the folded key); the report shows each key's most common wording; the report's table gives the
cluster keys that `mark` takes, and `mark` refuses a key or an entry that does not exist. Events are made
by the real engine from typed texts and stored through the real event store, in an SQLite file and in
PostgreSQL (db_target; the command-line tests whose SQL the others already run on both stay on SQLite)."""

from __future__ import annotations

import csv
import io
import re
import subprocess
import sys
from pathlib import Path

import pytest

from analytics import report as rpt
from analytics.store import connect, write_batch
from bot.engine import Incoming

ROOT = Path(__file__).resolve().parent.parent
GOLD, GOLD_PLAIN = "Giá vàng hôm nay bao nhiêu?", "gia vang hom nay bao nhieu"  # one key, two wordings
FORGOT, FORGOT_PLAIN = "Quên mật khẩu VNeID", "quen mat khau vneid"  # answered: a top question
LETTER = (  # a long unanswered letter: its key is longer than any table column
    "Kính gửi cán bộ xã, gia đình tôi có mảnh vườn trồng vải thiều và nhãn lồng ở thôn bên, năm nay sâu bệnh "
    "nhiều quá, muốn hỏi xã có chương trình hỗ trợ thuốc bảo vệ thực vật và giống cây mới cho bà con không ạ"
)
FORMULA = '=HYPERLINK("http://evil.example","bấm vào đây")'


def ask(engine, texts: list[str], prefix: str) -> list:
    """Each text from a citizen of its own, as the engine records it."""
    return [engine.handle(Incoming("web", f"{prefix}-{i}", text=t)).event for i, t in enumerate(texts)]


SQLITE_ONLY = pytest.mark.parametrize("db_target", ["sqlite"], indirect=True)


@pytest.fixture
def path(db_target, engine) -> str:
    """The database (a file path or a PostgreSQL URL) with the questions above."""
    events = ask(engine, [GOLD] * 3 + [GOLD_PLAIN] * 2, "gold")
    events += ask(engine, [FORGOT] * 3 + [FORGOT_PLAIN, "Quên mật khẩu VNeID, sđt 0912 345 678"], "forgot")
    events += ask(engine, [LETTER, FORMULA], "odd")
    db = connect(db_target)
    write_batch(db, events)
    db.close()
    return db_target


@pytest.fixture
def db(path):
    db = connect(path)
    yield db
    db.close()


def cli(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "analytics", *map(str, args)], capture_output=True, text=True, cwd=ROOT, timeout=120)


def cluster(db, text: str):
    return next(c for c in rpt.unanswered_clusters(db, include_ignored=True) if text in c.examples)


def test_the_stored_question_is_the_citizens_wording_without_their_data(engine):
    [event] = ask(engine, ["Quên mật khẩu VNeID, sđt 0912 345 678 nhé"], "pii")
    assert event.question == "Quên mật khẩu VNeID, sđt <phone> nhé"
    assert event.question_key and event.question_key != event.question and "0912" not in event.question_key


def test_a_cluster_reads_as_its_most_common_wording(db):
    gold = cluster(db, GOLD)
    assert gold.count == 5 and gold.example == GOLD and gold.examples[0] == GOLD
    assert set(gold.examples) == {GOLD, GOLD_PLAIN}


def test_among_equally_common_wordings_the_one_with_diacritics_is_shown(db_target, engine):
    db = connect(db_target)
    write_batch(db, ask(engine, [GOLD_PLAIN, GOLD, GOLD_PLAIN, GOLD], "tie"))
    try:
        assert cluster(db, GOLD).example == GOLD
    finally:
        db.close()


def test_a_top_question_reads_as_its_most_common_wording(db):
    top = {q.example: q for q in rpt.top_questions(db) if q.topic == "eid"}
    assert top[FORGOT].count == 4 and top[FORGOT].key not in top  # 3 with diacritics, 1 without; never the key
    assert "Quên mật khẩu VNeID, sđt <phone>" in top  # with a phone number: its own key, and the number is gone
    assert "0912" not in str(rpt.full_report(db))


@SQLITE_ONLY
def test_the_table_shows_the_whole_key_and_mark_takes_it(path, db):
    out = cli("report", "--db", path)
    assert out.returncode == 0, out.stderr
    section = out.stdout.split("== Unanswered question clusters ==")[1].split("\n\n")[0]
    header, *rows = section.strip().splitlines()
    assert header.split()[-2:] == ["example", "key"] and 'python -m analytics mark "KEY"' in rows[-1]
    letter = cluster(db, LETTER)
    assert len(letter.key) > 60 and any(row.endswith("  " + letter.key) for row in rows)  # whole, as the last column
    gold = cluster(db, GOLD)
    assert any(GOLD in row and row.endswith("  " + gold.key) for row in rows)

    marked = cli("mark", gold.key, "resolved", "--entry", "eid-what-is", "--db", path)
    assert marked.returncode == 0, marked.stderr
    assert (cluster(db, GOLD).status, cluster(db, GOLD).entry_id) == ("resolved", "eid-what-is")


def test_mark_refuses_a_key_or_an_entry_that_does_not_exist(path, db):
    gold = cluster(db, GOLD)
    pasted = cli("mark", GOLD, "ignored", "--db", path)  # the example instead of its key
    assert pasted.returncode == 2 and "no stored question has the key" in pasted.stderr and '"key" column' in pasted.stderr
    typo = cli("mark", gold.key, "resolved", "--entry", "eid-what-iss", "--db", path)
    assert typo.returncode == 2 and "no FAQ entry or guide 'eid-what-iss'" in typo.stderr and "eid-what-is" in typo.stderr
    assert cli("mark", gold.key, "resolved", "--entry", "no-such-thing", "--db", path).returncode == 2
    assert db.scalar("select count(*) from cluster_marks") == 0  # nothing was marked
    assert cli("mark", f"  {gold.key} ", "ignored", "--db", path).returncode == 0  # spaces around a pasted key are fine


@SQLITE_ONLY
def test_a_question_typed_like_a_formula_stays_text_in_every_csv(path, tmp_path):
    report = cli("report", "--db", path, "--format", "csv")
    assert report.returncode == 0, report.stderr
    cells = [c for row in csv.reader(io.StringIO(report.stdout)) for c in row]
    assert "'" + FORMULA in " | ".join(cells) and not any(c.startswith(("=", "+", "@")) for c in cells)
    assert cli("export", "--db", path, "--out", tmp_path / "out").returncode == 0
    with (tmp_path / "out" / "events.csv").open(encoding="utf-8") as fh:
        questions = [r["question"] for r in csv.DictReader(fh)]
    assert "'" + FORMULA in questions and not any(re.match(r"[=+@]", q) for q in questions)
