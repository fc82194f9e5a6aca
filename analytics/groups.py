"""Working groups on the dashboard: their links and poster codes, printable A4 posters with QR codes (HTML
for the browser's print dialog, and a PDF built here), and their results (analytics/outreach_report.py).

Routes (registered by `mount`, which analytics.dashboard.setup calls before its catch-all; all behind the
dashboard login: pages redirect to it, files and data answer 401):

    GET /dashboard/groups                                   links, codes, posters and results of every group
                                                            (?since=&until= Vietnam days; lang=vi|en)
    GET /dashboard/groups/export/<section>.csv              a results section as CSV (outreach_report.SECTIONS)
    GET /dashboard/groups/<group>/poster/<guide>            one poster, print-ready (A4, one page)
    GET /dashboard/groups/<group>/poster/<guide>.pdf        the same poster as a PDF
    GET /dashboard/groups/<group>/posters                   every guide's poster for the group, one per page
    GET /dashboard/groups/<group>/posters.pdf               the same as one PDF
    GET /dashboard/groups/<group>/qr/<guide>.png?kind=telegram|web   the QR code alone (PNG)
    GET /dashboard/groups/fonts/<font>.ttf                  the posters' font (DejaVu Sans, vendored)

A poster says, in large type: the guide's title, who it is for and its first steps; two QR codes (the
Telegram deep link and the web chat link, both carrying the group: bot.outreach.link_rows); the Zalo code to
type ("Nhắn Zalo: ID1 PY5"); the hotline(s) the guide itself mentions (else the locality's fallback one);
and which working group put it up. The Telegram link needs the bot's username (TELEGRAM_BOT_USERNAME, or
the running Telegram channel's): without it the page shows a placeholder and a hint, and posters leave the
Telegram QR out rather than print a broken one. The web link uses DIGIGUIDE_PUBLIC_URL (Settings.web_url).

Layout: one geometry (millimetres, points) for both outputs. `fit` measures the text with the PDF's own font
metrics and picks how many steps (3, 2 or 1) and which type scale fit the text area; the HTML poster gets
the same choice as a CSS class (no inline style: the dashboard's CSP forbids it) and the same font through
@font-face, so what prints from the browser matches the PDF. QR codes: segno (error correction M), inline
SVG in the HTML, PNG in the PDF and the PNG endpoint.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import io
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable
from urllib.parse import urlencode, urlsplit

import segno
from aiohttp import web

from bot.knowledge import Guide, KnowledgeBase, WorkingGroup
from bot.outreach import LinkRow, link_rows

from . import dashboard as dsh
from . import outreach_report as orr
from . import report as rpt

PATH = dsh.PREFIX + "/groups"
FONT_DIR = dsh.STATIC_DIR / "fonts"
FONTS = {"regular": FONT_DIR / "DejaVuSans.ttf", "bold": FONT_DIR / "DejaVuSans-Bold.ttf"}
PLACEHOLDER_USERNAME = "<bot-username>"
QR_KINDS = ("telegram", "web")
DEFAULT_WEEKS = 12
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

# -- words -----------------------------------------------------------------------------------------------------
T: dict[str, dict[str, str]] = {
    "vi": {
        "groups": "Tổ công nghệ số", "page_title": "Tổ công nghệ số: đường dẫn, áp phích và kết quả",
        "intro": "Mỗi tổ có đường dẫn và mã riêng cho từng hướng dẫn. Người dân quét mã QR trên áp phích (Telegram hoặc trang web) hoặc nhắn mã trên Zalo; lần đầu họ đến bằng mã của tổ nào thì được tính cho tổ đó.",
        "results": "Kết quả theo tổ", "results_help": "Người dân mới: người lần đầu đến bằng đường dẫn hoặc mã của tổ, tính vào ngày đó. Câu hỏi và hướng dẫn: của những người dân này trong khoảng thời gian đã chọn.",
        "new_citizens": "Người dân mới", "questions": "Câu hỏi", "answer_rate": "Đã trả lời", "top_topic": "Chủ đề hỏi nhiều nhất",
        "guides_started": "Bắt đầu hướng dẫn", "guides_finished": "Xem hết hướng dẫn", "completion": "Tỉ lệ xem hết",
        "group": "Tổ", "ward": "Phường/xã", "code": "Mã", "no_ward": "(không rõ)", "all_groups": "Tất cả các tổ",
        "by_group": "Theo tổ", "by_ward": "Theo phường/xã", "weekly": "Người dân mới theo tuần", "week": "Tuần",
        "topics": "Chủ đề câu hỏi theo tổ", "topic": "Chủ đề", "no_topic": "(không có chủ đề)",
        "posters_best": "Áp phích, đường dẫn mang lại nhiều người dân mới nhất", "target": "Áp phích / đường dẫn",
        "guides_table": "Hướng dẫn theo tổ", "guide": "Hướng dẫn", "started": "Bắt đầu", "finished": "Xem hết",
        "csv": "Tải CSV", "empty": "Chưa có dữ liệu trong khoảng này.", "since": "Từ ngày", "until": "Đến ngày",
        "apply": "Xem", "all_time": "Toàn bộ thời gian", "reset": "Mặc định (12 tuần)", "bad_filter": "Bộ lọc không hợp lệ",
        "links": "Đường dẫn, mã và áp phích", "menu": "Danh mục chủ đề", "zalo_code": "Mã Zalo", "telegram": "Telegram", "web": "Trang web",
        "poster": "Áp phích", "view_print": "Xem, in", "pdf": "PDF", "qr_png": "QR (PNG)",
        "all_posters": "In tất cả áp phích của tổ", "all_pdf": "Tải PDF tất cả áp phích",
        "no_username": "Chưa có tên bot Telegram: đặt biến TELEGRAM_BOT_USERNAME (ví dụ DigiGuidePhuThoBot) rồi khởi động lại máy chủ. Đến lúc đó đường dẫn Telegram chỉ là mẫu và áp phích chưa có mã QR Telegram.",
        "print": "In áp phích", "print_all": "In tất cả", "back": "← Về trang các tổ", "print_help": "Khi in: khổ A4, hướng dọc, tỉ lệ 100% (không co giãn), bật in màu nền.",
        "chart_label": "Người dân mới theo tuần, theo tổ", "unknown_group": "Không có tổ này.", "unknown_guide": "Không có hướng dẫn này.",
    },
    "en": {
        "groups": "Working groups", "page_title": "Working groups: links, posters and results",
        "intro": "Each group has its own link and code for every guide. Citizens scan a poster's QR code (Telegram or the web chat) or type its code on Zalo; the group whose link or code first brought a citizen gets the credit.",
        "results": "Results per group", "results_help": "New citizens: people who first came through the group's link or code, counted on that day. Questions and guides: those of these citizens in the chosen range.",
        "new_citizens": "New citizens", "questions": "Questions", "answer_rate": "Answered", "top_topic": "Most asked topic",
        "guides_started": "Guides started", "guides_finished": "Guides finished", "completion": "Completion",
        "group": "Group", "ward": "Ward", "code": "Code", "no_ward": "(unknown)", "all_groups": "All groups",
        "by_group": "Per group", "by_ward": "Per ward", "weekly": "New citizens per week", "week": "Week",
        "topics": "Question topics per group", "topic": "Topic", "no_topic": "(no topic)",
        "posters_best": "Posters and links that brought the most new citizens", "target": "Poster / link",
        "guides_table": "Guides per group", "guide": "Guide", "started": "Started", "finished": "Finished",
        "csv": "Download CSV", "empty": "No data in this range.", "since": "From", "until": "To",
        "apply": "Show", "all_time": "All time", "reset": "Default (12 weeks)", "bad_filter": "Invalid filter",
        "links": "Links, codes and posters", "menu": "Topic menu", "zalo_code": "Zalo code", "telegram": "Telegram", "web": "Web",
        "poster": "Poster", "view_print": "View, print", "pdf": "PDF", "qr_png": "QR (PNG)",
        "all_posters": "Print all of the group's posters", "all_pdf": "Download all posters (PDF)",
        "no_username": "The Telegram bot's username is not set: set TELEGRAM_BOT_USERNAME (e.g. DigiGuidePhuThoBot) and restart the server. Until then Telegram links are placeholders and posters have no Telegram QR code.",
        "print": "Print poster", "print_all": "Print all", "back": "← Back to the groups", "print_help": "When printing: A4, portrait, scale 100% (no fit to page), background graphics on.",
        "chart_label": "New citizens per week, per group", "unknown_group": "No such group.", "unknown_guide": "No such guide.",
    },
}
# the poster's own words (citizens read these)
P: dict[str, dict[str, str]] = {
    "vi": {
        "brand": "DigiGuide · Hướng dẫn kỹ năng số cho người dân {province}", "for": "Dành cho:",
        "steps": "Các bước đầu tiên", "more": "… và {n} bước nữa: quét mã để được hướng dẫn tiếp từng bước.",
        "telegram": "Telegram", "web": "Trang web", "zalo": "Zalo", "scan": "Mở camera điện thoại, quét mã",
        "scan_web": "Quét mã hoặc vào {host}", "zalo_say": "Nhắn Zalo:", "zalo_help": "Gửi mã này cho DigiGuide trên Zalo (gõ hoa hay thường đều được).",
        "help": "Cần hỗ trợ? Gọi tổng đài:", "by": "Áp phích của {group} · mã tổ {code}",
    },
    "en": {
        "brand": "DigiGuide · Digital skills help for the people of {province}", "for": "For:",
        "steps": "First steps", "more": "… and {n} more steps: scan the code to be guided step by step.",
        "telegram": "Telegram", "web": "Web chat", "zalo": "Zalo", "scan": "Open your phone's camera and scan",
        "scan_web": "Scan, or go to {host}", "zalo_say": "Zalo message:", "zalo_help": "Send this code to DigiGuide on Zalo (any case).",
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
    web: str
    web_host: str
    zalo_code: str
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


def group_rows(kb: KnowledgeBase, group_id: str, username: str | None, web_url: str, lang: str) -> list[LinkRow]:
    return link_rows(kb, username or PLACEHOLDER_USERNAME, web_url, group_id, lang)


def make_poster(kb: KnowledgeBase, group_id: str, guide_id: str, username: str | None, web_url: str, lang: str = "vi") -> Poster:
    """A guide's poster for a working group. KeyError for an unknown group or guide."""
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
        web=row.web,
        web_host=urlsplit(row.web).netloc or row.web,
        zalo_code=row.zalo_code,
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


