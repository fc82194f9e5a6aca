"""Printable A4 posters of a guide for a working group: what a poster says, how much of it fits, the PDF and
the QR codes. No web code here: the dashboard's poster pages (analytics/web/poster_pages.py) render the same
Poster and Fit as HTML (templates/posters.html), and the PDF is built here.

A poster says, in large type: the guide's title, who it is for and its first steps; two QR codes (the
Telegram deep link and the web chat link, both carrying the group: bot.outreach.link_rows); the Zalo code to
type ("Nhắn Zalo: ID1 PY5"); the hotline(s) the guide itself mentions (else the locality's fallback one);
and which working group put it up. The Telegram link needs the bot's username (TELEGRAM_BOT_USERNAME, or
the running Telegram channel's): without it posters leave the Telegram QR out rather than print a broken
one (`make_poster(..., username=None)`). The web link uses DIGIGUIDE_PUBLIC_URL (Settings.web_url).

Layout: one geometry (millimetres, points) for both outputs. `fit` measures the text with the PDF's own font
metrics and picks how many steps (3, 2 or 1) and which type scale fit the text area; the HTML poster gets
the same choice as a CSS class (no inline style: the dashboard's CSP forbids it) and the same font through
@font-face, so what prints from the browser matches the PDF. QR codes: segno (error correction M), inline
SVG in the HTML, PNG in the PDF and the PNG endpoint.
"""

from __future__ import annotations

import ipaddress
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import segno

from bot.knowledge import Guide, KnowledgeBase, WorkingGroup
from bot.outreach import LinkRow, link_rows

FONT_DIR = Path(__file__).resolve().parent / "static" / "fonts"
FONTS = {"regular": FONT_DIR / "DejaVuSans.ttf", "bold": FONT_DIR / "DejaVuSans-Bold.ttf"}
PLACEHOLDER_USERNAME = "<bot-username>"
QR_KINDS = ("telegram", "web")
MAX_STEPS = 3
SCALES = (120, 110, 100, 92, 85, 78, 72)  # type scales a poster may use (percent), largest first

# -- geometry (mm; type sizes in pt) ---------------------------------------------------------------------------
PAGE_W, PAGE_H, MARGIN = 210.0, 297.0, 14.0
INNER_W = PAGE_W - 2 * MARGIN
BAND_H, GAP = 15.0, 5.0
QR_LABEL_H, QR_SIZE, QR_CAPTION_H = 8.0, 50.0, 12.0
QR_BLOCK_H = QR_LABEL_H + QR_SIZE + QR_CAPTION_H
FOOTER_H = 30.0
TEXT_TOP = MARGIN + BAND_H + GAP
TEXT_BOTTOM = PAGE_H - MARGIN - FOOTER_H - GAP - QR_BLOCK_H - GAP
NUMBER_W = 10.0  # the step number's column
PT = 25.4 / 72  # mm per point
LEADING = 1.25
SIZES = {"title": 26.0, "audience": 15.0, "heading": 15.0, "step": 15.0, "more": 12.0}
PARA_GAP = 3.0  # mm between blocks
STEP_GAP = 2.0  # mm between steps
COLUMNS_GAP = 6.0
COLUMN_W = (INNER_W - 2 * COLUMNS_GAP) / 3


