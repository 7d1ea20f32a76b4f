"""Who in a team gets a ticket: skill-, language-, presence- and load-aware.

Eligible: an active team member who is online, holds a skill for the ticket's category in
its language (any category when the ticket has none; any language when it is unknown) and
has fewer active tickets (new or open) than their capacity. Automatic mode takes the least
loaded, ties to the longest idle (the oldest last assignment by triage). A negative or
escalated ticket first narrows the eligible to the highest skill level among them. Round
robin takes the next eligible after the team's last assignee. Manual only suggests.
Nobody eligible → the ticket stays in the team's queue and the reason says why.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from zabota.identity.models import Presence, Skill, Team, User, team_members
from zabota.routing.models import AgentRoutingState, AssignmentMode, TeamRouting
from zabota.tickets.models import Status, Ticket


@dataclass(frozen=True)
class Candidate:
    user_id: int
    name: str
    level: int
    load: int
    capacity: int
    last_assigned_at: datetime | None


@dataclass
class AssignmentChoice:
    """The outcome, with what the explanation needs."""

    mode: AssignmentMode
    agent: Candidate | None = None
    assign: bool = False  # False in manual mode or when nobody is eligible
    senior_only: bool = False
    considered: int = 0
    excluded: dict[str, int] = field(default_factory=dict)  # offline / no_skill / at_capacity
    team_row: bool = True  # the team has a routing row (a mode set by an admin)
    team_name: str | None = None

    def as_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"mode": self.mode.value, "assigned": self.assign,
                                "senior_only": self.senior_only, "considered": self.considered,
                                "excluded": self.excluded}
        if self.agent is not None:
            data["agent"] = {"id": self.agent.user_id, "name": self.agent.name,
                             "level": self.agent.level, "load": self.agent.load,
                             "capacity": self.agent.capacity}
        return data


def _level(skill: Any, language: Any) -> Any:
    """The agent's highest level among the skills that fit the ticket (NULL: none fits)."""
    fits = [Skill.user_id == User.id]
    if skill is not None:
        fits.append(Skill.category == skill)
    if language is not None:
        fits.append(Skill.language == language)
    return sa.select(sa.func.max(Skill.level)).where(*fits).scalar_subquery()


_LOAD = (sa.select(sa.func.count()).select_from(Ticket)
         .where(Ticket.assignee_id == User.id, Ticket.status.in_((Status.NEW, Status.OPEN)))
         .scalar_subquery())  # new and open tickets held: the agent's current load
_IDLE = (sa.select(AgentRoutingState.last_assigned_at)
         .where(AgentRoutingState.user_id == User.id).scalar_subquery())
_TEAM = (sa.select(Team.name, TeamRouting.team_id, TeamRouting.mode,
                   TeamRouting.last_assignee_id)
         .outerjoin(TeamRouting, TeamRouting.team_id == Team.id)
         .where(Team.id == sa.bindparam("team_id")))


@lru_cache(maxsize=4)
def _roster_statement(by_skill: bool, by_language: bool) -> Any:
    level = _level(sa.bindparam("skill") if by_skill else None,
                   sa.bindparam("language") if by_language else None)
    counted = sa.and_(User.presence == Presence.ONLINE, level.is_not(None))
    return (sa.select(User.id, User.name, User.capacity, User.presence, level,
                      sa.case((counted, _LOAD)), sa.case((counted, _IDLE)))
            .join(team_members, team_members.c.user_id == User.id)
            .where(team_members.c.team_id == sa.bindparam("team_id"), User.is_active.is_(True))
            .order_by(User.id))


def _roster(session: Session, team_id: int, skill: str | None,
            language: str | None) -> list[Any]:
    """The team's active members with presence, fitting skill level, load and last
    assignment, in one statement; load and idle time only for the online and skilled."""
    by_language = language not in (None, "unknown")
    statement = _roster_statement(skill is not None, by_language)
    return list(session.connection().execute(statement, {"team_id": team_id, "skill": skill,
                                            "language": language if by_language else None}))


def _idle_key(candidate: Candidate) -> tuple[int, float]:
    # Never assigned sorts first; then the oldest last assignment.
    at = candidate.last_assigned_at
    return (0, 0.0) if at is None else (1, at.timestamp())


def choose_agent(session: Session, team_id: int, *, skill: str | None, language: str | None,
                 prefer_senior: bool) -> AssignmentChoice:
    team = session.connection().execute(_TEAM, {"team_id": team_id}).first()
    routed = team if team is not None and team.team_id is not None else None
    mode_value = routed.mode if routed is not None else AssignmentMode.AUTOMATIC
    last_assignee = routed.last_assignee_id if routed is not None else None
    members = _roster(session, team_id, skill, language)
    choice = AssignmentChoice(mode=mode_value, considered=len(members), team_row=routed is not None,
                              team_name=team.name if team is not None else None)
    online = [m for m in members if m.presence == Presence.ONLINE]
    skilled = [m for m in online if m[4] is not None]
    eligible = [Candidate(m.id, m.name, m[4], m[5] or 0, m.capacity, m[6])
                for m in skilled if (m[5] or 0) < m.capacity]
    excluded = {"offline": len(members) - len(online), "no_skill": len(online) - len(skilled),
                "at_capacity": len(skilled) - len(eligible)}
    choice.excluded = {k: v for k, v in excluded.items() if v}
    if not eligible:
        return choice
    if prefer_senior:
        top = max(c.level for c in eligible)
        eligible = [c for c in eligible if c.level == top]
        choice.senior_only = True
    if mode_value == AssignmentMode.ROUND_ROBIN:
        after = last_assignee or 0
        choice.agent = next((c for c in eligible if c.user_id > after), eligible[0])
    else:
        choice.agent = min(eligible, key=lambda c: (c.load, _idle_key(c), c.user_id))
    choice.assign = mode_value != AssignmentMode.MANUAL
    return choice


_LAST_ASSIGNEE = (sa.update(TeamRouting).where(TeamRouting.team_id == sa.bindparam("team"))
                  .values(last_assignee_id=sa.bindparam("user")))


# The same statement on SQLite and PostgreSQL. Written as text: SQLAlchemy 2.0 cannot cache
# an `on_conflict_do_update` construct, so it would be compiled anew for every assignment.
_IDLE_UPSERT = sa.text(
    f"INSERT INTO {AgentRoutingState.__tablename__} (user_id, last_assigned_at)"
    " VALUES (:user, :at) ON CONFLICT (user_id)"
    " DO UPDATE SET last_assigned_at = excluded.last_assigned_at",
).bindparams(sa.bindparam("at", type_=AgentRoutingState.__table__.c.last_assigned_at.type))


def record_assignment(session: Session, team_id: int, user_id: int, *, at: datetime,
                      team_row: bool = True) -> None:
    """Remember the agent for round robin and for "longest idle". `team_row=False`: the
    team has no routing row (it assigns automatically), so there is no turn to remember."""
    if team_row:
        session.connection().execute(_LAST_ASSIGNEE, {"team": team_id, "user": user_id})
    session.connection().execute(_IDLE_UPSERT, {"user": user_id, "at": at})
