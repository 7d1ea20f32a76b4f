from __future__ import annotations

from fastapi import APIRouter

from zabota.core.errors import Forbidden
from zabota.core.i18n import _
from zabota.identity import service
from zabota.identity.schemas import UserCreate, UserOut, UserUpdate
from zabota.web.deps import CurrentActor, SessionDep, SmallPathId

router = APIRouter(prefix="/users", tags=["users"])


@router.get("")
def list_users(session: SessionDep, actor: CurrentActor) -> list[UserOut]:
    return [UserOut.model_validate(u) for u in service.list_users(session, actor=actor)]


@router.get("/me")
def me(session: SessionDep, actor: CurrentActor) -> UserOut:
    """The signed-in staff user (customers use /customers/{their id})."""
    if not actor.is_staff:  # a customer's id is no user's: say where to look instead
        raise Forbidden(_("This is the staff's own record; a customer reads "
                          "/api/v1/customers/{id}").format(id=actor.id))
    return UserOut.model_validate(service.get_user_for(session, actor.id, actor=actor))


@router.post("", status_code=201)
def create_user(body: UserCreate, session: SessionDep, actor: CurrentActor) -> UserOut:
    user = service.create_user(
        session, actor=actor, email=str(body.email), name=body.name, role=body.role,
        password=body.password, language=body.language, capacity=body.capacity,
        team_ids=body.team_ids, skills=[(s.category, s.language, s.level) for s in body.skills])
    out = UserOut.model_validate(user)
    session.commit()
    return out


@router.get("/{user_id}")
def get_user(user_id: SmallPathId, session: SessionDep, actor: CurrentActor) -> UserOut:
    return UserOut.model_validate(service.get_user_for(session, user_id, actor=actor))


@router.patch("/{user_id}")
def update_user(user_id: SmallPathId, body: UserUpdate, session: SessionDep,
                actor: CurrentActor) -> UserOut:
    changes = body.model_dump(exclude_unset=True)
    user = service.update_user(session, user_id, actor=actor, **changes)
    out = UserOut.model_validate(user)
    session.commit()
    return out
