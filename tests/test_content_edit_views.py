"""What the editor sees before publishing: impact on the labelled questions, "try a question", the
preview per channel, and the editor pre-filled from the inbox. On `content_copy`, never content/."""

import html
import json
import subprocess
import sys
from pathlib import Path

import pytest

from bot.content_edit import ContentRepo, Draft, NotFound, Route, draft_from_question, impact, preview, publish, try_question
from bot.content_edit.impact import editor_items
from bot.channels.zalo import utf16_len
from bot.knowledge import load_knowledge

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def live(content_copy, kb, matcher):
    """The copy's content and its matcher (the session's, built on identical files)."""
    copy_kb = load_knowledge(content_copy)
    assert copy_kb.version == kb.version
    return copy_kb, matcher


def suggested_questions(kb, matcher, limit=8):
    """Labelled questions the live content only suggests for, with the right FAQ entry suggested first."""
    found = []
    for name, item in editor_items():
        if name != "devset" or item.type != "in":
            continue
        match = matcher.search(item.q)
        if match.kind == "suggest" and match.entry is not None and match.entry.id in item.expect and match.entry.id in kb.faqs:
            found.append((item, match.entry.id))
            if len(found) >= limit:
                break
    return found


def test_the_sealed_part_is_never_shown_to_editors():
    items = editor_items()
    assert len(items) > 500
    assert all(item.split != "sealed" for _, item in items) and not any("sealed" in name for name, _ in items)


def test_adding_a_phrasing_shows_the_question_moving_from_suggest_to_answer(content_copy, live):
    kb, matcher = live
    repo = ContentRepo(content_copy)
    for item, entry_id in suggested_questions(kb, matcher):
        entry = repo.get("faq", entry_id)
        entry["questions"][item.lang].append(item.q)
        draft = Draft(repo)
        draft.apply("faq", entry_id, entry)
        if draft.validate().ok:
            break
    else:
        pytest.fail("no suggested question could become a phrasing")
    draft_kb = draft.kb()
    result = impact(kb, draft_kb, current_matcher=matcher)
    moved = [m for m in result.moves if m.before == Route("suggest", entry_id) and m.after == Route("answer", entry_id)]
    assert moved, [m.summary for m in result.moves]
    move = moved[0]
    assert move.better >= 1 and (item.q in [e.q for e in move.examples] or move.count > len(move.examples))
    n = move.count
    assert move.summary == f"{n} question{'' if n == 1 else 's'} that went to {entry_id} (suggest) now go{'es' if n == 1 else ''} to {entry_id} (answer)"
    assert result.questions == len(editor_items()) and result.changed == sum(m.count for m in result.moves) >= 1
    assert result.base_version == kb.version != result.draft_version == draft_kb.version
    data = json.loads(json.dumps(result.to_dict()))
    assert data["moves"][0]["summary"] and data["moves"][0]["before"]["label"]
    assert all(e["set"] != "real-sealed" for m in data["moves"] for e in m["examples"])
    # the "try a question" box says the same for that question
    assert try_question(kb, item.q)["kind"] == "suggest"
    tried = try_question(draft_kb, item.q)
    assert (tried["kind"], tried["id"]) == ("faq", entry_id)


def test_an_unrelated_edit_moves_nothing(content_copy, live):
    kb, matcher = live
    repo = ContentRepo(content_copy)
    entry = repo.get("faq", "eid-levels")
    entry["sources"] = [*entry["sources"], "https://vneid.gov.vn/huong-dan"]
    draft = Draft(repo)
    draft.apply("faq", "eid-levels", entry)
    result = impact(kb, draft.kb(), current_matcher=matcher)
    assert (result.changed, result.moves, result.worse) == (0, [], 0)


