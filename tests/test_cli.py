"""`python -m bot ask` follows the DESIGN.md contract exactly."""

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
KEYS = {"kind", "topic", "id", "score", "lang", "text", "suggestions"}
EXTRA = {"explain"}  # our addition to the contract: why the matcher decided what it did


def run(*args, stdin=""):
    return subprocess.run([sys.executable, "-m", "bot", *args], input=stdin, capture_output=True, text=True, cwd=ROOT, timeout=120)


def test_ask_json_answer():
    out = run("ask", "--json", "quen mat khau vneid")
    record = json.loads(out.stdout)
    assert set(record) == KEYS | EXTRA
    assert record["kind"] == "faq" and record["id"] == "eid-forgot-password" and record["topic"] == "eid"
    assert record["lang"] == "vi" and 0 <= record["score"] <= 1 and "Quên mật khẩu" in record["text"]
    assert record["suggestions"] == []


def test_ask_json_suggest_smalltalk_fallback_and_forced_language():
    suggest = json.loads(run("ask", "--json", "vneid").stdout)
    assert suggest["kind"] == "suggest" and len(suggest["suggestions"]) == 3
    assert set(suggest["suggestions"][0]) == {"id", "topic", "title"} and suggest["topic"] == suggest["suggestions"][0]["topic"]
    small = json.loads(run("ask", "--json", "xin chào").stdout)
    assert small["kind"] == "smalltalk" and small["topic"] is None and small["id"] is None
    fallback = json.loads(run("ask", "--json", "thời tiết hôm nay thế nào").stdout)
    assert fallback["kind"] == "fallback" and fallback["topic"] is None and "1800 1096" in fallback["text"]
    english = json.loads(run("ask", "--json", "--lang", "en", "quên mật khẩu vneid").stdout)
    assert english["lang"] == "en" and "password" in english["text"].lower()


def test_ask_guide_kind():
    record = json.loads(run("ask", "--json", "hướng dẫn từng bước kích hoạt vneid").stdout)
    assert record["kind"] == "guide" and record["id"] == "eid-activate"


def test_ask_jsonl_one_object_per_line_in_order():
    questions = ["kich hoat vneid", "", "how do i pay my water bill", "😀", "thoi tiet hom nay"]
    out = run("ask", "--jsonl", stdin="\n".join(questions) + "\n")
    lines = out.stdout.splitlines()
    assert len(lines) == 4  # blank lines are skipped, everything else answered
    records = [json.loads(line) for line in lines]
    assert all(set(r) == KEYS | EXTRA for r in records)
    assert records[0]["topic"] == "eid" and records[1]["lang"] == "en" and records[2]["kind"] == "fallback"


def test_ask_human_readable_shows_numbered_options():
    out = run("ask", "vneid")
    assert out.returncode == 0 and "1. " in out.stdout and "Có phải bạn muốn hỏi" in out.stdout


def test_chat_conversation_in_the_terminal(tmp_path):
    env_db = tmp_path / "chat.db"
    proc = subprocess.run(
        [sys.executable, "-m", "bot", "chat"], input="kich hoat vneid\n1\n/quit\n", capture_output=True, text=True,
        cwd=ROOT, timeout=120, env={**__import__("os").environ, "DIGIGUIDE_DB": str(env_db)},
    )
    assert proc.returncode == 0
    assert "Xin chào" in proc.stdout and "Gõ số để chọn" in proc.stdout
    assert env_db.exists()


def links_env(tmp_path):
    """`links` reads Settings, which keep a generated salt next to the database: both under tmp_path."""
    return {**os.environ, "DIGIGUIDE_DB": str(tmp_path / "data" / "links.db"), "TELEGRAM_BOT_USERNAME": "digiguide_bot"}


def test_links_piped_into_head_ends_without_a_traceback(tmp_path):
    """`links | head -1`: head leaves after one line; the rest of the listing meets a closed pipe."""
    command = f"{shlex.quote(sys.executable)} -m bot links | head -1"
    out = subprocess.run(["bash", "-c", command], capture_output=True, text=True, cwd=tmp_path, env=links_env(tmp_path), timeout=120)
    assert out.stdout.count("\n") == 1 and "Menu" in out.stdout
    assert "Traceback" not in out.stderr and "BrokenPipeError" not in out.stderr, out.stderr


def test_links_into_a_pipe_nobody_reads_ends_quietly_with_exit_1(tmp_path):
    """The same without timing: the pipe's read end is closed before the command starts, so its very first
    write fails. Exit 1 (what Python itself does on EPIPE), one quiet stderr, no traceback."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        proc = subprocess.run([sys.executable, "-m", "bot", "links"], stdout=write_end, stderr=subprocess.PIPE, text=True, cwd=tmp_path, env=links_env(tmp_path), timeout=120)
    finally:
        os.close(write_end)
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr and "BrokenPipe" not in proc.stderr and "Exception ignored" not in proc.stderr, proc.stderr
