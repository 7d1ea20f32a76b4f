"""What can go wrong in a web chat, with a stable code for the widget and a translated title."""

from __future__ import annotations

from zabota.core.errors import Conflict, NotFound, ZabotaError
from zabota.core.i18n import N_


class UnknownVisitor(ZabotaError):
    status, code, title = 401, "unknown_visitor", N_(
        "We do not recognise this chat visitor; a new conversation was started")


class UnknownWidget(NotFound):
    code, title = "unknown_widget", N_(
        "This chat is not configured: check the data-zabota-team of the widget")


class OriginNotAllowed(ZabotaError):
    status, code, title = 403, "origin_not_allowed", N_(
        "The chat is not enabled for this website")


class NotAChat(NotFound):
    code, title = "not_a_chat", N_("This ticket is not a web chat")


class ChatTaken(Conflict):
    code, title = "chat_taken", N_("Another agent has already accepted this chat")


class UploadExpired(ZabotaError):
    status, code, title = 410, "upload_expired", N_(
        "The uploaded file has expired; attach it again")
