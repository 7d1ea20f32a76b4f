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
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from zabota.core.db import keep
from zabota.identity import service as identity
from zabota.identity.models import Presence, User
from zabota.routing.models import AgentRoutingState, AssignmentMode, TeamRouting
from zabota.tickets import service as tickets


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

    def as_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"mode": self.mode.value, "assigned": self.assign,
                                "senior_only": self.senior_only, "considered": self.considered,
                                "excluded": self.excluded}
        if self.agent is not None:
            data["agent"] = {"id": self.agent.user_id, "name": self.agent.name,
                             "level": self.agent.level, "load": self.agent.load,
                             "capacity": self.agent.capacity}
        return data


def team_mode(session: Session, team_id: int) -> TeamRouting:
    row = session.get(TeamRouting, team_id)
    if row is None:
        return TeamRouting(team_id=team_id, mode=AssignmentMode.AUTOMATIC)
    return keep(session, row)  # record_assignment updates it in the same work


def _skill_level(user: User, skill: str | None, language: str | None) -> int | None:
    levels = [s.level for s in user.skills
              if (skill is None or s.category == skill)
              and (language in (None, "unknown") or s.language == language)]
    return max(levels) if levels else None


def _idle_since(session: Session, user_ids: list[int]) -> dict[int, datetime]:
    rows = session.execute(sa.select(AgentRoutingState.user_id, AgentRoutingState.last_assigned_at)
                           .where(AgentRoutingState.user_id.in_(user_ids)))
    return {int(uid): at for uid, at in rows}


def _idle_key(candidate: Candidate) -> tuple[int, float]:
    # Never assigned sorts first; then the oldest last assignment.
    at = candidate.last_assigned_at
    return (0, 0.0) if at is None else (1, at.timestamp())


def choose_agent(session: Session, team_id: int, *, skill: str | None, language: str | None,
                 prefer_senior: bool) -> AssignmentChoice:
    routing = team_mode(session, team_id)
    members = sorted((u for u in identity.get_team(session, team_id).members if u.is_active),
                     key=lambda u: u.id)
    choice = AssignmentChoice(mode=routing.mode, considered=len(members))
    excluded = {"offline": 0, "no_skill": 0, "at_capacity": 0}
    online = [u for u in members if u.presence == Presence.ONLINE]
    excluded["offline"] = len(members) - len(online)
    skilled = [(u, level) for u in online
               if (level := _skill_level(u, skill, language)) is not None]
    excluded["no_skill"] = len(online) - len(skilled)
    loads = tickets.active_ticket_counts(session, [u.id for u, _ in skilled])
    idle = _idle_since(session, [u.id for u, _ in skilled]) if skilled else {}
    eligible = [Candidate(u.id, u.name, level, loads.get(u.id, 0), u.capacity, idle.get(u.id))
                for u, level in skilled if loads.get(u.id, 0) < u.capacity]
    excluded["at_capacity"] = len(skilled) - len(eligible)
    choice.excluded = {k: v for k, v in excluded.items() if v}
    if not eligible:
        return choice
    if prefer_senior:
        top = max(c.level for c in eligible)
        eligible = [c for c in eligible if c.level == top]
        choice.senior_only = True
    if routing.mode == AssignmentMode.ROUND_ROBIN:
        after = routing.last_assignee_id or 0
        choice.agent = next((c for c in eligible if c.user_id > after), eligible[0])
    else:
        choice.agent = min(eligible, key=lambda c: (c.load, _idle_key(c), c.user_id))
    choice.assign = routing.mode != AssignmentMode.MANUAL
    return choice


def record_assignment(session: Session, team_id: int, user_id: int, *, at: datetime) -> None:
    """Remember the agent for round robin and for "longest idle"."""
    routing = session.get(TeamRouting, team_id)
    if routing is not None:
        routing.last_assignee_id = user_id
    state = session.get(AgentRoutingState, user_id)
    if state is None:
        session.add(AgentRoutingState(user_id=user_id, last_assigned_at=at))
    else:
        state.last_assigned_at = at
