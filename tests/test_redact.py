"""PII redaction (bot.redact) as the engine applies it: what a citizen types, cleaned, redacted, folded and
keyed, must hold none of their ID, phone, OTP, account number or email, however they typed it, and must
still hold the amounts, years, dates and levels that analytics reads (issue 10, section 1).

The property tests generate the values and the ways people type them (glued to words, split by spaces,
dots or dashes, full-width or Arabic-Indic digits, zero-width characters, NFD) with hypothesis, with a
fixed seed (derandomize) so that CI sees the same examples every run.
"""

from __future__ import annotations

import atexit
import datetime as dt
import re
import shutil
import tempfile
import unicodedata
from dataclasses import dataclass

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.configuration import set_hypothesis_home_dir

from bot.engine import Engine, Incoming
from bot.redact import CURRENCY_WORDS, LETTERS, redact, redacted_key
from bot.state import MemoryStateStore
from bot.text import clean, fold

# Hypothesis keeps a cache in ./.hypothesis, written while pytest collects: keep it out of the checkout.
_HYPOTHESIS_HOME = tempfile.mkdtemp(prefix="digiguide-hypothesis-")
set_hypothesis_home_dir(_HYPOTHESIS_HOME)
atexit.register(shutil.rmtree, _HYPOTHESIS_HOME, ignore_errors=True)

