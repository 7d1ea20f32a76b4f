"""Settings from the environment and `.env`, prefix ZABOTA_."""

from __future__ import annotations

import secrets
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

Language = Literal["ru", "en"]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ZABOTA_", env_file=".env", extra="ignore")

    data_dir: Path = Path("var")
    database_url: str = ""  # empty: a SQLite file in data_dir
    redis_url: str | None = None
    secret_key: str | None = None
    default_language: Language = "ru"
    timezone: str = "Europe/Moscow"

    attachments_dir: Path | None = None
    max_attachment_bytes: int = Field(default=25 * 1024 * 1024, gt=0)
    allowed_attachment_types: list[str] = [
        "image/png", "image/jpeg", "image/gif", "image/webp", "application/pdf", "text/plain",
        "text/csv", "application/zip", "application/msword",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "application/vnd.ms-excel",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "application/octet-stream", "message/rfc822",
        # Voice messages and short videos from messengers.
        "audio/ogg", "audio/mpeg", "audio/mp4", "video/mp4",
    ]

    api_rate_limit_per_minute: int = Field(default=6000, gt=0)
    # How long a process trusts a bearer token it has checked (docs/admin.md); 0: always read.
    token_cache_seconds: float = Field(default=5.0, ge=0, le=300)
    login_rate_limit_per_minute: int = Field(default=10, gt=0)
    access_token_ttl_hours: int = Field(default=12, gt=0)

    admin_email: str | None = None
    admin_password: str | None = None

    huey_immediate: bool = False

    # Outbound system mail (magic links, notifications). No host: messages are written as
    # .eml files under data_dir/mail, so `make run` needs no mail server. The names
    # ZABOTA_SMTP_* are kept for the built-in SMTP receiver.
    mail_host: str | None = None
    mail_port: int = Field(default=587, gt=0, lt=65536)
    mail_user: str | None = None
    mail_password: str | None = None
    mail_from: str = "Zabota <noreply@zabota.local>"
    mail_starttls: bool = True
    mail_use_tls: bool = False
    mail_timeout_seconds: float = Field(default=30.0, gt=0)
    # The address people reach us at, for links in e-mails; empty: the request's own address.
    public_url: str | None = None

    # The e-mail channel. The built-in SMTP receiver takes mail for the addresses of the
    # e-mail channel accounts (any address while none is configured, so a fresh install can
    # be tried); `make run` listens on 127.0.0.1:2525.
    smtp_enabled: bool = True
    smtp_host: str = "127.0.0.1"
    smtp_port: int = Field(default=2525, ge=0, lt=65536)
    # Larger messages are refused by SMTP (552) and quarantined unread by IMAP polling.
    email_max_message_bytes: int = Field(default=40 * 1024 * 1024, gt=0)
    imap_timeout_seconds: float = Field(default=60.0, gt=0)
    # Mailboxes polled at once; each has its own connection and database session.
    imap_parallel_mailboxes: int = Field(default=4, gt=0, le=64)
    outbox_max_attempts: int = Field(default=8, gt=0)

    # Web chat (the widget): the largest frame a visitor may send, the longest message, the
    # files one message may carry (each within the attachment limits above) and messages a
    # visitor may send a minute.
    chat_max_frame_bytes: int = Field(default=64 * 1024, gt=0)
    chat_max_message_chars: int = Field(default=5000, gt=0)
    chat_max_files: int = Field(default=5, gt=0)
    chat_rate_limit_per_minute: int = Field(default=30, gt=0)

    @property
    def sqlalchemy_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.data_dir / 'zabota.db'}"

    @property
    def mail_dir(self) -> Path:
        return self.data_dir / "mail"

    @property
    def attachments_path(self) -> Path:
        return self.attachments_dir or self.data_dir / "attachments"

    def resolved_secret_key(self) -> str:
        """The configured secret, or one generated on first start and kept in data_dir."""
        if self.secret_key:
            return self.secret_key
        path = self.data_dir / "secret_key"
        if path.exists():
            return path.read_text().strip()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        key = secrets.token_urlsafe(48)
        path.touch(mode=0o600)
        path.write_text(key)
        return key


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