def _new_pdf() -> Any:
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
        pdf = _new_pdf()
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


def _columns(poster: Poster) -> list[str]:
    return (["telegram"] if poster.telegram else []) + ["web", "zalo"]


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
    columns = _columns(poster)
    for i, column in enumerate(columns):
        x = _column_x(i, len(columns))
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
            pdf.multi_cell(COLUMN_W - 8, _line(8.5), words["zalo_help"], align="C")
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
    pdf = _new_pdf()
    for poster in posters:
        _draw_poster(pdf, poster)
    return bytes(pdf.output())


# -- HTML ------------------------------------------------------------------------------------------------------

e = dsh.e


def poster_html(poster: Poster, chosen: Fit) -> str:
    """One poster as an A4 <article> (the geometry above, in groups.css); QR codes as inline SVG."""
    words = P[poster.lang]
    steps = "".join(f'<li><b class="p-num">{i}.</b><span>{e(text)}</span></li>' for i, text in enumerate(poster.steps[: chosen.steps], 1))
    more = ""
    if len(poster.steps) > chosen.steps:
        more = f'<p class="p-more">{e(words["more"].format(n=len(poster.steps) - chosen.steps))}</p>'
    columns = []
    for column in _columns(poster):
        if column == "zalo":
            columns.append(
                f'<div class="p-col p-zalo"><p class="p-label">{e(words["zalo"])}</p><div class="p-zalo-box">'
                f'<p class="p-zalo-say">{e(words["zalo_say"])}</p><p class="p-code{code_size(poster.zalo_code)}">{e(poster.zalo_code)}</p>'
                f'<p class="p-zalo-help">{e(words["zalo_help"])}</p></div></div>'
            )
            continue
        url = poster.telegram if column == "telegram" else poster.web
        caption = words["scan"] if column == "telegram" else words["scan_web"].format(host=poster.web_host)
        if column == "telegram" and poster.telegram_name:
            caption = f"{caption} · {poster.telegram_name}"
        columns.append(
            f'<figure class="p-col p-qr" data-kind="{column}" data-url="{e(url)}"><p class="p-label">{e(words[column])}</p>'
            f"{qr_svg(url, words[column] + ': ' + url)}<figcaption class=\"p-caption\">{e(caption)}</figcaption></figure>"
        )
    hotlines = "".join(f'<p class="p-hotline"><b>{e(h.number)}</b><span>{e(h.label)}</span></p>' for h in poster.hotlines)
    return (
        f'<article class="poster {chosen.css}" lang="{poster.lang}" id="poster-{e(poster.guide_id)}" data-guide="{e(poster.guide_id)}" data-steps="{chosen.steps}">'
        f'<header class="p-band">{e(poster.brand)}</header>'
        f'<section class="p-text"><h1 class="p-title">{e(poster.title)}</h1>'
        f'<p class="p-audience"><b>{e(words["for"])}</b> {e(poster.audience)}</p>'
        f'<h2 class="p-heading">{e(words["steps"])}</h2><ol class="p-steps">{steps}</ol>{more}</section>'
        f'<section class="p-codes cols-{len(columns)}">{"".join(columns)}</section>'
        f'<footer class="p-foot"><p class="p-help">{e(words["help"])}</p>{hotlines}<p class="p-by">{e(poster.by)}</p></footer>'
        "</article>"
    )


