"""Knowledge base: categories, articles and their versions, ratings, what people searched and
read (for gap analysis and deflection), synonyms, and canned responses for agents."""

from __future__ import annotations

import enum
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from zabota.core.db import Base, BigId


class Visibility(enum.StrEnum):
    PUBLIC = "public"  # the help centre, the bot, customers
    INTERNAL = "internal"  # staff only


class ArticleStatus(enum.StrEnum):
    DRAFT = "draft"
    REVIEW = "review"
    PUBLISHED = "published"


class BodyFormat(enum.StrEnum):
    MARKDOWN = "markdown"
    HTML = "html"


class Tone(enum.StrEnum):
    FORMAL = "formal"
    FRIENDLY = "friendly"


def _enum(cls: type[enum.StrEnum]) -> sa.Enum:
    return sa.Enum(cls, native_enum=False, length=16, validate_strings=True,
                   values_callable=lambda members: [m.value for m in members])


class KbCategory(Base):
    """A node of the category tree (any depth). The slug is shared by both languages."""

    __tablename__ = "kb_categories"
    __table_args__ = (sa.Index("ix_kb_categories_parent", "parent_id", "position", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    parent_id: Mapped[int | None] = mapped_column(sa.ForeignKey("kb_categories.id"))
    slug: Mapped[str] = mapped_column(sa.String(100), unique=True)
    name_ru: Mapped[str] = mapped_column(sa.String(200))
    name_en: Mapped[str] = mapped_column(sa.String(200), default="")
    description_ru: Mapped[str] = mapped_column(sa.String(500), default="")
    description_en: Mapped[str] = mapped_column(sa.String(500), default="")
    position: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    def name(self, language: str) -> str:
        return self.name_en if language == "en" and self.name_en else self.name_ru

    def description(self, language: str) -> str:
        return self.description_en if language == "en" else self.description_ru


class Article(Base):
    """One article in one language; its translations share `translation_group`."""

    __tablename__ = "kb_articles"
    __table_args__ = (
        sa.UniqueConstraint("language", "slug"),
        sa.UniqueConstraint("translation_group", "language"),
        sa.Index("ix_kb_articles_category", "category_id", "status", "position", "id"),
        sa.Index("ix_kb_articles_language_status", "language", "status", "visibility"),
        sa.Index("ix_kb_articles_updated", "updated_at", "id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    translation_group: Mapped[str] = mapped_column(sa.String(32))
    # A draft may wait for its place in the tree; publishing needs one.
    category_id: Mapped[int | None] = mapped_column(sa.ForeignKey("kb_categories.id"))
    language: Mapped[str] = mapped_column(sa.String(2))
    slug: Mapped[str] = mapped_column(sa.String(160))
    title: Mapped[str] = mapped_column(sa.String(300))
    # What the author wrote (Markdown or HTML) and what we show: sanitised HTML and its text.
    body_source: Mapped[str] = mapped_column(sa.Text)
    body_format: Mapped[BodyFormat] = mapped_column(_enum(BodyFormat))
    body_html: Mapped[str] = mapped_column(sa.Text)
    body_text: Mapped[str] = mapped_column(sa.Text)
    tags: Mapped[list[str]] = mapped_column(sa.JSON, default=list)
    visibility: Mapped[Visibility] = mapped_column(_enum(Visibility))
    status: Mapped[ArticleStatus] = mapped_column(_enum(ArticleStatus))
    position: Mapped[int] = mapped_column(default=0)
    author_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    version: Mapped[int] = mapped_column(default=1)  # the number of the latest version
    views: Mapped[int] = mapped_column(default=0)
    helpful_yes: Mapped[int] = mapped_column(default=0)
    helpful_no: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    published_at: Mapped[datetime | None]

    @property
    def is_public(self) -> bool:
        return (self.status == ArticleStatus.PUBLISHED
                and self.visibility == Visibility.PUBLIC)


class ArticleVersion(Base):
    """Every save of an article, kept whole: diffs are computed when asked for."""

    __tablename__ = "kb_article_versions"
    __table_args__ = (sa.UniqueConstraint("article_id", "number"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    article_id: Mapped[int] = mapped_column(
        BigId, sa.ForeignKey("kb_articles.id", ondelete="CASCADE"))
    number: Mapped[int]
    title: Mapped[str] = mapped_column(sa.String(300))
    body_source: Mapped[str] = mapped_column(sa.Text)
    body_format: Mapped[BodyFormat] = mapped_column(_enum(BodyFormat))
    tags: Mapped[list[str]] = mapped_column(sa.JSON, default=list)
    author_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    note: Mapped[str] = mapped_column(sa.String(200), default="")  # the editor's "what changed"
    restored_from: Mapped[int | None]  # the version this one brought back
    created_at: Mapped[datetime]


class ArticleFeedback(Base):
    """"Was this helpful?" — one vote per visitor and article; a second vote replaces it."""

    __tablename__ = "kb_feedback"
    __table_args__ = (sa.Index("ix_kb_feedback_article", "article_id", "created_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    article_id: Mapped[int] = mapped_column(
        BigId, sa.ForeignKey("kb_articles.id", ondelete="CASCADE"))
    is_helpful: Mapped[bool]
    comment: Mapped[str] = mapped_column(sa.Text, default="")
    visitor_id: Mapped[str | None] = mapped_column(sa.String(64))
    customer_id: Mapped[int | None] = mapped_column(sa.ForeignKey("customers.id"))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class ArticleView(Base):
    """A customer or visitor read an article. `ticket_id` is set when the same person opened
    a ticket within 24 hours; a view without one, older than a day, counts as a deflection."""

    __tablename__ = "kb_article_views"
    __table_args__ = (
        sa.Index("ix_kb_article_views_article", "article_id", "at"),
        sa.Index("ix_kb_article_views_visitor", "visitor_id", "at"),
        sa.Index("ix_kb_article_views_customer", "customer_id", "at"),
        sa.Index("ix_kb_article_views_at", "at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    article_id: Mapped[int] = mapped_column(
        BigId, sa.ForeignKey("kb_articles.id", ondelete="CASCADE"))
    visitor_id: Mapped[str | None] = mapped_column(sa.String(64))
    customer_id: Mapped[int | None] = mapped_column(sa.ForeignKey("customers.id"))
    source: Mapped[str] = mapped_column(sa.String(16))
    at: Mapped[datetime]
    ticket_id: Mapped[int | None] = mapped_column(BigId)
    ticket_at: Mapped[datetime | None]


class Deflection(Base):
    """"This solved my problem": a request that was not sent because an article answered it."""

    __tablename__ = "kb_deflections"
    __table_args__ = (sa.Index("ix_kb_deflections_at", "at"),
                      sa.Index("ix_kb_deflections_article", "article_id", "at"))

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    article_id: Mapped[int | None] = mapped_column(
        BigId, sa.ForeignKey("kb_articles.id", ondelete="SET NULL"))
    query: Mapped[str] = mapped_column(sa.String(500), default="")
    source: Mapped[str] = mapped_column(sa.String(16))
    visitor_id: Mapped[str | None] = mapped_column(sa.String(64))
    customer_id: Mapped[int | None] = mapped_column(sa.ForeignKey("customers.id"))
    at: Mapped[datetime]


class SearchLog(Base):
    """One search: the query, how many results, which one was opened, whether a ticket
    from the same visitor or customer followed within 24 hours."""

    __tablename__ = "kb_search_log"
    __table_args__ = (
        sa.Index("ix_kb_search_log_at", "at"),
        sa.Index("ix_kb_search_log_normalized", "normalized", "at"),
        sa.Index("ix_kb_search_log_visitor", "visitor_id", "at"),
        sa.Index("ix_kb_search_log_customer", "customer_id", "at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    query: Mapped[str] = mapped_column(sa.String(500))
    # The query's normalised terms, so "возврат товара" and "возврата товаров" group together.
    normalized: Mapped[str] = mapped_column(sa.String(500))
    language: Mapped[str] = mapped_column(sa.String(2))
    source: Mapped[str] = mapped_column(sa.String(16))
    results: Mapped[int]
    top_score: Mapped[float] = mapped_column(default=0.0)
    clicked_article_id: Mapped[int | None] = mapped_column(
        BigId, sa.ForeignKey("kb_articles.id", ondelete="SET NULL"))
    visitor_id: Mapped[str | None] = mapped_column(sa.String(64))
    customer_id: Mapped[int | None] = mapped_column(sa.ForeignKey("customers.id"))
    user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    ticket_id: Mapped[int | None] = mapped_column(BigId)
    ticket_at: Mapped[datetime | None]
    at: Mapped[datetime]


class SynonymGroup(Base):
    """Phrases that mean the same to our customers ("возврат" ~ "вернуть деньги")."""

    __tablename__ = "kb_synonym_groups"

    id: Mapped[int] = mapped_column(primary_key=True)
    language: Mapped[str] = mapped_column(sa.String(2))
    phrases: Mapped[list[str]] = mapped_column(sa.JSON, default=list)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class VocabularyTerm(Base):
    """How many articles of a language hold a normalised term: the weight of a query term,
    and the words a misspelt query term is corrected to."""

    __tablename__ = "kb_vocabulary"

    language: Mapped[str] = mapped_column(sa.String(2), primary_key=True)
    term: Mapped[str] = mapped_column(sa.String(100), primary_key=True)
    doc_count: Mapped[int] = mapped_column(default=0)


class CannedResponse(Base):
    """A reply template with placeholders such as {{customer.first_name}}; the same title in
    another tone or language is a variant of it."""

    __tablename__ = "kb_canned_responses"
    __table_args__ = (sa.UniqueConstraint("title", "language", "tone"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(sa.String(200))
    body: Mapped[str] = mapped_column(sa.Text)
    tone: Mapped[Tone] = mapped_column(_enum(Tone))
    language: Mapped[str] = mapped_column(sa.String(2))
    is_active: Mapped[bool] = mapped_column(default=True)
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class ArticleAttachment(Base):
    """A file (image, PDF) uploaded for an article; public with a published public article."""

    __tablename__ = "kb_article_attachments"

    attachment_id: Mapped[int] = mapped_column(
        BigId, sa.ForeignKey("attachments.id", ondelete="CASCADE"), primary_key=True)
    article_id: Mapped[int] = mapped_column(
        BigId, sa.ForeignKey("kb_articles.id", ondelete="CASCADE"), index=True)