def test_try_is_the_ask_json_object(content_copy, live):
    kb, _ = live
    question = "quen mat khau vneid"
    out = subprocess.run([sys.executable, "-m", "bot", "--content", str(content_copy), "ask", "--json", question], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert out.returncode == 0, out.stderr
    assert try_question(kb, question) == json.loads(out.stdout)
    english = try_question(kb, "quên mật khẩu vneid", lang="en")
    assert english["lang"] == "en" and "password" in english["text"].lower()


def test_preview_of_an_answer_per_channel(live):
    kb, _ = live
    faq = kb.faqs["eid-forgot-password"]
    shown = preview(kb, "faq", faq.id, "vi")
    assert set(shown) == {"telegram", "zalo", "web"}
    [tg] = shown["telegram"]
    assert html.unescape(tg["html"]).startswith(faq.answer.vi) and "<" not in tg["html"].replace("&lt;", "")
    labels = [b["label"] for row in tg["buttons"] for b in row]
    assert kb.button("helpful", "vi") in labels and {"action": f"fb:{faq.id}:up", "label": kb.button("helpful", "vi")} in [b for row in tg["buttons"] for b in row]
    [zalo] = shown["zalo"]
    hint = kb.message("numbered_hint", "vi")
    options = zalo.split(hint, 1)[1].strip().splitlines()
    assert options == [f"{n}. {label}" for n, label in enumerate(labels, 1)] and utf16_len(zalo) <= 2000
    [web] = shown["web"]
    assert web["text"].startswith(faq.answer.vi) and [b["label"] for b in web["buttons"]] == labels and web["rows"]
    english = preview(kb, "faq", faq.id, "en")
    assert english["web"][0]["text"].startswith(faq.answer.en)
    with pytest.raises(NotFound):
        preview(kb, "faq", "no-such-entry", "vi")


def test_preview_of_a_guide_shows_every_page_and_of_a_draft_its_new_text(content_copy, live):
    kb, _ = live
    guide = kb.guides["eid-activate"]
    shown = preview(kb, "guide", guide.id, "vi")
    pages = len(guide.steps) + 2
    assert len(shown["telegram"]) == len(shown["zalo"]) == len(shown["web"]) == pages
    assert guide.title.vi in shown["zalo"][0] and guide.steps[0].vi in shown["web"][1]["text"]
    assert all(utf16_len(m) <= 2000 for m in shown["zalo"])
    repo = ContentRepo(content_copy)
    entry = repo.get("faq", "eid-forgot-password")
    entry["answer"]["vi"] = entry["answer"]["vi"].rstrip("\n") + "\nGhi nhớ: không đưa mã OTP cho ai."
    draft = Draft(repo)
    draft.apply("faq", "eid-forgot-password", entry)
    drafted = preview(draft.kb(), "faq", "eid-forgot-password", "vi")
    assert "Ghi nhớ: không đưa mã OTP cho ai." in drafted["zalo"][0] and "Ghi nhớ" not in preview(kb, "faq", "eid-forgot-password", "vi")["zalo"][0]


def test_inbox_question_prefills_a_new_entry(content_copy, live):
    kb, matcher = live
    repo = ContentRepo(content_copy)
    question = "bao nhieu tuoi thi dc lam vneid"
    pre = draft_from_question(repo, kb, question, matcher=matcher)
    assert pre.new and pre.kind == "faq" and pre.topic == "eid" and pre.lang == "vi"
    assert pre.id.startswith("eid-bao-nhieu-tuoi") and not repo.exists(pre.id)
    assert pre.entry["questions"] == {"vi": [question], "en": []} and pre.entry["id"] == pre.id
    draft = Draft(repo)
    draft.create("faq", pre.entry)
    assert [p.field for p in draft.validate().problems] == ["sources"]  # what is left to write, next to its field
    entry = {**pre.entry, "sources": ["https://vneid.gov.vn"]}
    draft.apply("faq", pre.id, entry)
    problems = {p.field: p.message for p in draft.validate().problems}
    assert "at least 4 'vi'" in problems["questions.vi"] and "missing 'vi' text" in problems["answer.vi"]
    assert "  answer:\n    vi: ''\n    en: ''\n" in draft.text("faq/eid.yaml")


def test_inbox_question_as_a_phrasing_of_an_existing_entry(content_copy, live):
    kb, matcher = live
    repo = ContentRepo(content_copy)
    question = "be may tuoi thi lam dinh danh dien tu duoc"
    pre = draft_from_question(repo, kb, question, entry_id="eid-who-eligible", matcher=matcher)
    assert not pre.new and pre.entry["questions"]["vi"][-1] == question
    assert pre.entry["questions"]["vi"][:-1] == repo.get("faq", "eid-who-eligible")["questions"]["vi"]
    again = draft_from_question(repo, kb, repo.get("faq", "eid-who-eligible")["questions"]["vi"][1].upper(), entry_id="eid-who-eligible", matcher=matcher)
    assert again.entry["questions"]["vi"] == repo.get("faq", "eid-who-eligible")["questions"]["vi"]  # already there
    english = draft_from_question(repo, kb, "how old must a child be for an e-ID account", entry_id="eid-who-eligible", matcher=matcher)
    assert english.lang == "en" and english.entry["questions"]["en"][-1] == "how old must a child be for an e-ID account"
    draft = Draft(repo)
    draft.apply("faq", "eid-who-eligible", pre.entry)
    publish(draft, "alice")
    assert question in load_knowledge(content_copy).faqs["eid-who-eligible"].questions.vi
    with pytest.raises(NotFound):
        draft_from_question(repo, kb, question, entry_id="no-such-entry", matcher=matcher)
