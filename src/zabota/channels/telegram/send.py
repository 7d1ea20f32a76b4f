"""Replies out through the Bot API (`sendMessage`, `sendPhoto`, `sendDocument`) and the
connection test (`getMe`)."""

from __future__ import annotations

import functools
from collections.abc import Callable

import httpx

from zabota.channels import hooks
from zabota.channels.models import ChannelAccount
from zabota.channels.outbound import Outgoing, OutgoingFile, PermanentFailure, register_sender
from zabota.channels.service import register_connection_test
from zabota.channels.telegram.client import BotApi, BotApiError
from zabota.core.i18n import _
from zabota.core.settings import Settings
from zabota.tickets.models import Channel

# Telegram allows 4096 characters per message (after entity parsing, counted in UTF-16); a
# margin keeps emoji and surrogate pairs on the safe side.
MAX_TEXT = 4000
_PHOTO_TYPES = frozenset({"image/jpeg", "image/png"})
_MAX_PHOTO_BYTES = 10 * 1024 * 1024  # sendPhoto's limit; larger images go as documents


@register_sender(Channel.TELEGRAM)
def send_reply(job: Outgoing, settings: Settings) -> str | None:
    """Text first (split if long), then each attachment. Returns the first message's id in
    the shape inbound replies refer to: `"{account_id}:{chat_id}:{message_id}"`."""
    account = hooks.usable_account(job, "Telegram")
    chat_id = job.recipient

    def our_id(result: object) -> str | None:
        message_id = _message_id(result)
        return None if message_id is None else f"{account.id}:{chat_id}:{message_id}"

    with hooks.http_client() as client:
        api = BotApi.for_account(account, client)

        def text(piece: str) -> str | None:
            return our_id(api.call("sendMessage", {"chat_id": chat_id, "text": piece}))

        def attachment(file: OutgoingFile) -> str | None:
            return our_id(_send_file(api, chat_id, file))

        parts: list[Callable[[], str | None]] = [
            functools.partial(text, piece) for piece in hooks.split_text(job.text, MAX_TEXT)]
        parts += [functools.partial(attachment, file) for file in job.files]
        try:
            return hooks.send_in_order(job, parts)
        except BotApiError as exc:
            raise classify(exc) from exc


def _send_file(api: BotApi, chat_id: str, file: OutgoingFile) -> object:
    try:
        size = file.path.stat().st_size
    except OSError as exc:
        raise PermanentFailure(_("The attachment “{name}” is missing from storage")
                               .format(name=file.filename)) from exc
    as_photo = file.content_type in _PHOTO_TYPES and size <= _MAX_PHOTO_BYTES
    method, field = ("sendPhoto", "photo") if as_photo else ("sendDocument", "document")
    with file.path.open("rb") as handle:
        return api.call(method, {"chat_id": chat_id},
                        files={field: (file.filename, handle, file.content_type)})


def _message_id(result: object) -> int | None:
    value = result.get("message_id") if isinstance(result, dict) else None
    return value if isinstance(value, int) else None


def classify(exc: BotApiError) -> Exception:
    """Which refusals are final: a blocked bot or an unknown chat will not change by waiting;
    a flood limit, a Telegram outage or a revoked token (an admin can fix it) might."""
    if exc.code == 429:
        return hooks.RetryAfter(str(exc), exc.retry_after or 1.0)
    if exc.code in (400, 403):
        return PermanentFailure(str(exc))
    return exc


@register_connection_test(Channel.TELEGRAM)
def check_connection(account: ChannelAccount) -> str:
    if not hooks.config_str(account, "token"):
        raise ValueError(_("Enter the bot token"))
    try:
        with hooks.http_client() as client:
            me = BotApi.for_account(account, client).call("getMe")
    except BotApiError as exc:
        raise ValueError(_("Telegram refused the token: {reason}").format(
            reason=exc.description or exc.code)) from exc
    except httpx.HTTPError as exc:
        raise ValueError(_("Telegram cannot be reached: {reason}").format(
            reason=str(exc) or type(exc).__name__)) from exc
    username = me.get("username") if isinstance(me, dict) else None
    return _("Connected to Telegram as @{username}").format(username=username or "?")
