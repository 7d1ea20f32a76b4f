"""Replies out through `POST /{phone-number-id}/messages` (files uploaded to `/media` first) and
the connection test (`GET /{phone-number-id}`)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import httpx

from zabota.channels import hooks
from zabota.channels.models import ChannelAccount
from zabota.channels.outbound import Outgoing, OutgoingFile, PermanentFailure, register_sender
from zabota.channels.service import register_connection_test
from zabota.channels.whatsapp.client import GraphApi, GraphError
from zabota.core.i18n import _
from zabota.core.settings import Settings
from zabota.tickets.models import Channel

MAX_TEXT = 4000  # a text message body holds 4096 characters
_IMAGE_TYPES = frozenset({"image/jpeg", "image/png"})
_MAX_IMAGE_BYTES = 5 * 1024 * 1024
# Worth another try: throttling (4, 80007, 130429, 131056), Meta's own trouble (1, 2, 131000,
# 133004) and an expired token (190: an admin can renew it). Other 4xx answers are final:
# outside the 24-hour window (131047), not a WhatsApp user (131026), bad parameters (100).
RETRY_CODES = frozenset({1, 2, 4, 190, 80007, 130429, 131000, 131056, 133004})
_SLOW_DOWN = frozenset({4, 80007, 130429, 131056})


def _digits(number: str) -> str:
    return "".join(ch for ch in number if ch.isdigit())


@register_sender(Channel.WHATSAPP)
def send_reply(job: Outgoing, settings: Settings) -> str | None:
    account = hooks.usable_account(job, "WhatsApp")
    number_id = hooks.config_str(account, "phone_number_id")
    if not number_id:
        raise PermanentFailure(_("Enter the phone number id of the WhatsApp account"))
    to = _digits(job.recipient)
    with hooks.http_client() as client:
        api = GraphApi.for_account(account, client)
        parts: list[Callable[[], str | None]] = [
            functools.partial(_send, api, number_id, to, "text",
                              {"preview_url": False, "body": piece})
            for piece in hooks.split_text(job.text, MAX_TEXT)]
        parts += [functools.partial(_send_file, api, number_id, to, file) for file in job.files]
        try:
            return hooks.send_in_order(job, parts)
        except GraphError as exc:
            raise classify(exc) from exc


def _send_file(api: GraphApi, number_id: str, to: str, file: OutgoingFile) -> str | None:
    media_id = _upload(api, number_id, file)
    if file.content_type in _IMAGE_TYPES and file.path.stat().st_size <= _MAX_IMAGE_BYTES:
        return _send(api, number_id, to, "image", {"id": media_id})
    return _send(api, number_id, to, "document", {"id": media_id, "filename": file.filename})


def _send(api: GraphApi, number_id: str, to: str, kind: str, body: dict[str, Any]) -> str | None:
    answer = api.request("POST", f"{number_id}/messages", json={
        "messaging_product": "whatsapp", "recipient_type": "individual", "to": to,
        "type": kind, kind: body})
    messages = answer.get("messages")
    first = messages[0] if isinstance(messages, list) and messages else {}
    wamid = first.get("id") if isinstance(first, dict) else None
    return wamid if isinstance(wamid, str) else None


def _upload(api: GraphApi, number_id: str, file: OutgoingFile) -> str:
    try:
        data = file.path.read_bytes()
    except OSError as exc:
        raise PermanentFailure(_("The attachment “{name}” is missing from storage")
                               .format(name=file.filename)) from exc
    answer = api.request("POST", f"{number_id}/media",
                         data={"messaging_product": "whatsapp", "type": file.content_type},
                         files={"file": (file.filename, data, file.content_type)})
    media_id = answer.get("id")
    if not isinstance(media_id, str):
        raise GraphError("media", 200, None, "no media id in the answer")
    return media_id


def classify(exc: GraphError) -> Exception:
    if exc.status == 429 or exc.code in _SLOW_DOWN:
        return hooks.RetryAfter(str(exc), 60.0)
    if exc.status >= 500 or exc.code in RETRY_CODES or exc.status == 401:
        return exc
    return PermanentFailure(str(exc))


@register_connection_test(Channel.WHATSAPP)
def check_connection(account: ChannelAccount) -> str:
    number_id = hooks.config_str(account, "phone_number_id")
    if not number_id or not hooks.config_str(account, "access_token"):
        raise ValueError(_("Enter the phone number id and the access token"))
    try:
        with hooks.http_client() as client:
            found = GraphApi.for_account(account, client).request(
                "GET", number_id, params={"fields": "display_phone_number,verified_name"})
    except GraphError as exc:
        raise ValueError(_("WhatsApp refused: {reason}").format(
            reason=exc.message or exc.status)) from exc
    except httpx.HTTPError as exc:
        raise ValueError(_("WhatsApp cannot be reached: {reason}").format(
            reason=str(exc) or type(exc).__name__)) from exc
    return _("Connected to WhatsApp number {number} ({name})").format(
        number=found.get("display_phone_number") or number_id,
        name=found.get("verified_name") or "?")
