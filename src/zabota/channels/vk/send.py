"""Replies out through `messages.send` (files uploaded to VK first) and the connection test
(`groups.getById`)."""

from __future__ import annotations

from typing import Any

import httpx

from zabota.channels import hooks
from zabota.channels.models import ChannelAccount
from zabota.channels.outbound import Outgoing, OutgoingFile, PermanentFailure, register_sender
from zabota.channels.service import register_connection_test
from zabota.channels.vk.client import VkApi, VkApiError
from zabota.core.i18n import _
from zabota.core.settings import Settings
from zabota.tickets.models import Channel

MAX_TEXT = 4000  # VK allows 4096 characters per message
_PHOTO_TYPES = frozenset({"image/jpeg", "image/png", "image/gif"})
# Refusals that waiting does not change: no permission to write to this person (901, 902),
# no access (7, 15), bad parameters (100), unknown user (113), blacklisted (900), too long
# (914), no access to the chat (917), disabled messages (945).
PERMANENT_ERRORS = frozenset({7, 15, 100, 113, 900, 901, 902, 914, 917, 945})
# Too many requests (6), flood control (9), VK's own failure (10): worth another try.
SLOW_DOWN_ERRORS = frozenset({6, 9})


def random_id(delivery_id: int, piece: int) -> int:
    """The same for every attempt of the same piece, so VK drops a resend (its idempotency
    key); VK takes a signed 32-bit number."""
    return (delivery_id * 16 + piece) & 0x7FFFFFFF


@register_sender(Channel.VK)
def send_reply(job: Outgoing, settings: Settings) -> str | None:
    account = hooks.usable_account(job, "VK")
    peer_id = job.recipient
    first: Any = None
    with hooks.http_client() as client:
        api = VkApi.for_account(account, client)
        try:
            attachments = [_upload(api, client, peer_id, file) for file in job.files]
            pieces = hooks.split_text(job.text, MAX_TEXT) or [""]
            for index, piece in enumerate(pieces):
                params: dict[str, Any] = {"peer_id": peer_id,
                                          "random_id": random_id(job.delivery_id, index),
                                          "message": piece}
                if index == 0 and attachments:
                    params["attachment"] = ",".join(attachments)
                sent = api.call("messages.send", params)
                first = first if first is not None else sent
        except VkApiError as exc:
            raise classify(exc) from exc
    return f"id:{first}" if isinstance(first, int) else None


def _upload(api: VkApi, client: httpx.Client, peer_id: str, file: OutgoingFile) -> str:
    """Upload one file for a message: photos to the photo album of messages, the rest as
    documents. Returns the `attachment` string messages.send wants."""
    try:
        data = file.path.read_bytes()
    except OSError as exc:
        raise PermanentFailure(_("The attachment “{name}” is missing from storage")
                               .format(name=file.filename)) from exc
    if file.content_type in _PHOTO_TYPES:
        server = api.call("photos.getMessagesUploadServer", {"peer_id": peer_id})
        uploaded = _post_file(client, server, "photo", file, data)
        saved = api.call("photos.saveMessagesPhoto", {
            "photo": uploaded.get("photo"), "server": uploaded.get("server"),
            "hash": uploaded.get("hash")})
        photo = saved[0] if isinstance(saved, list) and saved else {}
        key = f"_{photo['access_key']}" if photo.get("access_key") else ""
        return f"photo{photo.get('owner_id')}_{photo.get('id')}{key}"
    server = api.call("docs.getMessagesUploadServer", {"type": "doc", "peer_id": peer_id})
    uploaded = _post_file(client, server, "file", file, data)
    saved = api.call("docs.save", {"file": uploaded.get("file"), "title": file.filename})
    doc = saved.get("doc") if isinstance(saved, dict) else None
    if not isinstance(doc, dict):
        raise VkApiError("docs.save", 10, "no document in the answer")
    return f"doc{doc.get('owner_id')}_{doc.get('id')}"


def _post_file(client: httpx.Client, server: object, field: str, file: OutgoingFile,
               data: bytes) -> dict[str, Any]:
    url = server.get("upload_url") if isinstance(server, dict) else None
    if not isinstance(url, str):
        raise VkApiError("upload", 10, "no upload_url")
    response = client.post(url, files={field: (file.filename, data, file.content_type)})
    try:
        body = response.json()
    except ValueError:
        raise VkApiError("upload", 10, f"HTTP {response.status_code}") from None
    if not isinstance(body, dict) or body.get("error"):
        raise VkApiError("upload", 10, str(body.get("error") if isinstance(body, dict)
                                            else body))
    return body


def classify(exc: VkApiError) -> Exception:
    if exc.code in PERMANENT_ERRORS:
        return PermanentFailure(str(exc))
    if exc.code in SLOW_DOWN_ERRORS:
        return hooks.RetryAfter(str(exc), 1.0)
    return exc  # 10 and anything unknown: another try later


@register_connection_test(Channel.VK)
def check_connection(account: ChannelAccount) -> str:
    group_id = hooks.config_str(account, "group_id")
    if not group_id or not hooks.config_str(account, "access_token"):
        raise ValueError(_("Enter the community id and its access token"))
    try:
        with hooks.http_client() as client:
            found = VkApi.for_account(account, client).call("groups.getById",
                                                            {"group_id": group_id})
    except VkApiError as exc:
        raise ValueError(_("VK refused: {reason}").format(reason=str(exc))) from exc
    except httpx.HTTPError as exc:
        raise ValueError(_("VK cannot be reached: {reason}").format(
            reason=str(exc) or type(exc).__name__)) from exc
    # 5.194+ answers {"groups": […], "profiles": […]}; older versions a bare list.
    groups = found.get("groups") if isinstance(found, dict) else found
    group = groups[0] if isinstance(groups, list) and groups else {}
    name = group.get("name") if isinstance(group, dict) else None
    return _("Connected to the VK community “{name}”").format(name=name or group_id)
