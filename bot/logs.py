"""Logging that cannot leak secrets: every record is scrubbed of the bot tokens and webhook secrets
before any handler sees it (python-telegram-bot and httpx put the token in request URLs). And logging that
nobody outside can fill: a malformed HTTP request is one short line, not a traceback (ClientErrorFilter)."""

from __future__ import annotations

import logging
import re

from aiohttp.http_exceptions import HttpProcessingError

CLIENT_ERROR_DETAIL = 100  # characters of aiohttp's reason kept (it quotes the client's bytes)


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


class ClientErrorFilter(logging.Filter):
    """aiohttp's server logs a request it cannot even parse (a 10 KB header line, a garbled request line)
    as "Error handling request" at ERROR with a whole traceback, once per request: a client could fill the
    log at will, and an operator would read it as our bug. It is the client's mistake, already answered
    400: here it becomes one WARNING line without traceback. Our own handlers' failures keep theirs."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if isinstance(error, HttpProcessingError):
            remote = record.args[0] if isinstance(record.args, tuple) and record.args else "?"
            reason = (str(error.message).splitlines() or [""])[0][:CLIENT_ERROR_DETAIL]
            record.msg, record.args = "malformed HTTP request from %s refused (%s %s): %s", (remote, error.code, type(error).__name__, reason)
            record.levelno, record.levelname = logging.WARNING, "WARNING"
            record.exc_info, record.exc_text = None, None
        return True


def quiet_client_errors() -> None:
    """Install ClientErrorFilter on aiohttp's server logger (once): a logger's filter sees its records
    before any handler, ours or pytest's."""
    server_log = logging.getLogger("aiohttp.server")
    if not any(isinstance(f, ClientErrorFilter) for f in server_log.filters):
        server_log.addFilter(ClientErrorFilter())


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
    # fpdf2 subsets the poster font through fontTools, which reports every table it prunes ("maxp pruned",
    # "Added gid0 to subset") at INFO and harmless table quirks at WARNING: dozens of lines per PDF
    logging.getLogger("fontTools").setLevel(logging.ERROR)
    quiet_client_errors()
    return secret_filter