# -- words: the poster's own (citizens read these) -------------------------------------------------------------
P: dict[str, dict[str, str]] = {
    "vi": {
        "brand": "DigiGuide · Hướng dẫn kỹ năng số cho người dân {province}", "for": "Dành cho:",
        "steps": "Các bước đầu tiên", "more": "… và {n} bước nữa: quét mã để được hướng dẫn tiếp từng bước.",
        "telegram": "Telegram", "web": "Trang web", "zalo": "Zalo", "scan": "Mở camera điện thoại, quét mã",
        "scan_web": "Quét mã hoặc vào {host}", "zalo_say": "Nhắn Zalo:", "zalo_help": "Gửi mã này cho {name} trên Zalo (gõ hoa hay thường đều được).",
        "help": "Cần hỗ trợ? Gọi tổng đài:", "by": "Áp phích của {group} · mã tổ {code}",
    },
    "en": {
        "brand": "DigiGuide · Digital skills help for the people of {province}", "for": "For:",
        "steps": "First steps", "more": "… and {n} more steps: scan the code to be guided step by step.",
        "telegram": "Telegram", "web": "Web chat", "zalo": "Zalo", "scan": "Open your phone's camera and scan",
        "scan_web": "Scan, or go to {host}", "zalo_say": "Zalo message:", "zalo_help": "Send this code to {name} on Zalo (any case).",
        "help": "Need help? Call:", "by": "Poster of {group} · group code {code}",
    },
}


# -- posters ---------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Hotline:
    number: str
    label: str


@dataclass(frozen=True)
class Poster:
    lang: str
    group: WorkingGroup
    guide_id: str
    brand: str
    title: str
    audience: str
    steps: tuple[str, ...]  # every step; `fit` chooses how many to print
    telegram: str | None  # None when the bot's username is not known
    telegram_name: str | None
    web: str | None  # None when the web chat's address is not one a phone can open (see public_web_url)
    web_host: str
    zalo_code: str
    zalo_name: str  # the Zalo bot account citizens send the code to
    hotlines: tuple[Hotline, ...]
    by: str


def guide_hotlines(kb: KnowledgeBase, guide: Guide, lang: str, limit: int = 2) -> tuple[Hotline, ...]:
    """The hotline of the guide's topic (topics.yaml `help`) first, then those the guide mentions (in
    locality order, at most `limit` in all), else the fallback hotline."""
    hotlines = kb.locality.get("hotlines") or {}
    texts = [guide.audience.get(lang), *(s.get(lang) for s in guide.steps), *(p.fix.get(lang) for p in guide.problems), *(p.problem.get(lang) for p in guide.problems)]
    topic_help = kb.where_to_ask(guide.topic, lang)
    body = "\n".join(texts)

    def label(entry: dict) -> str:
        value = entry.get("label", "")
        return value.get(lang, "") if isinstance(value, dict) else str(value)

    numbered = [h for h in hotlines.values() if isinstance(h, dict) and h.get("number")]
    ordered = [h for h in numbered if str(h["number"]) in topic_help] + [h for h in numbered if str(h["number"]) not in topic_help]
    found = [Hotline(str(h["number"]), label(h)) for h in ordered if str(h["number"]) in body or str(h["number"]) in topic_help]
    if not found:
        fallback = hotlines.get(hotlines.get("fallback", ""))
        if isinstance(fallback, dict) and fallback.get("number"):
            found = [Hotline(str(fallback["number"]), label(fallback))]
    return tuple(found[:limit])


def localized_value(value: Any, lang: str) -> str:
    if isinstance(value, dict):
        return str(value.get(lang) or value.get("vi") or "")
    return "" if value is None else str(value)


ZALO_DEFAULT_NAME = "DigiGuide"  # what the Zalo box says when the bot account's name is not known
LOOPBACK_HOSTS = {"localhost", "localhost.localdomain", "0.0.0.0", "::", ""}


def public_web_url(url: str) -> bool:
    """Can a citizen's phone open this web chat address? Not when it is this machine's own (loopback,
    unspecified, a bare port): then a printed QR code would lead nowhere, so posters print none."""
    host = (urlsplit(url).hostname or "").lower()
    if host in LOOPBACK_HOSTS:
        return False
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return True  # a name: the operator set a real address
    return not (address.is_loopback or address.is_unspecified or address.is_link_local)


def group_rows(kb: KnowledgeBase, group_id: str, username: str | None, web_url: str, lang: str) -> list[LinkRow]:
    return link_rows(kb, username or PLACEHOLDER_USERNAME, web_url, group_id, lang)