def code_size(code: str) -> str:
    """Long Zalo codes get smaller type so they stay on one line in the box (the PDF shrinks them the same way)."""
    n = len(code)
    return "" if n <= 7 else " code-m" if n <= 9 else " code-s" if n <= 13 else " code-xs"


def ward_name(kb: KnowledgeBase, ward: str | None, lang: str) -> str:
    for w in kb.locality.get("wards") or []:
        if isinstance(w, dict) and w.get("id") == ward:
            return localized_value(w.get("name"), lang) or str(ward)
    return ward or T[lang]["no_ward"]


def level_name(kb: KnowledgeBase, level: str, ident: str, lang: str) -> str:
    if level == "group":
        group = kb.working_groups.get(ident)
        return group.name.get(lang) if group else ident
    if level == "ward":
        return ward_name(kb, ident, lang)
    return T[lang]["all_groups"]


def target_title(kb: KnowledgeBase, target: str, lang: str) -> str:
    """A payload target ("g-eid-activate", "menu", "t-fees", "f-...") in words."""
    kind, _, ident = target.partition("-")
    if target == "menu":
        return T[lang]["menu"]
    if kind == "g" and ident in kb.guides:
        return kb.guides[ident].title.get(lang)
    if kind == "t" and ident in kb.topics:
        return dsh.topic_title(kb, ident, lang)
    if kind == "f" and ident in kb.faqs:
        return kb.faqs[ident].title(lang)
    return target


