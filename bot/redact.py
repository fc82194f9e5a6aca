"""PII redaction: what a citizen typed, minus what could identify them, before anything is stored or logged.

Why the rules look like this (issue 10, section 1):

- Citizens glue numbers to words and split them the way they read them out: "cccd001203004567",
  "sdt0912345678", "otp483920", "mã:483920", "0912345678_", "09 12 34 56 78", "4 8 3 9 2 0",
  "001-203-004-567", "+84 912 345 678". So a number is found wherever its digits are, whatever letters
  touch it, and digit groups with nothing but non-letters between them (spaces, dots, dashes, brackets,
  underscores, any punctuation, how many ever) are one number.
- Redaction must agree with folding. The engine stores `redact(text)` as typed and keys its analytics on
  tokens of its folded form, and `fold` turns every run of non-letters into one space. So "letter" here is exactly what `fold`
  keeps as a letter (LETTERS), everything else but a digit separates, and the word after a number is
  compared folded. Folding the result can then never bring together digits that redaction judged to be
  apart (tests/test_redact.py checks `redact(fold(redact(t))) == fold(redact(t))`). Text is read through
  NFKC first (full-width and circled digits become 0-9), digits of other scripts count as digits, and stray
  combining marks, which `fold` deletes outright, are deleted before they can split a number.
- Missing an identifier is a privacy breach; redacting an amount only costs a little analytics. So any
  number of 4 or more digits is removed, unless it has one of the few shapes below that the analytics use
  and that an ID, phone, OTP or account number does not take:
    years ("năm 2025"), and a year next to a short number ("năm 2025 10 triệu", "2024-25");
    year ranges ("2024-2025"); dates with a 4-digit year ("15/7/2025", "2025-07-15"), day/month ("15/07"),
    month/year ("07/2025") and times ("10:30");
    amounts followed by a currency word ("500.000đ", "1.500.000 đồng", "50000 vnđ", "1.500 tỷ"):
    thousands-grouped or a round number, not starting with 0, at most 8 digits, and "đồng" not the start of
    "đồng ý", "đồng thời"...;
    the public service numbers 1800xxxx and 1900xxxx ("1900 9068": printed on every poster, never a
    citizen's own phone, and what a question about calling the hotline is about).
  Numbers of up to 3 digits stay ("mức 2", "113", "bước 3", "68 tuổi", "10 triệu").
- What is removed becomes a label, so analytics still sees what kind of thing was there: <id-number>
  (12 or 9 digits: CCCD, old CMND), <phone>, <account-number>, <code> (OTP, PIN, any other), <email>,
  <customer-code> (EVN). Labels fold to plain words ("cccd<id-number>" -> "cccd id number").
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

from .text import fold


def _folding_to(test) -> str:
    """A regex class body of the characters that fold() turns into letters passing `test`, once text is NFKC:
    the ASCII ones and the Latin letters with diacritics, Vietnamese among them (NFKC has already turned
    full-width and other compatibility forms into these). tests/test_redact.py checks the class against
    fold() over the whole Basic Multilingual Plane."""
    blocks = ((0x41, 0x5B), (0x61, 0x7B), (0xC0, 0x250), (0x1E00, 0x1F00))
    return "".join(re.escape(c) for a, b in blocks for c in map(chr, range(a, b)) if test(fold(c)))


LETTERS = _folding_to(str.isalpha)  # a letter as fold() sees it; every other non-digit becomes a space
_P = _folding_to(lambda f: f == "p")
_SEP = rf"[^0-9{LETTERS}]"  # what fold() turns into a space: digit groups with only these between are one number
_RUN = re.compile(rf"[0-9]+(?:{_SEP}+[0-9]+)*")
_NEXT_WORDS = re.compile(rf"{_SEP}?([{LETTERS}]+)(?:{_SEP}+([{LETTERS}]+))?")  # the word after a number, and the next
_EVN_CODE = re.compile(rf"[{_P}][{LETTERS}][0-9]{{2}}[{LETTERS}0-9]{{9}}")  # EVN customer code: PA03XY1234567
_LOCAL = r"[\w.!#$%&'*+/=?^`{|}~-]"  # RFC 5322 local part; the domain may lack its dot ("ten@gmail")
_EMAIL = re.compile(rf"(?<!{_LOCAL}){_LOCAL}+@[\w-]+(?:\.[\w-]+)*")  # starts only where a local part starts: linear
_NEEDS_PREPARING = re.compile(r"[\u0300-\u036f]|(?![0-9])\d")
_GROUP = re.compile(r"[0-9]+")
# Words that make a number money. Not "k", "tr", "ti": teencode for không, trước, tí ("mã 483 920 k được").
CURRENCY_WORDS = frozenset({"d", "dong", "vnd", "usd", "nghin", "ngan", "trieu", "ty"})
# "đồng" starting a word that is not money: đồng ý, đồng thời, đồng hồ, đồng bằng, đồng chí, đồng nghiệp...
_NOT_MONEY_AFTER_DONG = frozenset({"y", "thoi", "ho", "bang", "chi", "nghiep", "loat", "deu", "nhat", "hanh", "hoa", "bao", "tinh", "long", "hang", "huong", "phuc"})
_HOTLINE_PREFIXES = ("1800", "1900")
MAX_AMOUNT_DIGITS = 8  # 99.999.999đ: fees, fines and bills; a 9- or 12-digit ID never passes as money


def _prepared(c: str) -> str:
    """Digits of any script as ASCII; a stray combining mark that NFKC could not attach deleted (fold()
    deletes it outright, so it must not keep apart the digits of one number)."""
    if "\u0300" <= c <= "\u036f":
        return ""
    return str(unicodedata.decimal(c)) if c.isdecimal() else c


def redact(text: str) -> str:
    """The text (NFKC) with ID numbers, phone numbers, OTP and other codes, bank account numbers, emails and
    EVN customer codes replaced by labels; years, dates, times, amounts, hotlines and short numbers kept
    (see the module docstring for the exact shapes)."""
    text = unicodedata.normalize("NFKC", text)
    if _NEEDS_PREPARING.search(text):
        text = "".join(map(_prepared, text))
    if "@" in text:
        text = _EMAIL.sub("<email>", text)
    text = _EVN_CODE.sub("<customer-code>", text)
    return _replace(text, [cut for run in _RUN.finditer(text) if (cut := _cut(text, run))])


def _replace(text: str, cuts: list[tuple[int, int, str]]) -> str:
    """Replace each (start, end) span, given in order and apart, by its label."""
    out, at = [], 0
    for start, end, label in cuts:
        out += [text[at:start], label]
        at = end
    return "".join(out) + text[at:]


def _cut(text: str, run: re.Match) -> tuple[int, int, str] | None:
    """The span to cut for one run of digit groups, and its label; None when the number is kept."""
    groups = _GROUP.findall(run.group())
    unit, after = _next_words(text, run.end())
    money = unit in CURRENCY_WORDS and not (unit == "dong" and after in _NOT_MONEY_AFTER_DONG)
    keep = _keep_single(groups[0], money) if len(groups) == 1 else _keep_groups(groups, money)
    return None if keep else (run.start(), run.end(), _label("".join(groups)))


def _next_words(text: str, end: int) -> tuple[str | None, str | None]:
    """The word straight after a number (at most one separator between), and the word after that one, folded."""
    m = _NEXT_WORDS.match(text, end)
    return (fold(m.group(1)), fold(m.group(2) or "")) if m else (None, None)


def _keep_single(digits: str, money: bool) -> bool:
    """One unbroken group of digits."""
    n = len(digits)
    if n <= 3 or _is_year(digits) or _is_hotline(digits):
        return True
    return money and digits[0] != "0" and (n <= 5 or (n <= MAX_AMOUNT_DIGITS and digits.endswith("000")))


def _keep_groups(groups: list[str], money: bool) -> bool:
    """Several groups of digits separated by non-letters only: one number, unless it has a known shape."""
    digits = "".join(groups)
    if len(digits) <= 3 or _is_hotline(digits):
        return True
    if len(groups) == 2 and _is_pair(*groups):
        return True
    if len(groups) == 3 and _is_date(*groups):
        return True
    return money and _is_thousands(groups) and digits[0] != "0" and len(digits) <= MAX_AMOUNT_DIGITS


def _is_year(g: str) -> bool:
    return len(g) == 4 and g[:2] in ("19", "20")


def _is_hotline(digits: str) -> bool:
    return len(digits) == 8 and digits.startswith(_HOTLINE_PREFIXES)


def _in(g: str, low: int, high: int, widths: tuple[int, ...] = (1, 2)) -> bool:
    return len(g) in widths and low <= int(g) <= high


def _is_pair(a: str, b: str) -> bool:
    """Two groups: a year with a short number or another (later) year, day/month, month/year, or a time."""
    if _is_year(a) and (len(b) <= 3 or (_is_year(b) and int(b) > int(a))):
        return True
    if len(a) <= 3 and _is_year(b) and _in(a, 1, 12):
        return True
    return (_in(a, 1, 31) and _in(b, 1, 12)) or (_in(a, 0, 23) and _in(b, 0, 59, (2,)))


def _is_date(a: str, b: str, c: str) -> bool:
    """Day/month/year or year-month-day, with a four-digit year."""
    return (_in(a, 1, 31) and _in(b, 1, 12) and _is_year(c)) or (_is_year(a) and _in(b, 1, 12) and _in(c, 1, 31))


def _is_thousands(groups: list[str]) -> bool:
    """500.000, 1.500.000, 20 000: a first group of 1-3 digits, then groups of exactly three."""
    return 1 <= len(groups[0]) <= 3 and all(len(g) == 3 for g in groups[1:])


def _label(digits: str) -> str:
    n = len(digits)
    if (digits.startswith("0") and n in (10, 11)) or (digits.startswith("84") and n == 11) or (digits.startswith("840") and n == 12):
        return "<phone>"
    if n in (9, 12):
        return "<id-number>"
    if n >= 10:
        return "<account-number>"
    return "<code>"


# -- keys ------------------------------------------------------------------------------------------------------
MAX_KEY_NUMBER = 3  # digits of a number kept in a question key: "muc 2", "113"; years and amounts do not group questions


def redacted_key(tokens: Iterable[str]) -> str:
    """Sorted, distinct tokens of a redacted question, safe to group and store.

    A key sorts its tokens, so every number in it ends up side by side ("10 113 115 2 ..."): numbers that
    redaction kept apart could form a run it would remove. Tokens with more than MAX_KEY_NUMBER digits are
    dropped, and if what is left would still be changed by redaction, every token with a digit goes."""
    kept = sorted({t for t in tokens if sum(c.isdigit() for c in t) <= MAX_KEY_NUMBER})
    key = " ".join(kept)
    if redact(key) != key:
        key = " ".join(t for t in kept if not any(c.isdigit() for c in t))
    return key