def make_poster(kb: KnowledgeBase, group_id: str, guide_id: str, username: str | None, web_url: str, lang: str = "vi", zalo_name: str | None = None) -> Poster:
    """A guide's poster for a working group. KeyError for an unknown group or guide. No web code when
    `web_url` is not public (public_web_url); `zalo_name`: the Zalo bot account's name, when known."""
    group = kb.working_groups[group_id]
    guide = kb.guides[guide_id]
    row = next(r for r in group_rows(kb, group_id, username, web_url, lang) if r.target == f"g-{guide_id}")
    words = P[lang]
    province = localized_value((kb.locality.get("province") or {}).get("name"), lang)
    return Poster(
        lang=lang,
        group=group,
        guide_id=guide_id,
        brand=words["brand"].format(province=province),
        title=guide.title.get(lang),
        audience=guide.audience.get(lang),
        steps=tuple(s.get(lang) for s in guide.steps),
        telegram=row.telegram if username else None,
        telegram_name=f"@{username}" if username else None,
        web=row.web if public_web_url(web_url) else None,
        web_host=urlsplit(row.web).netloc or row.web,
        zalo_code=row.zalo_code,
        zalo_name=zalo_name or ZALO_DEFAULT_NAME,
        hotlines=guide_hotlines(kb, guide, lang),
        by=words["by"].format(group=group.name.get(lang), code=group.code),
    )


def qr_code(url: str) -> segno.QRCode:
    return segno.make(url, error="m", micro=False)


def qr_png(url: str, scale: int = 10) -> bytes:
    out = io.BytesIO()
    qr_code(url).save(out, kind="png", scale=scale, border=4)
    return out.getvalue()


def qr_svg(url: str, title: str) -> str:
    """An inline SVG (viewBox only: CSS sizes it); attributes only, so the strict CSP holds."""
    return qr_code(url).svg_inline(scale=1, border=4, omitsize=True, light="#fff", svgclass="qr", lineclass=None, title=title)


# -- fitting the text: the PDF's font metrics decide for both outputs ------------------------------------------

@dataclass(frozen=True)
class Fit:
    steps: int  # how many steps are printed
    scale: int  # percent of SIZES
    height: float  # mm the text takes

    @property
    def css(self) -> str:
        return f"fit-{self.scale}"


def new_pdf() -> Any:
    from fpdf import FPDF

    pdf = FPDF(orientation="portrait", unit="mm", format="A4")
    pdf.set_auto_page_break(False)
    pdf.set_margins(MARGIN, MARGIN, MARGIN)
    pdf.c_margin = 0
    pdf.add_font("DejaVu", "", str(FONTS["regular"]))
    pdf.add_font("DejaVu", "B", str(FONTS["bold"]))
    pdf.set_title("DigiGuide")
    pdf.set_creator("DigiGuide")
    return pdf


def _line(size: float) -> float:
    return size * PT * LEADING


def _escape_md(text: str) -> str:
    """Text for fpdf2's markdown cells: its markers (** __ ~~ --) printed as they are."""
    text = text.replace("\\", "\\\\")
    for marker in ("**", "__", "~~", "--"):
        text = text.replace(marker, "\\" + marker)
    return text


def _blocks(poster: Poster, steps: int) -> list[tuple[str, str, float, float]]:
    """The text area's blocks: (kind, markdown text, size in pt at scale 100, width in mm)."""
    words = P[poster.lang]
    out = [
        ("title", _escape_md(poster.title), SIZES["title"], INNER_W),
        ("audience", f'**{_escape_md(words["for"])}** {_escape_md(poster.audience)}', SIZES["audience"], INNER_W),
        ("heading", _escape_md(words["steps"]), SIZES["heading"], INNER_W),
    ]
    out += [("step", _escape_md(text), SIZES["step"], INNER_W - NUMBER_W) for text in poster.steps[:steps]]
    if len(poster.steps) > steps:
        out.append(("more", _escape_md(words["more"].format(n=len(poster.steps) - steps)), SIZES["more"], INNER_W))
    return out