def weekly_chart(kb: KnowledgeBase, weekly: list[dict], lang: str) -> str:
    """New citizens per week, one line per group: an SVG of attributes only (the CSP allows no inline style)."""
    series: dict[str, list[tuple[str, int]]] = {}
    for row in weekly:
        if row["level"] == "group":
            series.setdefault(row["id"], []).append((row["period"], row["new_citizens"]))
    weeks = sorted({p for points in series.values() for p, _ in points})
    if not weeks:
        return ""
    width, height, left, bottom, top = 720, 220, 34, 26, 12
    most = max([n for points in series.values() for _, n in points] + [1])
    step = (width - left - 10) / max(len(weeks) - 1, 1)

    def x(i: int) -> float:
        return left + i * step

    def y(n: int) -> float:
        return top + (height - top - bottom) * (1 - n / most)

    parts = [
        f'<line class="axis" x1="{left}" y1="{y(0):.1f}" x2="{width - 6}" y2="{y(0):.1f}"/>',
        f'<text class="tick" x="{left - 4}" y="{y(most) + 4:.1f}" text-anchor="end">{e(dsh.number(most, lang))}</text>',
        f'<text class="tick" x="{left - 4}" y="{y(0) + 4:.1f}" text-anchor="end">0</text>',
    ]
    every = max(1, round(len(weeks) / 8))
    for i, week in enumerate(weeks):
        if i % every == 0 or i == len(weeks) - 1:
            parts.append(f'<text class="tick" x="{x(i):.1f}" y="{height - 8}" text-anchor="middle">{e(week[5:])}</text>')
    legend = []
    for n, (group, points) in enumerate(series.items()):
        by_week = dict(points)
        coords = " ".join(f"{x(i):.1f},{y(by_week.get(w, 0)):.1f}" for i, w in enumerate(weeks))
        parts.append(f'<polyline class="line s{n % 6}" points="{coords}"/>')
        parts += [f'<circle class="dot s{n % 6}" cx="{x(i):.1f}" cy="{y(by_week.get(w, 0)):.1f}" r="2.5"/>' for i, w in enumerate(weeks)]
        legend.append(f'<li><span class="sw s{n % 6}"></span>{e(level_name(kb, "group", group, lang))}</li>')
    label = T[lang]["chart_label"]
    return (
        f'<svg class="group-chart" viewBox="0 0 {width} {height}" role="img" aria-label="{e(label)}">{"".join(parts)}</svg>'
        f'<ul class="chart-legend">{"".join(legend)}</ul>'
    )


# -- the routes ------------------------------------------------------------------------------------------------

