"""Telegram channel (placeholder until implemented)."""

from aiohttp import web

from .base import ChannelStatus, ServerContext


def setup(app: web.Application, ctx: ServerContext) -> ChannelStatus:
    return ChannelStatus("telegram", False, "off", "set TELEGRAM_BOT_TOKEN to enable")
