"""What an admin fills in for each kind of channel account. The admin UI renders these fields
and validates them; adapters read the same keys from `ChannelAccount.config`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from zabota.core.errors import InvalidInput
from zabota.core.i18n import N_, _
from zabota.tickets.models import Channel

FieldKind = Literal["text", "int", "bool", "secret", "url", "textarea", "lines"]


@dataclass(frozen=True)
class ConfigField:
    key: str
    label: str  # N_ marked, translated when shown
    kind: FieldKind = "text"
    required: bool = False
    default: Any = None
    hint: str | None = None


_API_BASE = N_("Leave empty for the platform's own address; set it only for a proxy or a test "
               "server.")

CONFIG_FIELDS: dict[Channel, tuple[ConfigField, ...]] = {
    Channel.EMAIL: (
        ConfigField("imap_host", N_("IMAP server"),
                    hint=N_("Leave empty when mail reaches Zabota through the built-in SMTP "
                            "receiver (MX or relay).")),
        ConfigField("imap_port", N_("IMAP port"), "int", default=993),
        ConfigField("imap_ssl", N_("IMAP over TLS"), "bool", default=True),
        ConfigField("imap_username", N_("IMAP user name")),
        ConfigField("imap_password", N_("IMAP password"), "secret"),
        ConfigField("oauth2_token", N_("OAuth2 access token (XOAUTH2)"), "secret",
                    hint=N_("For Microsoft 365, Gmail and Yandex instead of a password.")),
        ConfigField("imap_starttls", N_("IMAP with STARTTLS (port 143)"), "bool", default=False),
        ConfigField("imap_folder", N_("Folder"), default="INBOX"),
        ConfigField("imap_mark", N_("Mark taken mail with"), default="\\Seen",
                    hint=N_("\\Seen, or a keyword such as $Zabota to leave mail unread for "
                            "people who read the same mailbox.")),
        ConfigField("smtp_host", N_("SMTP server for replies"),
                    hint=N_("Leave empty to send with the installation's mail settings.")),
        ConfigField("smtp_port", N_("SMTP port"), "int", default=587),
        ConfigField("smtp_starttls", N_("SMTP with STARTTLS"), "bool", default=True),
        ConfigField("smtp_ssl", N_("SMTP over TLS (port 465)"), "bool", default=False),
        ConfigField("smtp_username", N_("SMTP user name")),
        ConfigField("smtp_password", N_("SMTP password"), "secret"),
    ),
    Channel.TELEGRAM: (
        ConfigField("token", N_("Bot token"), "secret", required=True,
                    hint=N_("From @BotFather, like 123456:ABC-DEF…")),
        ConfigField("secret_token", N_("Webhook secret"), "secret",
                    hint=N_("Telegram sends it back in every webhook call; we refuse calls "
                            "without it.")),
        ConfigField("greeting_ru", N_("Greeting on /start in Russian"), "textarea"),
        ConfigField("greeting_en", N_("Greeting on /start in English"), "textarea"),
        ConfigField("api_base_url", N_("Bot API address"), "url", hint=_API_BASE),
    ),
    Channel.VK: (
        ConfigField("group_id", N_("Community id"), "int", required=True),
        ConfigField("access_token", N_("Community access token"), "secret", required=True),
        ConfigField("confirmation", N_("Confirmation string"), required=True,
                    hint=N_("Shown by VK in the Callback API settings of the community.")),
        ConfigField("secret", N_("Secret key"), "secret"),
        ConfigField("api_base_url", N_("VK API address"), "url", hint=_API_BASE),
    ),
    Channel.WHATSAPP: (
        ConfigField("phone_number_id", N_("Phone number id"), required=True),
        ConfigField("access_token", N_("Access token"), "secret", required=True),
        ConfigField("app_secret", N_("App secret"), "secret", required=True,
                    hint=N_("Checks the X-Hub-Signature-256 of every webhook call.")),
        ConfigField("verify_token", N_("Verify token"), "secret", required=True),
        ConfigField("api_base_url", N_("Graph API address"), "url", hint=_API_BASE),
    ),
    Channel.PHONE: (
        ConfigField("api_key", N_("Connector key"), "secret", required=True,
                    hint=N_("The PBX connector sends it in the X-Zabota-Key header.")),
    ),
    Channel.CHAT: (
        ConfigField("origins", N_("Sites allowed to embed the widget"), "lines",
                    hint=N_("One address per line, like https://shop.example. Empty: any "
                            "site. The widget key is the Address field above.")),
    ),
}
KINDS = tuple(CONFIG_FIELDS)
KIND_NAMES = {Channel.EMAIL: N_("E-mail"), Channel.TELEGRAM: "Telegram", Channel.VK: "VK",
              Channel.WHATSAPP: "WhatsApp", Channel.PHONE: N_("Phone"),
              Channel.CHAT: N_("Web chat")}


def parse_config(kind: Channel, form: dict[str, str], *,
                 current: dict[str, Any] | None = None) -> dict[str, Any]:
    """The config from a submitted form. A secret left empty keeps its stored value (the form
    never shows secrets); every problem is reported at once, next to its field."""
    current = current or {}
    config: dict[str, Any] = {}
    errors: list[dict[str, str]] = []
    for spec in CONFIG_FIELDS[kind]:
        raw = (form.get(spec.key) or "").strip()
        name = f"config.{spec.key}"
        if spec.kind == "bool":
            config[spec.key] = raw in ("true", "on", "1")
            continue
        if spec.kind == "secret" and not raw:
            raw = str(current.get(spec.key) or "")
        if not raw:
            if spec.required:
                errors.append({"field": name, "message": _("This field is required")})
            elif spec.default is not None and spec.kind != "secret":
                config[spec.key] = spec.default
            continue
        if spec.kind == "lines":
            config[spec.key] = [line.strip() for line in raw.splitlines() if line.strip()]
            continue
        if spec.kind == "int":
            try:
                config[spec.key] = int(raw)
            except ValueError:
                errors.append({"field": name, "message": _("Enter a whole number")})
            continue
        if spec.kind == "url" and not raw.startswith(("http://", "https://")):
            errors.append({"field": name,
                           "message": _("Enter an address starting with http:// or https://")})
            continue
        config[spec.key] = raw
    if errors:
        raise InvalidInput(errors=errors)
    # Keys the form does not show (a polling offset, older settings) are kept as they were.
    known = {spec.key for spec in CONFIG_FIELDS[kind]}
    return {**{k: v for k, v in current.items() if k not in known}, **config}
