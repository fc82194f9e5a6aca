"""Reading Telegram updates: who they are for, what language the client speaks, whether a webhook body is
shaped as the Bot API documents, and which flood budget an update is charged to. Pure functions on
python-telegram-bot's objects (and, for `well_typed`, on the raw JSON), so bot.channels.telegram keeps only
the channel's wiring.
"""

from __future__ import annotations

import re
from typing import Any

from telegram import Bot, Message, MessageEntity, Update
from telegram.constants import ChatType
from telegram.ext import filters


def lang_hint(language_code: str | None) -> str | None:
    """Telegram's client language ("vi", "en-GB", ...) as the engine's first-contact hint."""
    code = (language_code or "").lower()
    return next((lang for lang in ("vi", "en") if code.startswith(lang)), None)


def _mentions(message: Message, username: str) -> bool:
    wanted = f"@{username}".lower()
    found = {**message.parse_entities([MessageEntity.MENTION]), **message.parse_caption_entities([MessageEntity.MENTION])}
    return any(value.lower() == wanted for value in found.values())


def for_the_bot(message: Message, bot: Bot) -> bool:
    """In a private chat every message is for us; in a group only those that mention or reply to the bot
    (a group has many conversations, and a bot that answers everything is soon removed). A message without a
    chat (never from Telegram itself) is for nobody: there is nowhere to answer."""
    if message.chat is None:
        return False
    if message.chat.type == ChatType.PRIVATE:
        return True
    reply_to = message.reply_to_message
    if reply_to is not None and reply_to.from_user is not None and reply_to.from_user.id == bot.id:
        return True
    return bool(bot.username) and _mentions(message, bot.username)


def strip_mention(text: str, username: str | None) -> str:
    """Remove "@ourbot" so the engine sees only the question."""
    if not username:
        return text.strip()
    return re.sub(rf"(?i)@{re.escape(username)}\b", " ", text).strip()


MESSAGE_KINDS = ("message", "edited_message", "channel_post", "edited_channel_post", "business_message", "edited_business_message")
_ID_FIELDS = ("chat", "from", "sender_chat", "user")
_TEXT_FIELDS = ("text", "caption")
_ENTITY_FIELDS = ("entities", "caption_entities")


def _has_int_id(value: object) -> bool:
    return isinstance(value, dict) and type(value.get("id")) is int


def _entities_ok(value: object) -> bool:
    return isinstance(value, list) and all(
        isinstance(e, dict) and isinstance(e.get("type"), str) and type(e.get("offset")) is int and type(e.get("length")) is int for e in value
    )


def _ids_ok(payload: dict[str, Any]) -> bool:
    return all(_has_int_id(payload[k]) for k in _ID_FIELDS if k in payload)


def _message_ok(message: object) -> bool:
    """A message as the Bot API documents it, in the parts PTB's routing and our handlers read: a chat, ids
    that are integers, text and caption that are strings, entities with integer offsets."""
    return (
        isinstance(message, dict)
        and _has_int_id(message.get("chat"))
        and _ids_ok(message)
        and all(isinstance(message[k], str) for k in _TEXT_FIELDS if k in message)
        and all(_entities_ok(message[k]) for k in _ENTITY_FIELDS if k in message)
    )


def well_typed(data: dict[str, Any]) -> bool:
    """An update whose parts have the types the Bot API documents, where anything reads them.

    Why: python-telegram-bot builds an Update from any JSON without checking types, so a forged webhook body
    with `"text": 5`, a list for a chat id or a message without a chat would reach PTB's routing and our
    handlers and fail there (a traceback per request). Telegram itself never sends such a thing."""
    if type(data.get("update_id")) is not int:
        return False
    payloads = [value for key, value in data.items() if key != "update_id"]
    if len(payloads) != 1 or not isinstance(payloads[0], dict) or not _ids_ok(payloads[0]):
        return False
    payload = payloads[0]
    if any(kind in data for kind in MESSAGE_KINDS):
        return _message_ok(payload)
    if "callback_query" in data:
        return _has_int_id(payload.get("from")) and ("message" not in payload or _message_ok(payload["message"]))
    return True


def _command(message: Message, bot: Bot) -> str | None:
    """The command a message starts with ("start", "help"), unless it is addressed to another bot."""
    text, entity = message.text, message.entities[0] if message.entities else None
    if not isinstance(text, str) or entity is None or entity.type != MessageEntity.BOT_COMMAND or entity.offset != 0:
        return None
    name, _, addressee = text[1 : entity.length].partition("@")
    if addressee and addressee.lower() != (bot.username or "").lower():
        return None
    return name.lower()


def flood_lane(update: Update, bot: Bot, commands: frozenset[str]) -> bool | None:
    """The flood budget the handlers charge an update to: True for a tap (a button, a /start link), False
    for a typed message, None for what no handler answers (a group message not for the bot, a service
    message, an update without a chat). Worked out on arrival, so a flooding citizen's excess is known before
    it waits for its chat. `commands`: the command names the channel answers (in groups too)."""
    if update.effective_user is None or update.effective_chat is None:
        return None
    if update.callback_query is not None:
        return True
    message = update.message
    if message is None or filters.StatusUpdate.ALL.check_update(update):
        return None
    command = _command(message, bot)
    if command not in commands and not for_the_bot(message, bot):
        return None
    return command == "start"
