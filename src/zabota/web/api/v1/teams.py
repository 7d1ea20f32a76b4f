from __future__ import annotations

from fastapi import APIRouter

from zabota.identity import service
from zabota.identity.schemas import TeamCreate, TeamOut, TeamUpdate
from zabota.web.deps import CurrentActor, SessionDep, SmallPathId

router = APIRouter(prefix="/teams", tags=["teams"])


@router.get("")
def list_teams(session: SessionDep, actor: CurrentActor) -> list[TeamOut]:
    return [TeamOut.model_validate(t) for t in service.list_teams(session, actor=actor)]


@router.post("", status_code=201)
def create_team(body: TeamCreate, session: SessionDep, actor: CurrentActor) -> TeamOut:
    team = service.create_team(session, actor=actor, name=body.name,
                               description=body.description,
                               email=str(body.email) if body.email else None,
                               escalation_team_id=body.escalation_team_id,
                               member_ids=body.member_ids)
    out = TeamOut.model_validate(team)
    session.commit()
    return out


@router.get("/{team_id}")
def get_team(team_id: SmallPathId, session: SessionDep, actor: CurrentActor) -> TeamOut:
    return TeamOut.model_validate(service.get_team_for(session, team_id, actor=actor))


@router.patch("/{team_id}")
def update_team(team_id: SmallPathId, body: TeamUpdate, session: SessionDep,
                actor: CurrentActor) -> TeamOut:
    team = service.update_team(session, team_id, actor=actor,
                               **body.model_dump(exclude_unset=True, mode="json"))
    out = TeamOut.model_validate(team)
    session.commit()
    return out
