"""Domain events of the knowledge base; they go to the outbox with the change."""

from __future__ import annotations

from dataclasses import dataclass

from zabota.core.outbox import DomainEvent


@dataclass(frozen=True, kw_only=True)
class ArticlePublished(DomainEvent):
    topic = "kb.article_published"
    article_id: int
    language: str
    actor_id: int | None


@dataclass(frozen=True, kw_only=True)
class ArticleUnpublished(DomainEvent):
    topic = "kb.article_unpublished"
    article_id: int
    language: str
    actor_id: int | None
