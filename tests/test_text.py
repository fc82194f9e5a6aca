import unicodedata

import pytest

from bot.redact import redact
from bot.text import MAX_QUERY_CHARS, Lexicon, Normaliser, clean, fold, undo_ime


def test_fold_makes_nfc_nfd_and_missing_diacritics_equal():
    nfc = "Đăng ký tạm trú ở đâu?"
    nfd = unicodedata.normalize("NFD", nfc)
    assert nfc != nfd
    assert fold(nfc) == fold(nfd) == fold("dang ky tam tru o dau") == "dang ky tam tru o dau"


def test_fold_maps_d_with_stroke_and_its_mojibake():
    assert fold("ĐỊNH DANH đ") == "dinh danh d"
    assert fold("ðăng nhập") == "dang nhap"


def test_fold_drops_emoji_punctuation_zero_width_and_controls():
    assert fold("kích\u200bhoạt!!! 😀😀 vneid\x07???") == "kich hoat vneid"
    assert fold("😀🙏👍") == ""


def test_clean_removes_invisible_characters_but_keeps_the_words():
    assert clean("  xin\u200b chào\x00\x1b ") == "xin chào"
    assert clean("a" * 10_000) == "a" * MAX_QUERY_CHARS


def test_teencode_and_abbreviations_expand_to_content_words(kb, matcher):
    normaliser = matcher.normaliser
    readings = normaliser.readings("ko nhan dc ma otp")
    assert ["xkhongnhan", "ma", "otp"] in readings
    assert normaliser.readings("cccd")[0] == ["xcancuoc"]
    assert normaliser.readings("đk vneid")  # ambiguous "đk" gives every reading
    dk = {tuple(r) for r in normaliser.readings("dk tam tru")}
    assert ("dang", "ky", "tam", "tru") in dk and ("duoc", "tam", "tru") in dk


def test_ambiguous_mk_reads_as_password_and_as_pronoun(matcher):
    readings = [r for r in matcher.normaliser.readings("quen mk")]
    assert ["xquen", "xmatkhau"] in readings
    assert ["xquen", "minh"] in readings


@pytest.mark.parametrize(
    "typed, repaired",
    [("ddawng", "dang"), ("kys", "ky"), ("d9a8ng", "dang"), ("lamf", "lam"), ("dnag", "dang")],
)
def test_guarded_typo_repair_fixes_impossible_syllables(matcher, typed, repaired):
    assert matcher.normaliser.readings(f"{typed} nhap")[0][0] == repaired


def test_typo_repair_leaves_real_words_and_codes_alone(matcher):
    n = matcher.normaliser
    assert n.repair("nuoc") == "nuoc"  # a valid syllable is never "corrected"
    assert n.repair("vneid") == "vneid"
    assert n.readings("muc2")[0] == ["xmuc2"]  # digit kept: level 2, not "muc"
    assert undo_ime("xyz") is None


def test_lexicon_concepts_apply_longest_phrase_first():
    lex = Lexicon.from_dict({"abbreviations": {}, "concepts": {"xa": ["mat khau"], "xb": ["quen"]}})
    n = Normaliser(lex)
    assert n.tokens("quên mật khẩu") == ["xb", "xa"]


@pytest.mark.parametrize(
    "text, planted, label",
    [
        ("số cccd của tôi là 001203004567 nhé", "001203004567", "<id-number>"),
        ("cccd 001 203 004 567", "001 203 004 567", "<id-number>"),
        ("cmnd cũ 123456789", "123456789", "<id-number>"),
        ("sdt 0912345678 không nhận otp", "0912345678", "<phone>"),
        ("gọi 0912 345 678", "0912 345 678", "<phone>"),
        ("số +84 912 345 678", "912 345 678", "<phone>"),
        ("mã otp là 482913", "482913", "<code>"),
        ("ma 4821", "4821", "<code>"),
        ("stk 19036677889900 techcombank", "19036677889900", "<account-number>"),
        ("email nguyenvana@gmail.com", "nguyenvana@gmail.com", "<email>"),
        ("mã khách hàng PA03XY1234567", "PA03XY1234567", "<customer-code>"),
    ],
)
def test_redaction_removes_identifying_numbers(text, planted, label):
    out = redact(text)
    assert planted not in out
    assert label in out


def test_redaction_keeps_harmless_numbers():
    assert redact("năm 2025 chuyển 10 triệu, 68 tuổi, mức 2") == "năm 2025 chuyển 10 triệu, 68 tuổi, mức 2"
