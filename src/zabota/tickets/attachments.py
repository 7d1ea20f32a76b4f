"""Attachments on disk: uploaded first, then claimed by the message that carries them."""

from __future__ import annotations

import hashlib
import mimetypes
import re
import uuid
from collections.abc import Sequence
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.orm import Session

from zabota.core.clock import SYSTEM_CLOCK, Clock
from zabota.core.errors import field_error
from zabota.core.i18n import _
from zabota.core.settings import Settings
from zabota.identity.permissions import Actor
from zabota.tickets import errors
from zabota.tickets.models import Attachment, Message, Ticket

_UNSAFE = re.compile(r"[\x00-\x1f/\\:*?\"<>|]+")
# Bidirectional controls let "‮exe.txt" read as "txt.exe": a name shows what it is.
_BIDI = re.compile("[\u200e\u200f\u202a-\u202e\u2066-\u2069]")

# Programs and scripts are refused whatever type the sender declares: a help desk passes
# files between strangers and staff, who open them.
_PROGRAM_EXTENSIONS = frozenset({
    "exe", "com", "scr", "pif", "bat", "cmd", "msi", "msp", "cpl", "dll", "sys", "vbs",
    "vbe", "js", "jse", "wsf", "wsh", "hta", "ps1", "psm1", "jar", "apk", "app", "dmg",
    "sh", "run", "bin", "elf", "lnk", "reg", "iso"})
_PROGRAM_MAGIC = (b"MZ", b"\x7fELF", b"\xcf\xfa\xed\xfe", b"\xce\xfa\xed\xfe",
                  b"\xfe\xed\xfa\xce", b"\xfe\xed\xfa\xcf", b"#!")
# A declared image or PDF must be one: browsers and viewers trust the type.
_SIGNATURES: dict[str, tuple[bytes, ...]] = {
    "image/png": (b"\x89PNG",), "image/jpeg": (b"\xff\xd8",),
    "image/gif": (b"GIF87a", b"GIF89a"), "application/pdf": (b"%PDF",)}


def safe_filename(name: str) -> str:
    cleaned = _UNSAFE.sub("_", Path(_BIDI.sub("", name).replace("\\", "/")).name).strip(". ")
    return cleaned[:200] or "file"


def _content_problem(name: str, kind: str, data: bytes) -> str | None:
    """Why the bytes may not be kept under this name and type, if they may not."""
    extension = name.rpartition(".")[2].lower() if "." in name else ""
    if extension in _PROGRAM_EXTENSIONS or data.startswith(_PROGRAM_MAGIC):
        return _("Programs and scripts are not accepted")
    if kind == "image/webp" and not (data[:4] == b"RIFF" and data[8:12] == b"WEBP"):
        return _("The file is not what its type ({type}) says").format(type=kind)
    signatures = _SIGNATURES.get(kind)
    if signatures and not any(data.startswith(sig) for sig in signatures) and not (
            kind == "application/pdf" and b"%PDF" in data[:1024]):
        return _("The file is not what its type ({type}) says").format(type=kind)
    return None


def store_attachment(
    session: Session, *, actor: Actor, filename: str, content_type: str | None, data: bytes,
    settings: Settings, clock: Clock = SYSTEM_CLOCK,
) -> Attachment:
    """Keep an uploaded file within the size and type limits; it is unlinked until claimed."""
    if not data:
        message = _("The file is empty")
        raise errors.AttachmentRejected(message, errors=[{"field": "file", "message": message}])
    if len(data) > settings.max_attachment_bytes:
        message = _("The file is larger than {limit} MB").format(
            limit=settings.max_attachment_bytes // (1024 * 1024))
        raise errors.AttachmentRejected(message, errors=[{"field": "file", "message": message}])
    name = safe_filename(filename)
    kind = (content_type or "").split(";")[0].strip().lower() or (
        mimetypes.guess_type(name)[0] or "application/octet-stream")
    if kind not in settings.allowed_attachment_types:
        message = _("Files of type {type} are not accepted").format(type=kind)
        raise errors.AttachmentRejected(message, errors=[{"field": "file", "message": message}])
    problem = _content_problem(name, kind, data)
    if problem is not None:
        raise errors.AttachmentRejected(problem, errors=[{"field": "file", "message": problem}])
    digest = hashlib.sha256(data).hexdigest()
    key = f"{digest[:2]}/{digest[2:4]}/{uuid.uuid4().hex}"
    path = settings.attachments_path / key
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    row = Attachment(filename=name, content_type=kind, size=len(data), sha256=digest,
                     storage_key=key, uploaded_by_kind=actor.kind, uploaded_by_id=actor.id,
                     created_at=clock.now())
    session.add(row)
    session.flush()
    return row


def claim_attachments(session: Session, message: Message, attachment_ids: Sequence[int], *,
                      uploader: Actor) -> None:
    for attachment_id in attachment_ids:
        row = session.get(Attachment, attachment_id)
        owned = row is not None and row.uploaded_by_kind == uploader.kind and (
            row.uploaded_by_id == uploader.id)
        if row is None or not owned or row.message_id is not None:
            raise field_error("attachment_ids", _("Attachment {id} is not yours to attach or "
                                                  "is already attached").format(id=attachment_id))
        row.message_id = message.id
    if attachment_ids:
        session.flush()
        session.expire(message, ["attachments"])


def get_attachment_for(session: Session, actor: Actor, attachment_id: int,
                       settings: Settings) -> tuple[Attachment, Path]:
    """An attachment is visible with its ticket (never on an internal note for customers)."""
    from zabota.identity.permissions import Permission
    from zabota.tickets.service import visible_tickets

    row = session.get(Attachment, attachment_id)
    if row is None:
        raise errors.AttachmentNotFound()
    if row.message_id is None:
        if not (row.uploaded_by_kind == actor.kind and row.uploaded_by_id == actor.id):
            raise errors.AttachmentNotFound()
    else:
        query = (sa.select(Message.is_internal).join(Ticket, Ticket.id == Message.ticket_id)
                 .where(Message.id == row.message_id, visible_tickets(actor)))
        is_internal = session.scalar(query)
        if is_internal is None or (is_internal and not actor.can(Permission.WORK_TICKETS)):
            raise errors.AttachmentNotFound()
    return row, settings.attachments_path / row.storage_key
