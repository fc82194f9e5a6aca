"""Logging that cannot leak secrets: every record is scrubbed of the bot tokens and webhook secrets
before any handler sees it (python-telegram-bot and httpx put the token in request URLs)."""

from __future__ import annotations

import logging
import re


class SecretFilter(logging.Filter):
    def __init__(self, secrets: list[str]):
        super().__init__()
        secrets = sorted({s for s in secrets if s and len(s) >= 6}, key=len, reverse=True)
        self._pattern = re.compile("|".join(re.escape(s) for s in secrets)) if secrets else None

    def scrub(self, text: str) -> str:
        return self._pattern.sub("***", text) if self._pattern else text

    def filter(self, record: logging.LogRecord) -> bool:
        if self._pattern is None:
            return True
        message = record.getMessage()
        scrubbed = self.scrub(message)
        if scrubbed != message or record.exc_info:
            record.msg, record.args = scrubbed, ()
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = self.scrub(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        return True


def configure_logging(secrets: list[str], level: int = logging.INFO) -> SecretFilter:
    """Root logging to stderr with the secret filter on the handler (so records from every library pass it)."""
    secret_filter = SecretFilter(secrets)
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(secret_filter)
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    # httpx logs every request URL at INFO; the URL holds the bot token. Keep only warnings.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    return secret_filter