class GroupsPages:
    """The /dashboard/groups routes, on the dashboard's sessions, helpers and threads."""

    def __init__(self, dash: Any):
        self.dash = dash
        self._pdfs: dict[tuple, bytes] = {}  # a few recent PDFs (building 14 pages takes about a second)

    @property
    def kb(self) -> KnowledgeBase:
        return self.dash.kb

    def username(self, request: web.Request) -> str | None:
        """The bot's @username: the setting, else the running Telegram channel's (asked with getMe)."""
        name = self.dash.ctx.settings.telegram_username
        if name:
            return name
        try:
            from bot.channels.telegram import TELEGRAM

            channel = request.app.get(TELEGRAM)
            return channel.bot.username if channel is not None else None
        except Exception:  # not started, or no Telegram channel
            return None

    def web_url(self) -> str:
        return self.dash.ctx.settings.web_url

    def page_session(self, request: web.Request) -> Any:
        session = self.dash.session(request)
        if session is None:
            raise self.dash.to_login(request)
        return session

    def not_found(self, request: web.Request, lang: str, key: str) -> web.Response:
        return self.dash.html_page(request, self.dash.render_error(lang, T[lang][key]), 404)

    def lookup(self, request: web.Request) -> tuple[str, str | None, str | None]:
        """(group, guide, problem key): the path's group and guide, checked against the content."""
        group = request.match_info["group"]
        guide = request.match_info.get("guide")
        if group not in self.kb.working_groups:
            return group, guide, "unknown_group"
        if guide is not None and guide not in self.kb.guides:
            return group, guide, "unknown_guide"
        return group, guide, None

    async def in_thread(self, fn: Callable[[], Any]) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self.dash.executor, fn)

    # -- posters -----------------------------------------------------------------------------------------------
    def posters_for(self, request: web.Request, group: str, guides: list[str]) -> list[Poster]:
        lang = self.dash.lang(request)
        return [make_poster(self.kb, group, g, self.username(request), self.web_url(), lang) for g in guides]

    def render_posters(self, request: web.Request, session: Any, group: str, posters: list[Poster], fits: list[Fit], pdf_href: str) -> str:
        lang = self.dash.lang(request)
        t = T[lang]
        head = self.dash.head(lang, f'{t["poster"]} – {self.kb.working_groups[group].name.get(lang)} – DigiGuide', ["groups.js"])
        head = head.replace("</head>", f'<link rel="stylesheet" href="{e(self.dash.asset_url("groups.css"))}"></head>')
        warn = "" if self.username(request) else f'<p class="problem no-print" role="status">{e(t["no_username"])}</p>'
        tools = (
            '<div class="no-print poster-tools wrap">'
            f'<a href="{e(PATH)}#group-{e(group)}">{e(t["back"])}</a>'
            f'<button type="button" id="print">{e(t["print_all"] if len(posters) > 1 else t["print"])}</button>'
            f'<a class="pdf" href="{e(pdf_href)}" download>{e(t["pdf"])}</a>'
            f'<span class="help">{e(t["print_help"])}</span></div>'
        )
        sheets = "".join(poster_html(p, f) for p, f in zip(posters, fits))
        return (
            head + '<body class="posters-body">'
            + f'<div class="no-print">{self.dash.topbar(request, lang, session, "groups")}</div>'
            + warn + tools + f'<main class="posters">{sheets}</main></body></html>'
        )

    async def poster(self, request: web.Request) -> web.Response:
        session = self.page_session(request)
        lang = self.dash.lang(request)
        group, guide, problem = self.lookup(request)
        if problem:
            return self.not_found(request, lang, problem)
        posters = self.posters_for(request, group, [guide])
        fits = await self.in_thread(lambda: [fit(p) for p in posters])
        pdf_href = f"{PATH}/{group}/poster/{guide}.pdf?lang={lang}"
        return self.dash.html_page(request, self.render_posters(request, session, group, posters, fits, pdf_href))

    async def posters(self, request: web.Request) -> web.Response:
        session = self.page_session(request)
        lang = self.dash.lang(request)
        group, _, problem = self.lookup(request)
        if problem:
            return self.not_found(request, lang, problem)
        posters = self.posters_for(request, group, list(self.kb.guides))

        def fits() -> list[Fit]:
            pdf = _new_pdf()
            return [fit(p, pdf) for p in posters]

        pdf_href = f"{PATH}/{group}/posters.pdf?lang={lang}"
        return self.dash.html_page(request, self.render_posters(request, session, group, posters, await self.in_thread(fits), pdf_href))

    async def pdf_response(self, request: web.Request, group: str, guides: list[str], name: str) -> web.Response:
        posters = self.posters_for(request, group, guides)
        key = (self.kb.version, group, tuple(guides), self.username(request), self.web_url(), self.dash.lang(request))
        body = self._pdfs.get(key)
        if body is None:
            body = await self.in_thread(lambda: posters_pdf(posters))
            self._pdfs[key] = body
            while len(self._pdfs) > 16:
                self._pdfs.pop(next(iter(self._pdfs)))
        filename = re.sub(r"[^A-Za-z0-9_.-]", "", name)
        response = web.Response(body=body, content_type="application/pdf", headers={"Content-Disposition": f'attachment; filename="{filename}"'})
        return dsh.secure(response)

    async def poster_pdf(self, request: web.Request) -> web.Response:
        if self.dash.session(request) is None:
            return self.dash.unauthorised()
        group, guide, problem = self.lookup(request)
        if problem:
            return dsh.secure(web.json_response({"error": T["en"][problem]}, status=404))
        return await self.pdf_response(request, group, [guide], f"digiguide-poster-{group}-{guide}.pdf")

    async def posters_pdf(self, request: web.Request) -> web.Response:
        if self.dash.session(request) is None:
            return self.dash.unauthorised()
        group, _, problem = self.lookup(request)
        if problem:
            return dsh.secure(web.json_response({"error": T["en"][problem]}, status=404))
        return await self.pdf_response(request, group, list(self.kb.guides), f"digiguide-posters-{group}.pdf")

    async def qr(self, request: web.Request) -> web.Response:
        if self.dash.session(request) is None:
            return self.dash.unauthorised()
        group, target = request.match_info["group"], request.match_info["guide"]
        kind = request.query.get("kind", "telegram")
        if group not in self.kb.working_groups or (target != "menu" and target not in self.kb.guides):
            return dsh.secure(web.json_response({"error": "unknown group or guide"}, status=404))
        if kind not in QR_KINDS:
            return dsh.secure(web.json_response({"error": "kind must be telegram or web"}, status=400))
        username = self.username(request)
        if kind == "telegram" and not username:
            return dsh.secure(web.json_response({"error": "the Telegram bot's username is not set (TELEGRAM_BOT_USERNAME)"}, status=404))
        wanted = "menu" if target == "menu" else f"g-{target}"
        row = next(r for r in group_rows(self.kb, group, username, self.web_url(), "vi") if r.target == wanted)
        body = await self.in_thread(lambda: qr_png(row.telegram if kind == "telegram" else row.web))
        filename = f"digiguide-qr-{group}-{target}-{kind}.png"
        return dsh.secure(web.Response(body=body, content_type="image/png", headers={"Content-Disposition": f'inline; filename="{filename}"'}))

    async def font(self, request: web.Request) -> web.Response:
        """The posters' font (behind the login like everything here; kept a day in the browser's cache)."""
        if self.dash.session(request) is None:
            return self.dash.unauthorised()
        path = {p.name: p for p in FONTS.values()}.get(request.match_info["font"] + ".ttf")
        if path is None:
            raise dsh.secure(web.HTTPNotFound())
        body, etag = _font_file(path)
        headers = {"ETag": etag, "Cache-Control": "private, max-age=86400"}
        if etag in request.headers.get("If-None-Match", ""):
            return dsh.secure(web.Response(status=304, headers=headers), private=False)
        return dsh.secure(web.Response(body=body, content_type="font/ttf", headers=headers), private=False)

    # -- the groups page -------------------------------------------------------------------------------------
    def filters(self, request: web.Request) -> rpt.Filters:
        q = request.query
        return rpt.Filters(since=(q.get("since") or "").strip() or None, until=(q.get("until") or "").strip() or None)

    async def page(self, request: web.Request) -> web.Response:
        session = self.page_session(request)
        lang = self.dash.lang(request)
        q = request.query
        last = await self.dash.query(dsh.last_day)
        if "since" not in q and "until" not in q and last:
            end = dt.date.fromisoformat(last)
            start = end - dt.timedelta(days=end.weekday()) - dt.timedelta(weeks=DEFAULT_WEEKS - 1)
            extra = {"since": start.isoformat(), "until": end.isoformat(), **({"lang": lang} if "lang" in q else {})}
            raise dsh.secure(web.HTTPFound(f"{PATH}?{urlencode(extra)}"))
        error = None
        try:
            f = self.filters(request)
        except ValueError as exc:
            error, f = str(exc), rpt.Filters()
        data = await self.results(f)
        return self.dash.html_page(request, self.render_page(request, session, lang, f, data, error))

    async def results(self, f: rpt.Filters) -> dict[str, Any]:
        """The outreach report for `f`, through the dashboard's result cache (the page and its CSV exports
        share one computation; new events show up within the cache's time to live, as on the dashboard)."""
        kb = self.kb
        return await self.dash.cache.get(("groups", f, kb.version), lambda: self.dash.query(lambda db: orr.for_kb(db, kb, f)))

    async def export(self, request: web.Request) -> web.Response:
        if self.dash.session(request) is None:
            return self.dash.unauthorised()
        name = request.match_info["section"]
        if name not in orr.SECTIONS:
            raise dsh.secure(web.HTTPNotFound())
        try:
            f = self.filters(request)
        except ValueError as exc:
            return dsh.secure(web.Response(text=str(exc), status=400))
        kb, lang = self.kb, self.dash.lang(request)
        data = await self.results(f)
        header, rows = csv_section(kb, name, data[name], lang)
        lo, hi = f.bounds
        span = f"{lo if f.since else 'start'}_{hi if f.until else 'end'}"
        filename = re.sub(r"[^A-Za-z0-9_.-]", "", f"digiguide-groups-{name}-{span}.csv")
        response = web.Response(body=dsh.to_csv(header, rows), content_type="text/csv", charset="utf-8", headers={"Content-Disposition": f'attachment; filename="{filename}"'})
        return dsh.secure(response)

    def render_page(self, request: web.Request, session: Any, lang: str, f: rpt.Filters, data: dict, error: str | None) -> str:
        t, kb = T[lang], self.kb
        num = lambda v: dsh.number(v, lang)  # noqa: E731
        pct = lambda v: dsh.percent(v, lang)  # noqa: E731
        query = urlencode({k: v for k, v in (("since", request.query.get("since", "")), ("until", request.query.get("until", "")))})

        def csv_link(name: str) -> str:
            return f'<a class="csv" href="{e(f"{PATH}/export/{name}.csv?{query}")}" download>{e(t["csv"])}</a>'

        def topic_name(topic: str | None) -> str:
            return dsh.topic_title(kb, topic, lang) if topic else t["no_topic"]

        head = self.dash.head(lang, f'{t["groups"]} – DigiGuide', ["groups.js"])
        head = head.replace("</head>", f'<link rel="stylesheet" href="{e(self.dash.asset_url("groups.css"))}"></head>')
        # filters
        form = (
            f'<form class="filters" method="get" action="{PATH}">'
            + "".join(f'<label class="field"><span>{e(t[k])}</span><input type="date" name="{k}" value="{e(request.query.get(k, ""))}"></label>' for k in ("since", "until"))
            + f'<div class="filter-actions"><button type="submit">{e(t["apply"])}</button></div></form>'
            + f'<p class="ranges"><a href="{PATH}">{e(t["reset"])}</a> · <a href="{PATH}?since=&amp;until=">{e(t["all_time"])}</a></p>'
        )
        problem = f'<p class="problem" role="alert">{e(t["bad_filter"])}: {e(error)}</p>' if error else ""
        # KPIs: all groups
        total = next((r for r in data["wards"] if r["level"] == "all"), None) or {}
        kpis = "".join(
            f'<div class="kpi"><div class="kpi-label">{e(label)}</div><div class="kpi-value">{e(value)}</div></div>'
            for label, value in (
                (t["new_citizens"], num(total.get("new_citizens", 0))), (t["questions"], num(total.get("questions", 0))),
                (t["answer_rate"], pct(total.get("answer_rate"))), (t["guides_started"], num(total.get("guides_started", 0))),
                (t["guides_finished"], num(total.get("guides_finished", 0))),
            )
        )

        def result_table(rows: list[dict], level: str) -> str:
            head_cells = [t["group"] if level == "group" else t["ward"]] + ([t["ward"], t["code"]] if level == "group" else [])
            numbers = [t["new_citizens"], t["questions"], t["answer_rate"], t["guides_started"], t["guides_finished"], t["completion"]]
            out = [f'<table class="results" id="results-{level}"><thead><tr>' + "".join(f"<th>{e(h)}</th>" for h in head_cells)
                   + "".join(f'<th class="num">{e(h)}</th>' for h in numbers) + f"<th>{e(t['top_topic'])}</th></tr></thead><tbody>"]
            for r in rows:
                name = level_name(kb, r["level"], r["id"], lang)
                cells = [f"<td>{e(name)}</td>"]
                if level == "group":
                    group = kb.working_groups.get(r["id"])
                    cells += [f"<td>{e(ward_name(kb, r['ward'], lang))}</td>", f"<td>{e(group.code if group else '')}</td>"]
                cells += [f'<td class="num" data-key="{k}">{e(v)}</td>' for k, v in (
                    ("new_citizens", num(r["new_citizens"])), ("questions", num(r["questions"])), ("answer_rate", pct(r["answer_rate"])),
                    ("guides_started", num(r["guides_started"])), ("guides_finished", num(r["guides_finished"])), ("completion_rate", pct(r["completion_rate"])))]
                cells.append(f"<td>{e(topic_name(r['top_topic']) if r['top_topic'] is not None else '–')}</td>")
                row_class = ' class="total"' if r["level"] == "all" else ""
                out.append(f'<tr{row_class} data-level="{e(r["level"])}" data-id="{e(r["id"])}">' + "".join(cells) + "</tr>")
            return "".join(out) + "</tbody></table>"

        # weekly pivot: new citizens per group
        group_ids = [r["id"] for r in data["groups"]]
        weeks: dict[str, dict[str, int]] = {}
        for r in data["weekly"]:
            if r["level"] == "group":
                weeks.setdefault(r["period"], {})[r["id"]] = r["new_citizens"]
        weekly_rows = "".join(
            f'<tr><th scope="row">{e(week)}</th>' + "".join(f'<td class="num">{e(num(cells.get(g, 0)))}</td>' for g in group_ids)
            + f'<td class="num">{e(num(sum(cells.values())))}</td></tr>'
            for week, cells in weeks.items()
        )
        codes = {g: (kb.working_groups[g].code if g in kb.working_groups else g) for g in group_ids}
        weekly_table = (
            f'<table class="results compact" id="weekly-table"><thead><tr><th>{e(t["week"])}</th>'
            + "".join(f'<th class="num" title="{e(level_name(kb, "group", g, lang))}">{e(codes[g])}</th>' for g in group_ids)
            + f'<th class="num">{e(t["all_groups"])}</th></tr></thead><tbody>{weekly_rows}</tbody></table>'
        ) if weeks else f'<p>{e(t["empty"])}</p>'
        # topics pivot: questions per topic and group
        topic_cells: dict[str, dict[str, int]] = {}
        for r in data["topics"]:
            if r["level"] == "group":
                topic_cells.setdefault(r["topic"], {})[r["id"]] = r["questions"]
        topic_rows = "".join(
            f'<tr><th scope="row">{e(topic_name(topic))}</th>' + "".join(f'<td class="num">{e(num(cells.get(g, 0)))}</td>' for g in group_ids) + "</tr>"
            for topic, cells in sorted(topic_cells.items(), key=lambda kv: (-sum(kv[1].values()), kv[0]))
        )
        topics_table = (
            f'<table class="results compact" id="topics-table"><thead><tr><th>{e(t["topic"])}</th>'
            + "".join(f'<th class="num" title="{e(level_name(kb, "group", g, lang))}">{e(codes[g])}</th>' for g in group_ids)
            + f"</tr></thead><tbody>{topic_rows}</tbody></table>"
        ) if topic_cells else f'<p>{e(t["empty"])}</p>'
        poster_rows = [r for r in data["posters"] if r["level"] == "group"][:15]
        posters_table = (
            f'<table class="results compact" id="posters-table"><thead><tr><th>{e(t["group"])}</th><th>{e(t["target"])}</th><th class="num">{e(t["new_citizens"])}</th></tr></thead><tbody>'
            + "".join(f'<tr><td>{e(codes.get(r["id"], r["id"]))}</td><td>{e(target_title(kb, r["target"], lang))}</td><td class="num">{e(num(r["new_citizens"]))}</td></tr>' for r in poster_rows)
            + "</tbody></table>"
        ) if poster_rows else f'<p>{e(t["empty"])}</p>'
        guide_rows = [r for r in data["guides"] if r["level"] == "group"][:20]
        guides_table = (
            f'<table class="results compact" id="guides-table"><thead><tr><th>{e(t["group"])}</th><th>{e(t["guide"])}</th><th class="num">{e(t["started"])}</th><th class="num">{e(t["finished"])}</th><th class="num">{e(t["completion"])}</th></tr></thead><tbody>'
            + "".join(f'<tr><td>{e(codes.get(r["id"], r["id"]))}</td><td>{e(dsh._title(kb, r["guide_id"], lang) or r["guide_id"])}</td><td class="num">{e(num(r["started"]))}</td><td class="num">{e(num(r["finished"]))}</td><td class="num">{e(pct(r["completion_rate"]))}</td></tr>' for r in guide_rows)
            + "</tbody></table>"
        ) if guide_rows else f'<p>{e(t["empty"])}</p>'

        def card(ident: str, title: str, body: str, csv_name: str, wide: bool = True) -> str:
            return (
                f'<section class="card table-card{" wide" if wide else ""}" id="{ident}"><div class="card-head"><h2>{e(title)}</h2>{csv_link(csv_name)}</div>'
                f'<div class="scroll">{body}</div></section>'
            )

        results = (
            f'<section id="results"><h2 class="section-title">{e(t["results"])}</h2><p class="help">{e(t["results_help"])}</p>'
            + form + problem + "".join(f'<p class="note">{e(n)}</p>' for n in data["notes"])
            + f'<section class="kpis" aria-label="KPI">{kpis}</section>'
            + card("chart", t["weekly"], weekly_chart(kb, data["weekly"], lang) or f'<p>{e(t["empty"])}</p>', "weekly")
            + card("by-group", t["by_group"], result_table(data["groups"], "group"), "groups")
            + card("by-ward", t["by_ward"], result_table(data["wards"], "ward"), "wards")
            + '<div class="grid">'
            + card("weekly", t["weekly"], weekly_table, "weekly", wide=False)
            + card("topics", t["topics"], topics_table, "topics", wide=False)
            + card("posters", t["posters_best"], posters_table, "posters", wide=False)
            + card("guides", t["guides_table"], guides_table, "guides", wide=False)
            + "</div></section>"
        )
        links = self.render_links(request, lang)
        return (
            head + "<body>" + self.dash.topbar(request, lang, session, "groups")
            + '<main class="wrap groups-page">'
            + f'<h1 class="page-title">{e(t["page_title"])}</h1><p class="help">{e(t["intro"])}</p>'
            + links + results + "</main></body></html>"
        )

    def render_links(self, request: web.Request, lang: str) -> str:
        t, kb = T[lang], self.kb
        username = self.username(request)
        warn = "" if username else f'<p class="problem" role="status" id="no-username">{e(t["no_username"])}</p>'
        blocks = []
        for group in kb.working_groups.values():
            rows = []
            for row in group_rows(kb, group.id, username, self.web_url(), lang):
                target = row.target.partition("-")[2] if row.target.startswith("g-") else "menu"
                poster = ""
                if row.target.startswith("g-"):
                    base = f"{PATH}/{group.id}/poster/{target}"
                    poster = f'<a href="{e(base)}">{e(t["view_print"])}</a> · <a href="{e(base)}.pdf" download>{e(t["pdf"])}</a>'
                qr_base = f"{PATH}/{group.id}/qr/{target}.png"
                qrs = " · ".join(
                    f'<a href="{e(qr_base)}?kind={kind}" download>{e(t[kind])}</a>' for kind in QR_KINDS if kind == "web" or username
                )
                telegram = f'<a href="{e(row.telegram)}" rel="noopener" target="_blank">{e(row.telegram)}</a>' if username else f'<code>{e(row.telegram)}</code>'
                rows.append(
                    f'<tr data-target="{e(row.target)}"><td>{e(dsh.plain(row.title) if row.target == "menu" else row.title)}</td><td class="code"><b>{e(row.zalo_code)}</b></td>'
                    f'<td class="link">{telegram}</td><td class="link"><a href="{e(row.web)}" rel="noopener" target="_blank">{e(row.web)}</a></td>'
                    f"<td>{poster}</td><td>{qrs}</td></tr>"
                )
            table = (
                f'<table class="results links-table"><thead><tr><th>{e(t["guide"])}</th><th>{e(t["zalo_code"])}</th><th>{e(t["telegram"])}</th>'
                f'<th>{e(t["web"])}</th><th>{e(t["poster"])}</th><th>{e(t["qr_png"])}</th></tr></thead><tbody>{"".join(rows)}</tbody></table>'
            )
            blocks.append(
                f'<details class="card group-links" id="group-{e(group.id)}"><summary><b>{e(group.name.get(lang))}</b> '
                f'<span class="muted">{e(ward_name(kb, group.ward, lang))} · {e(t["code"])} {e(group.code)}</span></summary>'
                f'<p class="group-actions"><a class="button" href="{e(f"{PATH}/{group.id}/posters")}">{e(t["all_posters"])}</a> '
                f'<a class="button" href="{e(f"{PATH}/{group.id}/posters.pdf")}" download>{e(t["all_pdf"])}</a></p>'
                f'<div class="scroll">{table}</div></details>'
            )
        return f'<section id="links"><h2 class="section-title">{e(t["links"])}</h2>{warn}{"".join(blocks)}</section>'


