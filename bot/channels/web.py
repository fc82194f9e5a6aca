"""Web chat channel (placeholder until implemented)."""

from aiohttp import web

from .base import ChannelStatus, ServerContext


def setup(app: web.Application, ctx: ServerContext) -> ChannelStatus:
    return ChannelStatus("web", False, "off", "not implemented yet")
