from __future__ import annotations

from fastapi import APIRouter

from zabota.tickets import service
from zabota.tickets.schemas import FieldDefCreate, FieldDefOut, FieldDefUpdate
from zabota.web.deps import CurrentActor, SessionDep, SmallPathId

router = APIRouter(prefix="/custom-fields", tags=["custom fields"])


@router.get("")
def list_fields(session: SessionDep, _actor: CurrentActor) -> list[FieldDefOut]:
    return [FieldDefOut.model_validate(d) for d in service.list_field_defs(session)]


@router.post("", status_code=201)
def create_field(body: FieldDefCreate, session: SessionDep, actor: CurrentActor) -> FieldDefOut:
    row = service.create_field_def(session, actor=actor, key=body.key, label=body.label,
                                   type=body.type, label_en=body.label_en, options=body.options)
    out = FieldDefOut.model_validate(row)
    session.commit()
    return out


@router.patch("/{field_id}")
def update_field(field_id: SmallPathId, body: FieldDefUpdate, session: SessionDep,
                 actor: CurrentActor) -> FieldDefOut:
    """Labels, a list's options, on or off; the key and type stay."""
    row = service.update_field_def(session, field_id, actor=actor,
                                   **body.model_dump(exclude_unset=True))
    out = FieldDefOut.model_validate(row)
    session.commit()
    return out