def _font(pdf: Any, kind: str, size: float) -> None:
    pdf.set_font("DejaVu", "B" if kind in ("title", "heading") else "", size)


def _measure(pdf: Any, poster: Poster, steps: int, scale: int) -> float:
    height = 0.0
    for kind, text, size, width in _blocks(poster, steps):
        size = size * scale / 100
        _font(pdf, kind, size)
        height += pdf.multi_cell(width, _line(size), text, markdown=True, align="L", dry_run=True, output="HEIGHT")
        height += STEP_GAP if kind == "step" else PARA_GAP
    return height


def fit(poster: Poster, pdf: Any = None) -> Fit:
    """The most steps (up to MAX_STEPS) at the largest type that fit the text area; readability first: three
    steps only down to 85 %, then two steps, then one."""
    if pdf is None:
        pdf = new_pdf()
    if not pdf.page:
        pdf.add_page()  # fpdf2 measures on a page
    room = TEXT_BOTTOM - TEXT_TOP
    most = min(MAX_STEPS, len(poster.steps))
    tries = [(n, s) for n in range(most, 0, -1) for s in SCALES if n < MAX_STEPS or s >= 85]
    for steps, scale in tries:
        height = _measure(pdf, poster, steps, scale)
        if height <= room:
            return Fit(steps, scale, height)
    return Fit(1, SCALES[-1], _measure(pdf, poster, 1, SCALES[-1]))


# -- PDF -------------------------------------------------------------------------------------------------------

BLUE = (11, 79, 156)
GREY = (70, 80, 92)


def columns(poster: Poster) -> list[str]:
    """The code columns, left to right: Telegram (when the bot's username is known), web (when its address
    is public), Zalo."""
    return (["telegram"] if poster.telegram else []) + (["web"] if poster.web else []) + ["zalo"]


def _column_x(index: int, count: int) -> float:
    used = count * COLUMN_W + (count - 1) * COLUMNS_GAP
    return MARGIN + (INNER_W - used) / 2 + index * (COLUMN_W + COLUMNS_GAP)


def _qr_image(url: str) -> Any:
    """The QR as an 8-bit greyscale image (fpdf2 stores it losslessly, Flate with PNG predictors)."""
    from PIL import Image

    return Image.open(io.BytesIO(qr_png(url))).convert("L")


