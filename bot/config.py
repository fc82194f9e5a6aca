"""Settings from the environment and .env, validated once at start into one frozen dataclass.

Secrets (tokens, salt) are held here and nowhere else; `describe()` prints settings with secrets masked.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

from dotenv import dotenv_values

from .clientinfo import IPNetwork, parse_networks
from .storage import Target
from .knowledge import DEFAULT_CONTENT_DIR

SECRET_FIELDS = {"database_url", "salt", "dashboard_token", "telegram_token", "telegram_webhook_secret", "zalo_token", "zalo_webhook_secret"}


class SettingsError(ValueError):
    pass


@dataclass(frozen=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 8080
    db_path: Path = Path("data/digiguide.db")  # the SQLite file (and where the salt file lives)
    # PostgreSQL for every table instead of the SQLite file (docs/operations.md); "" = the file
    database_url: str = field(default="", repr=False)
    content_dir: Path = DEFAULT_CONTENT_DIR
    salt: str = field(default="", repr=False)
    dashboard_token: str = field(default="", repr=False)
    telegram_token: str = field(default="", repr=False)
    telegram_api_base: str = "https://api.telegram.org/bot"
    telegram_webhook_url: str = ""
    telegram_webhook_secret: str = field(default="", repr=False)
    zalo_token: str = field(default="", repr=False)
    zalo_api_base: str = "https://bot-api.zaloplatforms.com"
    zalo_webhook_url: str = ""
    zalo_webhook_secret: str = field(default="", repr=False)
    public_url: str = ""  # where citizens reach the web chat, for links and posters (default http://host:port)
    telegram_username: str = ""  # the bot's @username for t.me links (else asked from getMe at start)
    zalo_bot_name: str = ""  # the Zalo bot account's name, printed in posters' Zalo box (else from getMe at start)
    # reverse proxies whose X-Forwarded-For / X-Forwarded-Proto are believed (bot/clientinfo.py); () = none
    trusted_proxies: tuple[IPNetwork, ...] = ()
    durable_events: bool = True  # an answer waits for its analytics event's commit (bot.service); off only to measure

    @classmethod
    def load(cls, env: dict[str, str] | None = None, env_file: Path | str | None = ".env") -> "Settings":
        """Environment wins over .env; .env wins over defaults. Missing salt is generated and kept
        next to the database so hashed user ids stay stable across restarts."""
        values: dict[str, str] = {}
        if env_file and Path(env_file).exists():
            values.update({k: v for k, v in dotenv_values(env_file).items() if v is not None})
        values.update(os.environ if env is None else env)
        get = lambda name, default="": values.get(name, default).strip()  # noqa: E731
        try:
            port = int(get("DIGIGUIDE_PORT", "8080"))
        except ValueError as exc:
            raise SettingsError(f"DIGIGUIDE_PORT must be a number, got {get('DIGIGUIDE_PORT')!r}") from exc
        if not 0 <= port <= 65535:
            raise SettingsError(f"DIGIGUIDE_PORT must be between 0 and 65535, got {port}")
        try:
            trusted_proxies = parse_networks(get("DIGIGUIDE_TRUSTED_PROXIES"))
        except ValueError as exc:
            raise SettingsError(f"DIGIGUIDE_TRUSTED_PROXIES: {exc}") from exc
        settings = cls(
            host=get("DIGIGUIDE_HOST", "127.0.0.1"),
            port=port,
            db_path=Path(get("DIGIGUIDE_DB", "data/digiguide.db")),
            database_url=get("DIGIGUIDE_DATABASE_URL"),
            content_dir=Path(get("DIGIGUIDE_CONTENT", str(DEFAULT_CONTENT_DIR))),
            salt=get("DIGIGUIDE_SALT"),
            dashboard_token=get("DIGIGUIDE_DASHBOARD_TOKEN"),
            telegram_token=get("TELEGRAM_BOT_TOKEN"),
            telegram_api_base=get("TELEGRAM_API_BASE", "https://api.telegram.org/bot"),
            telegram_webhook_url=get("TELEGRAM_WEBHOOK_URL"),
            telegram_webhook_secret=get("TELEGRAM_WEBHOOK_SECRET"),
            zalo_token=get("ZALO_BOT_TOKEN"),
            zalo_api_base=get("ZALO_API_BASE", "https://bot-api.zaloplatforms.com").rstrip("/"),
            zalo_webhook_url=get("ZALO_WEBHOOK_URL"),
            zalo_webhook_secret=get("ZALO_WEBHOOK_SECRET"),
            public_url=get("DIGIGUIDE_PUBLIC_URL").rstrip("/"),
            telegram_username=get("TELEGRAM_BOT_USERNAME").lstrip("@"),
            zalo_bot_name=get("ZALO_BOT_NAME"),
            trusted_proxies=trusted_proxies,
            durable_events=get("DIGIGUIDE_DURABLE_EVENTS", "1").lower() not in ("0", "false", "no", "off"),
        )
        try:
            settings.database
        except ValueError as exc:
            raise SettingsError(f"DIGIGUIDE_DATABASE_URL: {exc}") from exc
        if not settings.salt:
            settings = settings.with_salt(load_or_create_secret(settings.db_path.parent / "salt"))
        return settings

    @property
    def database(self) -> Target:
        """Where every table lives: DIGIGUIDE_DATABASE_URL when set, else the SQLite file DIGIGUIDE_DB."""
        if self.database_url:
            target = Target.parse(self.database_url)
            if target.engine != "postgresql":
                raise ValueError("expected a postgresql://user:password@host:port/db URL")
            return target
        return Target.parse(self.db_path)

    @property
    def web_url(self) -> str:
        """The public address of the web chat (links and posters point here)."""
        return self.public_url or f"http://{self.host}:{self.port}"

    def with_salt(self, salt: str) -> "Settings":
        return replace(self, salt=salt)

    def with_dashboard_token(self, token: str) -> "Settings":
        return replace(self, dashboard_token=token)

    def describe(self) -> dict[str, str]:
        """Every setting, secrets shown only as set / not set (safe to log)."""
        out = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "database_url":
                out[f.name] = str(self.database) if value else "not set"  # the password masked
            elif f.name in SECRET_FIELDS:
                out[f.name] = "set" if value else "not set"
            else:
                out[f.name] = ", ".join(map(str, value)) if isinstance(value, tuple) else str(value)
        return out


def load_or_create_secret(path: Path) -> str:
    """A random secret kept in a file readable by the owner only, created on first use.

    Several workers may start at once: the secret is written to a temporary file and linked into place,
    which fails if another process got there first; then everyone reads the one that won."""
    if path.exists():
        value = path.read_text().strip()
        if value:
            return value
    path.parent.mkdir(parents=True, exist_ok=True)
    value = secrets.token_hex(32)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(value + "\n")
    try:
        if path.exists():  # an empty file left by an older version: replace it
            os.replace(temporary, path)
            return value
        os.link(temporary, path)
    except FileExistsError:
        return path.read_text().strip()
    finally:
        temporary.unlink(missing_ok=True)
    return value