PROPERTY = settings(max_examples=150, derandomize=True, database=None, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.fixture(scope="module")
def bot(kb, matcher) -> Engine:
    """One engine for every generated example (hypothesis wants no function-scoped fixture)."""
    return Engine(kb, MemoryStateStore(), salt="redact-tests", matcher=matcher)


def digits_in(text: str) -> str:
    """Every digit of a text, in any script, as ASCII."""
    return "".join(str(unicodedata.digit(c)) for c in unicodedata.normalize("NFKC", text) if c.isdecimal())


def stored(bot: Engine, text: str) -> dict[str, str]:
    """What leaves the engine for the database: the redacted text, the event's question and its key."""
    event = bot.handle(Incoming("web", "redact-tests", text=text)).event
    return {"redacted": redact(clean(text)), "question": event.question or "", "key": event.question_key or ""}


# -- examples: the forms named in the issue -----------------------------------------------------------------
@pytest.mark.parametrize(
    "typed, label",
    [
        ("cccd001203004567", "<id-number>"),
        ("sdt0912345678", "<phone>"),
        ("stk19036549821017", "<account-number>"),
        ("otp483920", "<code>"),
        ("0912345678_", "<phone>"),
        ("mã:483920", "<code>"),
        ("stk:19036549821017", "<account-number>"),
        ("09 12 34 56 78", "<phone>"),
        ("4 8 3 9 2 0", "<code>"),
        ("0912.345.678", "<phone>"),
        ("001-203-004-567", "<id-number>"),
        ("+84 912 345 678", "<phone>"),
        ("(+84) 912-345-678", "<phone>"),
        ("０９１２３４５６７８", "<phone>"),
        ("٠٩١٢٣٤٥٦٧٨", "<phone>"),
        ("09\u030112\u030134\u030156\u030178", "<phone>"),  # stray combining marks, which fold() deletes
        ("cmnd 132456789", "<id-number>"),
        ("mã 483 920 k được", "<code>"),  # "k" is không here, not thousands
        ("email nguyen.van-a_1990@gmail.com.vn", "<email>"),
        ("mã khách hàng PA03XY1234567", "<customer-code>"),
        ("makhPA03XY1234567", "<customer-code>"),
    ],
)
def test_identifiers_however_typed_are_replaced_by_their_label(typed, label):
    out = redact(typed)
    assert label in out
    assert not digits_in(out), out


@pytest.mark.parametrize(
    "kept",
    [
        "10 triệu", "500.000đ", "2 triệu 500", "năm 2025", "15/7/2025", "15-07-2025", "2025-07-15", "hạn 15/07",
        "tháng 07/2025", "lúc 10:30", "2024-2025", "năm 2025 10 triệu", "năm 1960 (65 tuổi)", "mức 2",
        "VNeID level 2", "113", "bước 3", "1900 9068", "18001096", "1.500.000 đồng", "50000 vnđ", "phí 20.000 VND",
    ],
)
def test_what_analytics_needs_is_kept(kept):
    assert redact(kept) == kept


def test_an_identifier_next_to_money_words_is_still_removed():
    assert redact("nhập 001 203 004 567 đồng thời sđt") == "nhập <id-number> đồng thời sđt"  # 12 digits: never money
    assert redact("mã 123 456 đồng ý") == "mã <code> đồng ý"  # "đồng ý" is "I agree", not money
    assert redact("số 0912.345.678đ") == "số <phone>đ"  # starts with 0: never money
    assert redact("biển số 19A-123.45") == "biển số 19A-<code>"  # split, 5 digits are not a short number


# -- the agreement with fold() ------------------------------------------------------------------------------
def test_letters_are_exactly_what_fold_keeps_as_letters():
    """The redactor's idea of a letter must be fold()'s, or folding could join what redaction kept apart."""
    letter = re.compile(f"[{LETTERS}]")
    blocks = [range(0x10000), range(0x1D400, 0x1D800), range(0x1F100, 0x1F200)]
    for codepoint in (cp for block in blocks for cp in block if not 0xD800 <= cp < 0xE000):
        for c in unicodedata.normalize("NFKC", chr(codepoint)):
            if c.isdecimal() or "\u0300" <= c <= "\u036f":
                continue  # digits are digits; stray marks are deleted first
            folded = fold(c)
            assert bool(letter.fullmatch(c)) == bool(re.search("[a-z]", folded)), (hex(codepoint), c, folded)
            assert not re.search("[0-9]", folded), (hex(codepoint), c, folded)


MIXED = "0123456789" * 4 + " .-/:,_()+@#\n" + "aAbcdđĐăâêôơưáàạếờpPxy" + "\u0301\u00ad\u00a0\u2009\u200b" + "０９٣①"


@PROPERTY
@given(st.text(MIXED, max_size=60) | st.text(max_size=30))
def test_folding_or_redacting_again_never_finds_more(bot, text):
    """redact(fold(r)) == fold(r) for every redacted r: the stored, folded question holds no number that
    redaction would remove; and the same for the key, whose tokens are sorted."""
    out = redact(clean(text))
    assert redact(out) == out
    folded = fold(out)
    assert redact(folded) == folded
    kept = stored(bot, text)
    assert redact(kept["question"]) == kept["question"]  # what is stored: redacting it again finds nothing
    assert redact(kept["key"]) == kept["key"]


# -- property: identifiers in many surroundings ----------------------------------------------------------------
SEPARATORS = [" ", ".", "-", " - ", "  ", "\u00a0", "\u2009", "_", ",", "/", "\u00ad", "·", "\u0301"]
ZERO_WIDTH = ["\u200b", "\u200c", "\u200d", "\u2060", "\ufeff"]  # clean() removes these before redaction
SCRIPTS = {
    "ascii": lambda d: d,
    "full-width": lambda d: chr(0xFF10 + int(d)),
    "arabic-indic": lambda d: chr(0x660 + int(d)),
    "math-bold": lambda d: chr(0x1D7CE + int(d)),
}
VI_LETTERS = "aăâbcdđeêghiklmnoôơpqrstuưvxyàáảãạằắẳẵặầấẩẫậèéẻẽẹềếểễệìíỉĩịòóỏõọồốổỗộờớởỡợùúủũụừứửữựỳýỷỹỵ"
# A glued word right after a number must not be a currency word: "483.920đ" reads as an amount, on purpose.
GLUED = st.text(VI_LETTERS + VI_LETTERS.upper(), min_size=1, max_size=6).filter(lambda w: fold(w) not in CURRENCY_WORDS)
PREFIXES = ["số cccd của tôi là", "CCCD", "cccd", "căn cước", "sđt", "SDT", "số điện thoại", "stk", "STK", "số tài khoản",
            "otp", "mã OTP", "mã", "passcode", "cmnd", "Tôi tên Nguyễn Văn An,", "Cho hỏi", ""]
BEFORE = ["", " ", ":", ": ", " : ", "=", "_", "-", " - ", "(", "[", "\n", "\t", '"', "“", "#", " là "]
AFTER = ["", " ", "_", ".", ",", ")", "]", "?", "!", "\n", '"', "”", "…", " ạ"]
SUFFIXES = ["", "nhé", "không nhận được mã", "bị khoá", "ko dc", "thì sao", "là của tôi", "kích hoạt vneid"]


def digit_strings(n: int) -> st.SearchStrategy[str]:
    return st.text("0123456789", min_size=n, max_size=n)


def chunks(digits: str, sizes: list[int]) -> list[str]:
    """Cut digits into groups of the given sizes, the last size repeating ([3] -> 3, 3, 3, ...)."""
    groups, at, i = [], 0, 0
    while at < len(digits):
        size = sizes[min(i, len(sizes) - 1)]
        groups.append(digits[at : at + size])
        at, i = at + size, i + 1
    return groups


@dataclass(frozen=True)
class Planted:
    kind: str
    digits: str  # the value, digits only
    typed: str  # as the citizen typed it


def _public_shape(digits: str) -> bool:
    """The two shapes an 8-digit account number shares with what redaction keeps on purpose: a service
    number (1800/1900...) and, split 4+4, a year range ("1998 2003")."""
    years = all(d[:2] in ("19", "20") for d in (digits[:4], digits[4:])) and digits[4:] > digits[:4]
    return len(digits) == 8 and (digits.startswith(("1800", "1900")) or years)


# How people group each kind of number when they type it (an OTP is never typed 4+2, so "2019 12" stays a
# year and a month).
GROUPINGS = {
    "phone": [[10], [4, 3, 3], [3, 3, 4], [2], [3, 4, 3], [4, 6]],
    "id": [[12], [3], [4], [6], [2, 10]],
    "cmnd": [[9], [3]],
    "otp": [[6], [3], [2], [1]],
    "account": [[99], [4]],
}
VALUES = {
    "phone": digit_strings(9).map(lambda d: "0" + d),
    "id": digit_strings(12),
    "cmnd": digit_strings(9),
    "otp": digit_strings(6),
    "account": st.integers(8, 19).flatmap(digit_strings).filter(lambda d: not _public_shape(d)),
}


@st.composite
def planted(draw) -> Planted:
    kind = draw(st.sampled_from(sorted(VALUES)))
    digits = draw(VALUES[kind])
    script = SCRIPTS[draw(st.sampled_from(sorted(SCRIPTS)))]
    if kind == "phone" and draw(st.booleans()):  # +84 912 345 678, 84912345678, (+84)912...
        country = draw(st.sampled_from(["+84", "+84 ", "+84-", "84", "(+84) ", "+84."]))
        groups = chunks(digits[1:], draw(st.sampled_from([[9], [3], [2, 3, 2, 2]])))
        typed_groups = [country + groups[0], *groups[1:]]
    else:
        typed_groups = chunks(digits, draw(st.sampled_from(GROUPINGS[kind])))
    seps = draw(st.lists(st.sampled_from(SEPARATORS), min_size=len(typed_groups), max_size=len(typed_groups)))
    typed = "".join(g + (seps[i] if i < len(typed_groups) - 1 else "") for i, g in enumerate(typed_groups))
    typed = "".join(script(c) if c.isdigit() else c for c in typed)
    if draw(st.booleans()):  # a zero-width character somewhere inside
        at = draw(st.integers(1, len(typed) - 1))
        typed = typed[:at] + draw(st.sampled_from(ZERO_WIDTH)) + typed[at:]
    return Planted(kind, digits, typed)


@st.composite
def surrounded(draw, value: st.SearchStrategy[str]) -> str:
    """A value in a message: after a word (glued or not), before another (glued or not), maybe NFD."""
    before = draw(st.sampled_from(PREFIXES) | GLUED) + draw(st.sampled_from(BEFORE))
    after = draw(st.sampled_from(AFTER)) + draw(st.sampled_from(SUFFIXES) | GLUED)
    text = before + draw(value) + after
    return unicodedata.normalize("NFD", text) if draw(st.booleans()) else text


@PROPERTY
@given(st.data())
def test_no_digit_of_an_identifier_reaches_what_is_stored(bot, data):
    value = data.draw(planted())
    text = data.draw(surrounded(st.just(value.typed)))
    for where, kept in stored(bot, text).items():
        assert not digits_in(kept), f"{value.kind} {value.digits} typed {text!r}: {where} kept {kept!r}"


REALISTIC_EMAILS = st.builds(
    lambda name, sep, digits, domain: f"{name}{sep}{digits}@{domain}",
    st.sampled_from(["nguyenvana", "tran.thi.b", "Le_Van_C", "phamd"]),
    st.sampled_from(["", ".", "_", "-"]),
    st.text("0123456789", max_size=6),
    st.sampled_from(["gmail.com", "yahoo.com.vn", "phutho.gov.vn", "outlook.com"]),
)


@PROPERTY
@given(st.data())
def test_no_email_reaches_what_is_stored(bot, data):
    email = data.draw(st.emails() | REALISTIC_EMAILS)
    text = data.draw(surrounded(st.just(email)))
    for where, kept in stored(bot, text).items():
        assert "@" not in kept and not digits_in(kept), f"{email} in {text!r}: {where} kept {kept!r}"
        if len(fold(email)) >= 8:
            assert fold(email) not in fold(kept), f"{email} in {text!r}: {where} kept {kept!r}"


# -- property: what analytics needs survives -----------------------------------------------------------------
CURRENCY = ["đ", " đ", " đồng", "đồng", " VNĐ", " vnđ", " vnd", "VND"]
AMOUNTS = st.builds(lambda n, unit: f"{n:,}".replace(",", ".") + unit, st.integers(1, 99_999_999), st.sampled_from(CURRENCY)) | st.builds(
    lambda n, unit: f"{n * 1000}{unit}", st.integers(1, 99_999), st.sampled_from(CURRENCY)
)
DATES = st.builds(
    lambda d, fmt: d.strftime(fmt), st.dates(min_value=dt.date(1900, 1, 1), max_value=dt.date(2099, 12, 31)),
    st.sampled_from(["%d/%m/%Y", "%d-%m-%Y", "%d.%m.%Y", "%Y-%m-%d", "%m/%Y"]),
)
KEPT = st.one_of(
    AMOUNTS,
    DATES,
    st.integers(1900, 2099).map(lambda y: f"năm {y}"),
    st.builds(lambda a, b: f"{a} triệu {b}", st.integers(1, 999), st.integers(1, 999)),
    st.sampled_from(["mức 1", "mức 2", "VNeID level 2", "113", "114", "115", "1900 9068", "1800 1096", "19006769"]),
    st.integers(1, 30).map(lambda n: f"bước {n}"),
    st.builds(lambda h, m: f"{h}:{m:02d}", st.integers(0, 23), st.integers(0, 59)),
)
WORDS = st.text(VI_LETTERS, min_size=1, max_size=8)


@PROPERTY
@given(before=WORDS, kept=KEPT, after=st.sampled_from(["", " nhé", " có được không", "?", " mỗi tháng", " thì sao"]))
def test_amounts_years_dates_and_levels_survive(bot, before, kept, after):
    text = f"{before} {kept}{after}"
    out = stored(bot, text)
    assert kept in out["redacted"]
    assert kept in out["question"]  # stored as typed: the amount, year or level reads as the citizen wrote it


@PROPERTY
@given(kept=KEPT, value=planted())
def test_an_identifier_beside_them_goes_and_they_stay(kept, value):
    out = redact(clean(f"{kept} và sđt {value.typed} nhé"))
    assert kept in out and value.digits not in digits_in(out)


# -- keys ------------------------------------------------------------------------------------------------------
def test_a_key_never_lines_up_numbers_into_one_redaction_would_remove():
    assert redacted_key(["buoc", "113", "115", "114"]) == "buoc"  # sorted, "113 114 115" is 9 digits in a row
    assert redacted_key(["vneid", "muc", "2"]) == "2 muc vneid"  # a level still groups questions
    assert redacted_key(["nam", "2025", "10", "trieu"]) == "10 nam trieu"  # years and amounts do not


def test_a_glued_identifier_leaves_its_label_in_the_key_not_its_digits(bot):
    key = stored(bot, "kích hoạt vneid cccd001203004567")["key"]
    assert {"id", "number"} <= set(key.split()) and not digits_in(key)


def test_the_matcher_still_reads_the_question_around_an_identifier(bot):
    """The matcher reads the cleaned text, not the redacted one: an identifier costs no answer."""
    typed = bot.handle(Incoming("web", "matcher-1", text="quên mật khẩu vneid, sđt 0912345678"))
    plain = bot.handle(Incoming("web", "matcher-2", text="quên mật khẩu vneid"))
    assert typed.event.kind == plain.event.kind == "faq" and typed.event.entry_id == plain.event.entry_id
    assert typed.event.question == "quên mật khẩu vneid, sđt <phone>"
