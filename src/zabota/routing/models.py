"""Routing data: the category tree, ordered rules, per-team assignment modes, the category
model registry, what triage decided for each ticket, and the agents' corrections."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from zabota.core.db import Base, BigId


class AssignmentMode(enum.StrEnum):
    AUTOMATIC = "automatic"      # least loaded eligible agent
    ROUND_ROBIN = "round_robin"  # the next eligible agent after the last one given a ticket
    MANUAL = "manual"            # suggest an agent, leave the ticket in the team queue


def _enum(cls: type[enum.StrEnum]) -> sa.Enum:
    return sa.Enum(cls, native_enum=False, length=16, validate_strings=True,
                   values_callable=lambda members: [m.value for m in members])


class Category(Base):
    """A ticket category an admin defines. `key` is what `tickets.category` holds."""

    __tablename__ = "routing_categories"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(sa.String(100), unique=True)
    name_ru: Mapped[str] = mapped_column(sa.String(200))
    name_en: Mapped[str] = mapped_column(sa.String(200), default="")
    parent_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("routing_categories.id", ondelete="SET NULL"))
    team_id: Mapped[int | None] = mapped_column(sa.ForeignKey("teams.id", ondelete="SET NULL"))
    # The skill (Skill.category) an agent needs for it; empty: the category's own key.
    skill: Mapped[str] = mapped_column(sa.String(100), default="")
    is_active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime]

    def name(self, language: str) -> str:
        return self.name_en if language == "en" and self.name_en else self.name_ru

    @property
    def skill_key(self) -> str:
        return self.skill or self.key


class RoutingRule(Base):
    """One rule: conditions (all must hold) → actions. Lower position runs first."""

    __tablename__ = "routing_rules"
    __table_args__ = (sa.Index("ix_routing_rules_position", "position", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    position: Mapped[int] = mapped_column(default=0)
    name: Mapped[str] = mapped_column(sa.String(200))
    is_enabled: Mapped[bool] = mapped_column(default=True)
    conditions: Mapped[dict[str, Any]] = mapped_column(default=dict)
    actions: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # Keep looking at later rules after this one matched (they fill what it left unset).
    is_continue: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class TeamRouting(Base):
    """How a team hands out its tickets; a team without a row assigns automatically."""

    __tablename__ = "routing_teams"

    team_id: Mapped[int] = mapped_column(sa.ForeignKey("teams.id", ondelete="CASCADE"),
                                         primary_key=True)
    mode: Mapped[AssignmentMode] = mapped_column(_enum(AssignmentMode),
                                                 default=AssignmentMode.AUTOMATIC)
    last_assignee_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("users.id", ondelete="SET NULL"))


class AgentRoutingState(Base):
    """When triage last gave an agent a ticket: "longest idle" breaks ties in load."""

    __tablename__ = "routing_agent_state"

    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"),
                                         primary_key=True)
    last_assigned_at: Mapped[datetime]


class CategoryModel(Base):
    """One trained category model in the registry; at most one is active."""

    __tablename__ = "routing_models"

    id: Mapped[int] = mapped_column(primary_key=True)
    version: Mapped[str] = mapped_column(sa.String(64), unique=True)
    trained_at: Mapped[datetime]
    rows: Mapped[int]
    labels: Mapped[dict[str, Any]] = mapped_column(default=dict)  # category → training rows
    metrics: Mapped[dict[str, Any]] = mapped_column(default=dict)
    chosen: Mapped[str] = mapped_column(sa.String(200), default="")
    artefact_sha256: Mapped[str] = mapped_column(sa.String(64))
    artefact_path: Mapped[str] = mapped_column(sa.String(500))
    is_active: Mapped[bool] = mapped_column(default=False)
    activated_at: Mapped[datetime | None]


class TicketTriage(Base):
    """What triage decided for a ticket and why; one row per ticket (the job's idempotency
    key). The agent-facing history is in `ticket_events`; this row serves the triage view
    and routing accuracy."""

    __tablename__ = "routing_triage"
    __table_args__ = (sa.Index("ix_routing_triage_review", "needs_review", "at"),)

    ticket_id: Mapped[int] = mapped_column(
        BigId, sa.ForeignKey("tickets.id", ondelete="CASCADE"), primary_key=True)
    at: Mapped[datetime]
    language: Mapped[str] = mapped_column(sa.String(8))
    language_confidence: Mapped[float]
    sentiment: Mapped[str] = mapped_column(sa.String(16))
    negative_score: Mapped[float]
    category: Mapped[str | None] = mapped_column(sa.String(100))
    # "rule", "model", "given" (set when the ticket was created) or "none".
    category_source: Mapped[str] = mapped_column(sa.String(16))
    confidence: Mapped[float | None]
    model_version: Mapped[str | None] = mapped_column(sa.String(64))
    rule_ids: Mapped[list[int]] = mapped_column(sa.JSON, default=list)
    suggestions: Mapped[list[Any]] = mapped_column(sa.JSON, default=list)
    needs_review: Mapped[bool] = mapped_column(default=False)
    team_id: Mapped[int | None]
    priority: Mapped[str] = mapped_column(sa.String(16))
    assignee_id: Mapped[int | None]
    explanation: Mapped[dict[str, Any]] = mapped_column(default=dict)


class RoutingCorrection(Base):
    """An agent changed what triage decided: the category or the team."""

    __tablename__ = "routing_corrections"
    __table_args__ = (
        sa.Index("ix_routing_corrections_at", "at"),
        sa.UniqueConstraint("event_id", "field"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    # The outbox event that carried the change: a redelivered event records nothing twice.
    event_id: Mapped[str] = mapped_column(sa.String(36))
    ticket_id: Mapped[int] = mapped_column(
        BigId, sa.ForeignKey("tickets.id", ondelete="CASCADE"), index=True)
    field: Mapped[str] = mapped_column(sa.String(16))  # "category" | "team_id"
    predicted: Mapped[str | None] = mapped_column(sa.String(100))
    confirmed: Mapped[str | None] = mapped_column(sa.String(100))
    source: Mapped[str] = mapped_column(sa.String(16))  # what made the prediction
    model_version: Mapped[str | None] = mapped_column(sa.String(64))
    by_user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    at: Mapped[datetime]
