"""Preview an entry as each channel shows it: Telegram HTML with its keyboard, Zalo's numbered options
cut at 2,000 characters, the web chat's reply objects.

Nothing here renders on its own: the replies are the engine's (bot.present), split as the engine splits
them for each channel's limit, then rendered by the channels' own functions, so the preview cannot drift
from what citizens get.
"""

from __future__ import annotations

from typing import Any

from .. import present
from ..channels import telegram, web, zalo
from ..knowledge import KnowledgeBase
from ..replies import Reply, split_reply
from .repo import NotFound


def entry_replies(kb: KnowledgeBase, kind: str, entry_id: str, lang: str) -> list[Reply]:
    """What a citizen gets from the entry: an FAQ answer, or every page of a guide (overview, steps,
    wrap-up) in order."""
    if kind == "faq" and entry_id in kb.faqs:
        return [present.faq_answer(kb, kb.faqs[entry_id], lang)]
    if kind == "guide" and entry_id in kb.guides:
        guide = kb.guides[entry_id]
        return [present.guide_page(kb, guide, step, lang) for step in range(len(guide.steps) + 2)]
    raise NotFound(kind, entry_id)


def _split(replies: list[Reply], limit: int) -> list[Reply]:
    return [part for reply in replies for part in split_reply(reply, limit)]


def preview(kb: KnowledgeBase, kind: str, entry_id: str, lang: str = "vi") -> dict[str, list[Any]]:
    """{"telegram": [{"html", "buttons": rows of {label, action}}], "zalo": [message texts], "web": [the
    /api/chat reply objects]} for one entry of `kb` (the live content or a draft's)."""
    lang = "en" if lang == "en" else "vi"
    replies = entry_replies(kb, kind, entry_id, lang)
    telegram_messages = []
    for rendered in telegram.render(_split(replies, telegram.MAX_TEXT)):
        rows = rendered.markup.inline_keyboard if rendered.markup is not None else ()
        telegram_messages.append({"html": rendered.html, "buttons": [[{"label": b.text, "action": b.callback_data} for b in row] for row in rows]})
    return {
        "telegram": telegram_messages,
        "zalo": zalo.render(_split(replies, zalo.MAX_TEXT), kb.message("numbered_hint", lang)),
        "web": [web.reply_json(r) for r in _split(replies, web.MAX_LEN)],
    }