def _draw_poster(pdf: Any, poster: Poster) -> Fit:
    words = P[poster.lang]
    pdf.add_page()
    chosen = fit(poster, pdf)
    # band
    pdf.set_fill_color(*BLUE)
    pdf.rect(MARGIN, MARGIN, INNER_W, BAND_H, style="F")
    pdf.set_text_color(255, 255, 255)
    pdf.set_font("DejaVu", "B", 12)
    pdf.set_xy(MARGIN + 4, MARGIN)
    pdf.cell(INNER_W - 8, BAND_H, poster.brand)
    # text
    y = TEXT_TOP
    number = 0
    for kind, text, size, width in _blocks(poster, chosen.steps):
        size = size * chosen.scale / 100
        pdf.set_text_color(*(BLUE if kind == "title" else GREY if kind == "more" else (0, 0, 0)))
        x = MARGIN
        if kind == "step":
            number += 1
            pdf.set_font("DejaVu", "B", size)
            pdf.set_xy(MARGIN, y)
            pdf.cell(NUMBER_W, _line(size), f"{number}.")
            x = MARGIN + NUMBER_W
        _font(pdf, kind, size)
        pdf.set_xy(x, y)
        height = pdf.multi_cell(width, _line(size), text, markdown=True, align="L", dry_run=True, output="HEIGHT")
        pdf.set_xy(x, y)
        pdf.multi_cell(width, _line(size), text, markdown=True, align="L")
        y += height + (STEP_GAP if kind == "step" else PARA_GAP)
    # QR row
    top = TEXT_BOTTOM + GAP
    shown = columns(poster)
    for i, column in enumerate(shown):
        x = _column_x(i, len(shown))
        pdf.set_text_color(*BLUE)
        pdf.set_font("DejaVu", "B", 14)
        pdf.set_xy(x, top)
        pdf.cell(COLUMN_W, QR_LABEL_H, words[column], align="C")
        pdf.set_text_color(0, 0, 0)
        if column == "zalo":
            box_y = top + QR_LABEL_H
            pdf.set_draw_color(*BLUE)
            pdf.set_line_width(0.8)
            pdf.rect(x + 1, box_y, COLUMN_W - 2, QR_SIZE, style="D", round_corners=True, corner_radius=3)
            pdf.set_font("DejaVu", "", 14)
            pdf.set_xy(x + 1, box_y + 7)
            pdf.cell(COLUMN_W - 2, 8, words["zalo_say"], align="C")
            code_size = 30.0
            pdf.set_font("DejaVu", "B", code_size)
            while pdf.get_string_width(poster.zalo_code) > COLUMN_W - 8 and code_size > 9:
                code_size -= 1
                pdf.set_font("DejaVu", "B", code_size)
            pdf.set_xy(x + 1, box_y + 18)
            pdf.cell(COLUMN_W - 2, 14, poster.zalo_code, align="C")
            pdf.set_font("DejaVu", "", 8.5)
            pdf.set_xy(x + 4, box_y + 34)
            pdf.multi_cell(COLUMN_W - 8, _line(8.5), words["zalo_help"].format(name=poster.zalo_name), align="C")
        else:
            url = poster.telegram if column == "telegram" else poster.web
            pdf.image(_qr_image(url), x=x + (COLUMN_W - QR_SIZE) / 2, y=top + QR_LABEL_H, w=QR_SIZE, h=QR_SIZE)
            caption = words["scan"] if column == "telegram" else words["scan_web"].format(host=poster.web_host)
            if column == "telegram" and poster.telegram_name:
                caption = f"{caption} · {poster.telegram_name}"
            pdf.set_font("DejaVu", "", 9)
            pdf.set_xy(x, top + QR_LABEL_H + QR_SIZE + 1)
            pdf.multi_cell(COLUMN_W, _line(9), caption, align="C")
    # footer
    foot = PAGE_H - MARGIN - FOOTER_H
    pdf.set_draw_color(*BLUE)
    pdf.set_line_width(0.5)
    pdf.line(MARGIN, foot, PAGE_W - MARGIN, foot)
    pdf.set_text_color(0, 0, 0)
    pdf.set_font("DejaVu", "B", 11)
    pdf.set_xy(MARGIN, foot + 1.5)
    pdf.cell(INNER_W, 6, words["help"])
    y = foot + 8
    for hotline in poster.hotlines:
        pdf.set_font("DejaVu", "B", 16)
        pdf.set_xy(MARGIN, y)
        number_w = pdf.get_string_width(hotline.number) + 4
        pdf.cell(number_w, 7, hotline.number)
        size = 8.5
        pdf.set_font("DejaVu", "", size)
        while pdf.get_string_width(hotline.label) > INNER_W - number_w and size > 6:
            size -= 0.5
            pdf.set_font("DejaVu", "", size)
        pdf.set_xy(MARGIN + number_w, y)
        pdf.cell(INNER_W - number_w, 7, hotline.label)
        y += 7.5
    pdf.set_text_color(*GREY)
    pdf.set_font("DejaVu", "", 9)
    pdf.set_xy(MARGIN, PAGE_H - MARGIN - 5)
    pdf.cell(INNER_W, 5, poster.by)
    return chosen


def posters_pdf(posters: list[Poster]) -> bytes:
    """One A4 page per poster."""
    pdf = new_pdf()
    for poster in posters:
        _draw_poster(pdf, poster)
    return bytes(pdf.output())


def code_size(code: str) -> str:
    """Long Zalo codes get smaller type so they stay on one line in the box (the PDF shrinks them the same way)."""
    n = len(code)
    return "" if n <= 7 else " code-m" if n <= 9 else " code-s" if n <= 13 else " code-xs"