@lru_cache(maxsize=4)
def _font_file(path: Path) -> tuple[bytes, str]:
    body = path.read_bytes()
    return body, '"' + hashlib.sha256(body).hexdigest()[:16] + '"'


def csv_section(kb: KnowledgeBase, name: str, rows: list[dict], lang: str) -> tuple[list[str], list[list[Any]]]:
    """An outreach section as CSV, with a readable name next to each id (and titles for topics, guides, targets)."""
    header, body = orr.section_rows(name, rows)
    header = [*header[:2], "name", *header[2:]]
    out = []
    for row, values in zip(rows, body):
        values = [*values[:2], level_name(kb, row["level"], row["id"], lang), *values[2:]]
        out.append(values)
    if name == "topics":
        header.append("topic_title")
        for row, values in zip(rows, out):
            values.append(dsh.topic_title(kb, row["topic"], lang) if row["topic"] else "")
    elif name == "guides":
        header.append("guide_title")
        for row, values in zip(rows, out):
            values.append(dsh._title(kb, row["guide_id"], lang) or "")
    elif name == "posters":
        header.append("target_title")
        for row, values in zip(rows, out):
            values.append(target_title(kb, row["target"], lang))
    return header, out


def nav_link(lang: str, current: str) -> str:
    """The dashboard top bar's link to this page (analytics.dashboard.Dashboard.topbar adds it)."""
    here = ' aria-current="page"' if current == "groups" else ""
    return f'<a href="{PATH}"{here}>{e(T[lang if lang in T else "vi"]["groups"])}</a>'


def mount(app: web.Application, dash: Any) -> GroupsPages:
    """Register the routes (before the dashboard's catch-all, which would otherwise answer them)."""
    pages = GroupsPages(dash)
    r = app.router
    r.add_get(PATH, pages.page)
    r.add_get(PATH + "/export/{section}.csv", pages.export)
    r.add_get(PATH + "/fonts/{font}.ttf", pages.font)
    r.add_get(PATH + "/{group}/poster/{guide}.pdf", pages.poster_pdf)
    r.add_get(PATH + "/{group}/poster/{guide}", pages.poster)
    r.add_get(PATH + "/{group}/posters.pdf", pages.posters_pdf)
    r.add_get(PATH + "/{group}/posters", pages.posters)
    r.add_get(PATH + "/{group}/qr/{guide}.png", pages.qr)
    return pages
