"""Long polling, for installations Telegram cannot reach by webhook (no public HTTPS address),
and the webhook set-up helper.

Polling runs as `zabota channels poll-telegram`, a process of its own rather than a Huey
periodic task: a `getUpdates` call holds its connection open for up to `timeout` seconds, which
would keep a job worker busy (the embedded consumer has one) and add up to a minute of delay
between periodic runs. The offset lives in the account's config (`polling_offset`) and moves
past an update in the same transaction that stores it, so a crash re-reads, never skips.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass

import structlog

from zabota.channels import hooks
from zabota.channels.models import ChannelAccount
from zabota.channels.telegram.client import BotApi
from zabota.channels.telegram.intake import ALLOWED_UPDATES, handle_update
from zabota.core.clock import SYSTEM_CLOCK, Clock
from zabota.core.db import Database
from zabota.core.settings import Settings
from zabota.tickets.models import Channel

log = structlog.get_logger()


@dataclass(frozen=True)
class PollResult:
    handled: int
    # An update failed for a passing reason and will come again: wait before the next call.
    must_wait: bool = False


def _load(database: Database, account_id: int) -> ChannelAccount:
    with database.read_sessions() as session:
        account = hooks.account_of(session, Channel.TELEGRAM, account_id)
        hooks.require_enabled(account)
        session.expunge(account)
    return account


def poll_once(database: Database, account_id: int, *, settings: Settings, timeout: int = 25,
              clock: Clock = SYSTEM_CLOCK) -> PollResult:
    """One `getUpdates` call and its updates, each stored in a transaction of its own."""
    account = _load(database, account_id)
    offset = account.config.get("polling_offset")
    params: dict[str, object] = {"timeout": timeout, "allowed_updates": list(ALLOWED_UPDATES)}
    if isinstance(offset, int):
        params["offset"] = offset
    with hooks.http_client() as client:
        updates = BotApi.for_account(account, client).call("getUpdates", params,
                                                           timeout=timeout + 10)
    handled = 0
    for raw in updates if isinstance(updates, list) else ():
        payload = json.dumps(raw, ensure_ascii=False).encode()
        update_id = raw.get("update_id") if isinstance(raw, dict) else None
        with database.session_scope() as session:
            current = hooks.account_of(session, Channel.TELEGRAM, account_id)
            if isinstance(raw, dict):
                outcome = handle_update(session, current, raw, payload, settings=settings,
                                        clock=clock)
            else:
                outcome = hooks.reject_malformed(session, current, payload,
                                                 hooks.MalformedPayload(), clock=clock)
            if outcome.result == hooks.Result.RETRY:
                return PollResult(handled, must_wait=True)
            if isinstance(update_id, int):
                current.config = {**current.config, "polling_offset": update_id + 1}
        handled += 1
    return PollResult(handled)


def set_webhook(database: Database, account_id: int, url: str) -> str:
    """Point the bot at our webhook, with a secret token (made and saved if the account has
    none). Returns the webhook URL."""
    with database.session_scope() as session:
        account = hooks.account_of(session, Channel.TELEGRAM, account_id)
        secret = hooks.config_str(account, "secret_token")
        if not secret:
            # Telegram allows 1–256 characters of A-Z, a-z, 0-9, _ and -.
            secret = secrets.token_urlsafe(32)
            account.config = {**account.config, "secret_token": secret}
        session.flush()
        session.expunge(account)
    with hooks.http_client() as client:
        BotApi.for_account(account, client).call("setWebhook", {
            "url": url, "secret_token": secret, "allowed_updates": list(ALLOWED_UPDATES)})
    log.info("telegram.webhook_set", account_id=account_id)
    return url


def delete_webhook(database: Database, account_id: int) -> None:
    """Switch the bot to polling (Telegram refuses getUpdates while a webhook is set)."""
    account = _load(database, account_id)
    with hooks.http_client() as client:
        BotApi.for_account(account, client).call("deleteWebhook",
                                                 {"drop_pending_updates": False})
