from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, UploadFile
from fastapi.params import File
from fastapi.responses import FileResponse

from zabota.tickets import attachments
from zabota.tickets.schemas import AttachmentOut
from zabota.web.deps import CurrentActor, PathId, SessionDep, SettingsDep

router = APIRouter(prefix="/attachments", tags=["attachments"])


@router.post("", status_code=201)
def upload(file: Annotated[UploadFile, File()], session: SessionDep, actor: CurrentActor,
                 settings: SettingsDep) -> AttachmentOut:
    """Upload a file; pass its id in `attachment_ids` of a message to attach it."""
    data = file.file.read(settings.max_attachment_bytes + 1)
    row = attachments.store_attachment(session, actor=actor, filename=file.filename or "file",
                                       content_type=file.content_type, data=data,
                                       settings=settings)
    out = AttachmentOut.model_validate(row)
    session.commit()
    return out


@router.get("/{attachment_id}")
def download(attachment_id: PathId, session: SessionDep, actor: CurrentActor,
             settings: SettingsDep) -> FileResponse:
    row, path = attachments.get_attachment_for(session, actor, attachment_id, settings)
    # Always a download, never rendered inline: an uploaded HTML or SVG must not run here.
    return FileResponse(path, media_type=row.content_type, filename=row.filename,
                        content_disposition_type="attachment",
                        headers={"X-Content-Type-Options": "nosniff"})
