"""What the working groups' pages share (the groups page, analytics.web.groups, and the poster pages,
analytics.web.poster_pages): their path, the names of groups, wards and link targets in words, the bot's
Telegram username and the web chat's address.
"""

from __future__ import annotations

from aiohttp import web

from bot.knowledge import KnowledgeBase

from ..posters import public_web_url
from .common import DASHBOARD, PREFIX
from ..formatting import topic_title
from .words import GROUPS

PATH = PREFIX + "/groups"


def ward_name(kb: KnowledgeBase, ward: str | None, lang: str) -> str:
    return kb.ward_name(ward, lang) or ward or GROUPS[lang]["no_ward"]


def ward_options(kb: KnowledgeBase, who, current: str | None, lang: str, everyone: str) -> list[tuple[str, str, bool]]:
    """A ward menu: (value, name, selected) of every ward in locality.yaml that `who` sees, after
    `everyone` (value "") for an official bound to none."""
    head = [] if who.wards else [("", everyone, not current)]
    return head + [(w, ward_name(kb, w, lang), w == current) for w in kb.ward_ids if who.sees_ward(w)]


def level_name(kb: KnowledgeBase, level: str, ident: str, lang: str) -> str:
    """A row of the outreach report in words: the group's name, the ward's, or "all groups"."""
    if level == "group":
        group = kb.working_groups.get(ident)
        return group.name.get(lang) if group else ident
    if level == "ward":
        return ward_name(kb, ident, lang)
    return GROUPS[lang]["all_groups"]


def target_title(kb: KnowledgeBase, target: str, lang: str) -> str:
    """A payload target ("g-eid-activate", "menu", "t-fees", "f-...") in words."""
    kind, _, ident = target.partition("-")
    if target == "menu":
        return GROUPS[lang]["menu"]
    if kind == "g" and ident in kb.guides:
        return kb.guides[ident].title.get(lang)
    if kind == "t" and ident in kb.topics:
        return topic_title(kb, ident, lang)
    if kind == "f" and ident in kb.faqs:
        return kb.faqs[ident].title(lang)
    return target


def bot_username(request: web.Request) -> str | None:
    """The bot's @username: the setting, else the running Telegram channel's (asked with getMe)."""
    name = request.app[DASHBOARD].ctx.settings.telegram_username
    if name:
        return name
    try:
        from bot.channels.telegram import TELEGRAM

        channel = request.app.get(TELEGRAM)
        return channel.bot.username if channel is not None else None
    except Exception:  # not started, or no Telegram channel
        return None


def web_url(request: web.Request) -> str:
    return request.app[DASHBOARD].ctx.settings.web_url


def web_is_public(request: web.Request) -> bool:
    """DIGIGUIDE_PUBLIC_URL is set to an address phones can open (not this machine's own)."""
    settings = request.app[DASHBOARD].ctx.settings
    return bool(settings.public_url) and public_web_url(settings.web_url)


def poster_web_url(request: web.Request) -> str:
    """The web chat's address for posters and QR codes: "" when it is not public, so none is printed."""
    return web_url(request) if web_is_public(request) else ""


def zalo_name(request: web.Request) -> str | None:
    """The Zalo bot account's name citizens send codes to: ZALO_BOT_NAME, else the running channel's (getMe)."""
    name = request.app[DASHBOARD].ctx.settings.zalo_bot_name
    if name:
        return name
    try:
        from bot.channels.zalo import ZALO

        channel = request.app.get(ZALO)
        return channel.account_name if channel is not None else None
    except Exception:  # no Zalo channel
        return None
