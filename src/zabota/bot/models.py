"""The answer bot's log: every turn it took in a conversation, with its decision, the
confidence and the article it used, so supervisors can review and improve it."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from zabota.core.db import Base, BigId


class Decision(enum.StrEnum):
    ANSWERED = "answered"  # showed an article and asked "did this help?"
    RESOLVED = "resolved"  # the customer said it helped: no agent needed
    HANDED_OFF = "handed_off"  # the conversation waits for a person
    GREETED = "greeted"  # a greeting without a question: asked what the customer needs
    FLOW_STEP = "flow_step"  # a step of a guided flow (asked, looked up, answered)


class BotTurn(Base):
    __tablename__ = "bot_turns"
    __table_args__ = (sa.Index("ix_bot_turns_ticket", "ticket_id", "id"),
                      sa.Index("ix_bot_turns_at", "at"))

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(BigId, sa.ForeignKey("tickets.id"))
    channel: Mapped[str] = mapped_column(sa.String(16))
    message_id: Mapped[int | None] = mapped_column(BigId, sa.ForeignKey("messages.id"))
    reply_message_id: Mapped[int | None] = mapped_column(BigId, sa.ForeignKey("messages.id"))
    decision: Mapped[str] = mapped_column(sa.String(16))
    reason: Mapped[str | None] = mapped_column(sa.String(32))
    language: Mapped[str] = mapped_column(sa.String(8))
    confidence: Mapped[float] = mapped_column(default=0.0)
    article_id: Mapped[int | None] = mapped_column(
        BigId, sa.ForeignKey("kb_articles.id", ondelete="SET NULL"))
    faq_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("bot_faqs.id", ondelete="SET NULL"))  # the FAQ pair it answered with
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)  # candidates, sentiment, model
    at: Mapped[datetime]


class BotFlow(Base):
    """One version of a guided flow; saving a flow adds a version and retires the last."""

    __tablename__ = "bot_flows"
    __table_args__ = (sa.UniqueConstraint("name", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(40))
    version: Mapped[int]
    definition: Mapped[dict[str, Any]]
    is_active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime]


class BotFaq(Base):
    """An admin's question-and-answer pair the bot answers from, before the articles when it
    matches well: the question, other ways customers ask it, the answer, and optionally the
    article that says more."""

    __tablename__ = "bot_faqs"
    __table_args__ = (sa.Index("ix_bot_faqs_language", "language", "is_active"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    language: Mapped[str] = mapped_column(sa.String(8))
    question: Mapped[str] = mapped_column(sa.String(300))
    alternatives: Mapped[list[str]] = mapped_column(sa.JSON, default=list)
    answer: Mapped[str] = mapped_column(sa.Text)
    article_id: Mapped[int | None] = mapped_column(
        BigId, sa.ForeignKey("kb_articles.id", ondelete="SET NULL"))
    is_active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    @property
    def phrasings(self) -> list[str]:
        return [self.question, *self.alternatives]
