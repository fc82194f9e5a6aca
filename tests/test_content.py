"""Content validation: the real content passes; each kind of mistake an editor can make is reported with
its file and line, `check` exits non-zero, and nothing starts on bad content."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

from bot.knowledge import TOPIC_IDS, ContentError, load_knowledge

ROOT = Path(__file__).resolve().parent.parent


def problems_for(content: Path) -> list[str]:
    with pytest.raises(ContentError) as info:
        load_knowledge(content)
    return [str(p) for p in info.value.problems]


def edit(path: Path, old: str, new: str, count: int = 1) -> int:
    """Replace text in a content file; return the 1-based line of the first replacement."""
    text = path.read_text(encoding="utf-8")
    index = text.index(old)
    path.write_text(text.replace(old, new, count), encoding="utf-8")
    return text[:index].count("\n") + 1


def test_real_content_is_valid_and_complete(kb):
    assert len(kb.faqs) >= 70 and len(kb.guides) >= 12
    for topic in TOPIC_IDS:
        assert sum(f.topic == topic for f in kb.faqs.values()) >= 7, topic
    for faq in kb.faqs.values():
        assert len(faq.questions.vi) >= 4 and len(faq.questions.en) >= 1
        assert faq.answer.vi and faq.answer.en and faq.sources and faq.reviewed
    required_guides = {
        "eid-activate", "eid-register-level1", "eid-level2-police", "eid-forgot-password", "portal-login-vneid",
        "portal-submit-track", "fees-pay-portal", "bills-electric-water", "qr-pay-shop", "safety-report-scam",
        "signature-remote-setup", "eid-integrate-docs",
    }
    assert required_guides <= set(kb.guides)


def test_content_covers_the_services_citizens_use(kb):
    """The services people now do in VNeID and on the portal have answers and step-by-step guides, not
    just "how to log in"."""
    assert len(kb.faqs) >= 150 and len(kb.guides) >= 24
    service_guides = {
        "portal-newborn-bundle", "portal-residence-permanent", "portal-residence-temporary", "portal-stay-notice",
        "portal-judicial-record", "eid-card-reissue-merger", "fees-camera-fine-plate", "qr-bank-biometrics",
        "qr-school-fees", "qr-hospital-fees",
    }
    assert service_guides <= set(kb.guides)
    for guide_id in service_guides:
        guide = kb.guides[guide_id]
        assert guide.code and len(guide.steps) >= 3 and guide.problems and guide.sources, guide_id
        assert any(f.guide == guide_id for f in kb.faqs.values()), f"no FAQ entry offers {guide_id}"
    # No procedure people do online is refused as out of scope any more.
    refused = " ".join(q for item in kb.out_of_scope for q in item.questions).lower()
    for need in ("khai sinh cho con", "tạm trú", "thường trú", "lý lịch tư pháp", "tình trạng hôn nhân", "khai tử"):
        assert need not in refused, need


def test_changed_facts_of_2025_26_are_stated(kb):
    text = {f.id: f.answer.vi for f in kb.faqs.values()}
    assert re.search("miễn (lệ )?phí|không mất phí", text["eid-card-after-merger"]) and "7 ngày" in text["eid-card-after-merger"]
    assert "iPhone 7" in text["eid-no-nfc"]
    assert "1/1/2026" in text["qr-biometric"] and "1/1/2025" in text["qr-biometric"]
    assert "Huế" in text["sig-cost"] and "Thừa Thiên" not in text["sig-cost"]
    assert "VNeID" in text["sig-vneid-not-signature"]
    assert "156" in text["safety-report-where"] and "5656" in text["safety-report-where"]
    assert "biển số" in text["fees-traffic-fine-lookup"].lower()


def test_every_hotline_that_is_charged_says_so(kb):
    for key, hotline in kb.locality["hotlines"].items():
        if not isinstance(hotline, dict) or "number" not in hotline:
            continue
        if str(hotline["number"]).replace(" ", "").startswith("1900"):
            assert "tính cước" in hotline["label"]["vi"] or "tính phí" in hotline["label"]["vi"], key
            assert "charged" in hotline["label"]["en"], key


def test_content_uses_current_administrative_names(kb):
    texts = [f.answer.vi for f in kb.faqs.values()] + [s.vi for g in kb.guides.values() for s in g.steps]
    for text in texts:
        assert not re.search(r"tỉnh Vĩnh Phúc|(?<!\w)huyện ", text), text  # "chuyện" is not a district
    assert kb.message("welcome", "vi").count("tỉnh Phú Thọ") == 1


def test_placeholders_are_filled_from_locality(kb):
    hotline = kb.locality["hotlines"]["vneid"]["number"]
    assert any(hotline in f.answer.vi for f in kb.faqs.values())
    for faq in kb.faqs.values():
        assert "{" not in faq.answer.vi and "}" not in faq.answer.en


def test_unknown_key_is_reported_with_file_and_line(content_copy):
    line = edit(content_copy / "faq" / "eid.yaml", "  topic: eid\n", "  topic: eid\n  colour: blue\n")
    assert f"content/faq/eid.yaml:{line + 1}: unknown key 'colour'" in "\n".join(problems_for(content_copy))


def test_missing_language_is_reported(content_copy):
    guide = content_copy / "guides" / "qr-pay-shop.yaml"
    text = guide.read_text(encoding="utf-8")
    en_line = next(i for i, l in enumerate(text.splitlines(), 1) if l.strip().startswith("en:") and i > 5)
    lines = text.splitlines()
    del lines[en_line - 1]
    guide.write_text("\n".join(lines) + "\n", encoding="utf-8")
    problems = "\n".join(problems_for(content_copy))
    assert "content/guides/qr-pay-shop.yaml:" in problems and "missing 'en'" in problems


def test_duplicate_id_is_reported_at_the_second_entry(content_copy):
    edit(content_copy / "faq" / "eid.yaml", "- id: eid-levels\n", "- id: eid-what-is\n")
    problems = "\n".join(problems_for(content_copy))
    assert re.search(r"content/faq/eid\.yaml:\d+: duplicate FAQ id 'eid-what-is' \(first at content/faq/eid\.yaml:\d+\)", problems)


def test_broken_guide_link_and_unknown_topic_are_reported(content_copy):
    faq = content_copy / "faq" / "eid.yaml"
    edit(faq, "  guide: eid-activate\n", "  guide: eid-activate-typo\n")
    line = edit(content_copy / "faq" / "qr.yaml", "  topic: qr\n", "  topic: banking\n")
    problems = "\n".join(problems_for(content_copy))
    assert "links to guide 'eid-activate-typo', which does not exist" in problems
    assert f"content/faq/qr.yaml:{line}: unknown topic 'banking'" in problems


def test_malformed_url_and_bad_date_are_reported(content_copy):
    faq = content_copy / "faq" / "eid.yaml"
    text = faq.read_text(encoding="utf-8")
    first_url = re.search(r"^    - (https?://\S+)$", text, re.M).group(1)
    line = edit(faq, f"    - {first_url}\n", "    - www.example without scheme\n")
    edit(faq, "reviewed: 2026-11-27", "reviewed: 27/11/2026")
    problems = "\n".join(problems_for(content_copy))
    assert f"content/faq/eid.yaml:{line}: malformed URL" in problems
    assert "reviewed must be a date written YYYY-MM-DD" in problems


def test_unknown_placeholder_is_reported(content_copy):
    edit(content_copy / "messages.yaml", "{hotlines.portal.number} ({hotlines.portal.label})", "{hotlines.portl.number}")
    assert any("unknown placeholder {hotlines.portl.number}" in p for p in problems_for(content_copy))


def test_answer_too_long_for_zalo_is_reported(content_copy):
    long_text = "Đây là một câu rất dài. " * 100  # 2,400 characters: fits Telegram, not Zalo
    edit(content_copy / "faq" / "eid.yaml", "  answer:\n    vi: |\n", f"  answer:\n    vi: |\n      {long_text}\n")
    problems = "\n".join(problems_for(content_copy))
    assert "over Zalo's 2000" in problems and "content/faq/eid.yaml:" in problems


def test_answer_too_long_for_telegram_is_reported(content_copy):
    long_text = "Đây là một câu rất dài. " * 180
    edit(content_copy / "faq" / "eid.yaml", "  answer:\n    vi: |\n", f"  answer:\n    vi: |\n      {long_text}\n")
    assert any("over Telegram's 4096" in p for p in problems_for(content_copy))


def test_near_duplicate_phrasings_across_entries_are_reported(content_copy):
    kb = load_knowledge(content_copy)
    stolen = kb.faqs["eid-levels"].questions.vi[0]
    edit(content_copy / "faq" / "eid.yaml", "  questions:\n    vi:\n", f"  questions:\n    vi:\n      - \"{stolen}\"\n")
    problems = "\n".join(problems_for(content_copy))
    assert "is nearly the same as" in problems and "eid-levels" in problems


def test_yaml_syntax_error_names_the_line(content_copy):
    line = edit(content_copy / "topics.yaml", "- id: qr\n", "- id: qr\n  title: [unclosed\n")
    problems = problems_for(content_copy)
    assert len(problems) == 1 and problems[0].startswith("content/topics.yaml:") and "YAML syntax" in problems[0]


def test_check_command_exits_non_zero_and_chat_refuses_to_start(content_copy):
    edit(content_copy / "faq" / "qr.yaml", "  topic: qr\n", "  topic: banking\n")
    for command in (["check"], ["ask", "xin chào"], ["chat"]):
        run = subprocess.run(
            [sys.executable, "-m", "bot", "--content", str(content_copy), *command],
            capture_output=True, text=True, cwd=ROOT, input="", timeout=60,
        )
        assert run.returncode == 1, command
        assert "unknown topic 'banking'" in run.stderr


def test_check_command_reports_ok_on_real_content():
    run = subprocess.run([sys.executable, "-m", "bot", "check"], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert run.returncode == 0 and "Content OK" in run.stdout
