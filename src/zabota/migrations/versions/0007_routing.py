"""Routing: categories, rules, team assignment modes, the category model registry, triage
decisions and the agents' corrections.

Revision ID: 0007_routing
Revises: 0006_channels
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import zabota.core.db

revision = "0007_routing"
down_revision = "0006_channels"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
When = zabota.core.db.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "routing_categories",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=100), nullable=False),
        sa.Column("name_ru", sa.String(length=200), nullable=False),
        sa.Column("name_en", sa.String(length=200), nullable=False),
        sa.Column("parent_id", sa.Integer(), nullable=True),
        sa.Column("team_id", sa.Integer(), nullable=True),
        sa.Column("skill", sa.String(length=100), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("created_at", When, nullable=False),
        sa.ForeignKeyConstraint(["parent_id"], ["routing_categories.id"], ondelete="SET NULL",
                                name=op.f("fk_routing_categories_parent_id_routing_categories")),
        sa.ForeignKeyConstraint(["team_id"], ["teams.id"], ondelete="SET NULL",
                                name=op.f("fk_routing_categories_team_id_teams")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_routing_categories")),
        sa.UniqueConstraint("key", name=op.f("uq_routing_categories_key")),
    )
    op.create_table(
        "routing_rules",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("is_enabled", sa.Boolean(), nullable=False),
        sa.Column("conditions", sa.JSON(), nullable=False),
        sa.Column("actions", sa.JSON(), nullable=False),
        sa.Column("is_continue", sa.Boolean(), nullable=False),
        sa.Column("created_at", When, nullable=False),
        sa.Column("updated_at", When, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_routing_rules")),
    )
    op.create_index("ix_routing_rules_position", "routing_rules", ["position", "id"])
    op.create_table(
        "routing_teams",
        sa.Column("team_id", sa.Integer(), nullable=False),
        sa.Column("mode", sa.Enum("automatic", "round_robin", "manual", name="assignmentmode",
                                  native_enum=False, length=16), nullable=False),
        sa.Column("last_assignee_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["last_assignee_id"], ["users.id"], ondelete="SET NULL",
                                name=op.f("fk_routing_teams_last_assignee_id_users")),
        sa.ForeignKeyConstraint(["team_id"], ["teams.id"], ondelete="CASCADE",
                                name=op.f("fk_routing_teams_team_id_teams")),
        sa.PrimaryKeyConstraint("team_id", name=op.f("pk_routing_teams")),
    )
    op.create_table(
        "routing_agent_state",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("last_assigned_at", When, nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE",
                                name=op.f("fk_routing_agent_state_user_id_users")),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_routing_agent_state")),
    )
    op.create_table(
        "routing_models",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("version", sa.String(length=64), nullable=False),
        sa.Column("trained_at", When, nullable=False),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.Column("labels", sa.JSON(), nullable=False),
        sa.Column("metrics", sa.JSON(), nullable=False),
        sa.Column("chosen", sa.String(length=200), nullable=False),
        sa.Column("artefact_sha256", sa.String(length=64), nullable=False),
        sa.Column("artefact_path", sa.String(length=500), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("activated_at", When, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_routing_models")),
        sa.UniqueConstraint("version", name=op.f("uq_routing_models_version")),
    )
    op.create_table(
        "routing_triage",
        sa.Column("ticket_id", BigId, nullable=False),
        sa.Column("at", When, nullable=False),
        sa.Column("language", sa.String(length=8), nullable=False),
        sa.Column("language_confidence", sa.Float(), nullable=False),
        sa.Column("sentiment", sa.String(length=16), nullable=False),
        sa.Column("negative_score", sa.Float(), nullable=False),
        sa.Column("category", sa.String(length=100), nullable=True),
        sa.Column("category_source", sa.String(length=16), nullable=False),
        sa.Column("confidence", sa.Float(), nullable=True),
        sa.Column("model_version", sa.String(length=64), nullable=True),
        sa.Column("rule_ids", sa.JSON(), nullable=False),
        sa.Column("suggestions", sa.JSON(), nullable=False),
        sa.Column("needs_review", sa.Boolean(), nullable=False),
        sa.Column("team_id", sa.Integer(), nullable=True),
        sa.Column("priority", sa.String(length=16), nullable=False),
        sa.Column("assignee_id", sa.Integer(), nullable=True),
        sa.Column("explanation", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["ticket_id"], ["tickets.id"], ondelete="CASCADE",
                                name=op.f("fk_routing_triage_ticket_id_tickets")),
        sa.PrimaryKeyConstraint("ticket_id", name=op.f("pk_routing_triage")),
    )
    op.create_index("ix_routing_triage_review", "routing_triage", ["needs_review", "at"])
    op.create_table(
        "routing_corrections",
        sa.Column("id", BigId, nullable=False),
        sa.Column("event_id", sa.String(length=36), nullable=False),
        sa.Column("ticket_id", BigId, nullable=False),
        sa.Column("field", sa.String(length=16), nullable=False),
        sa.Column("predicted", sa.String(length=100), nullable=True),
        sa.Column("confirmed", sa.String(length=100), nullable=True),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("model_version", sa.String(length=64), nullable=True),
        sa.Column("by_user_id", sa.Integer(), nullable=True),
        sa.Column("at", When, nullable=False),
        sa.ForeignKeyConstraint(["by_user_id"], ["users.id"], ondelete="SET NULL",
                                name=op.f("fk_routing_corrections_by_user_id_users")),
        sa.ForeignKeyConstraint(["ticket_id"], ["tickets.id"], ondelete="CASCADE",
                                name=op.f("fk_routing_corrections_ticket_id_tickets")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_routing_corrections")),
        sa.UniqueConstraint("event_id", "field",
                            name=op.f("uq_routing_corrections_event_id_field")),
    )
    op.create_index("ix_routing_corrections_at", "routing_corrections", ["at"])
    op.create_index(op.f("ix_routing_corrections_ticket_id"), "routing_corrections",
                    ["ticket_id"])


def downgrade() -> None:
    for table in ("routing_corrections", "routing_triage", "routing_models",
                  "routing_agent_state", "routing_teams", "routing_rules", "routing_categories"):
        op.drop_table(table)
