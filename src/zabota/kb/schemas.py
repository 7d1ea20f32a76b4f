"""API shapes of the knowledge base."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from zabota.core.fields import not_null, without_nul
from zabota.kb.models import ArticleStatus, BodyFormat, Visibility

Language = Literal["ru", "en"]
Title = Annotated[str, Field(min_length=1, max_length=300)]
Body = Annotated[str, Field(min_length=1, max_length=200_000)]
Slug = Annotated[str, Field(max_length=120, pattern=r"^$|^[a-z0-9]+(?:-[a-z0-9]+)*$")]
Tag = Annotated[str, Field(min_length=1, max_length=40)]
Name = Annotated[str, Field(min_length=1, max_length=200)]
Description = Annotated[str, Field(max_length=500)]
Position = Annotated[int, Field(ge=-1_000_000, le=1_000_000)]
Id = Annotated[int, Field(ge=1, le=2**63 - 1)]
CategoryId = Annotated[int, Field(ge=1, le=2**31 - 1)]


class In(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    _no_nul = without_nul()


class Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class ArticleCreate(In):
    title: Title
    body: Body
    body_format: BodyFormat = BodyFormat.MARKDOWN
    language: Language
    category_id: CategoryId | None = None
    slug: Slug = ""
    tags: Annotated[list[Tag], Field(max_length=20)] = []
    visibility: Visibility = Visibility.PUBLIC
    status: ArticleStatus = ArticleStatus.DRAFT
    translation_of: Id | None = None
    position: Position = 0


class ArticleUpdate(In):
    title: Title | None = None
    body: Body | None = None
    body_format: BodyFormat | None = None
    category_id: CategoryId | None = None
    slug: Annotated[str, Field(min_length=1, max_length=120,
                               pattern=r"^[a-z0-9]+(?:-[a-z0-9]+)*$")] | None = None
    tags: Annotated[list[Tag], Field(max_length=20)] | None = None
    visibility: Visibility | None = None
    status: ArticleStatus | None = None
    position: Position | None = None
    expected_version: Annotated[int, Field(ge=1, le=2**31 - 1)] | None = None
    note: Annotated[str, Field(max_length=200)] = ""

    _present = not_null("title", "body", "body_format", "slug", "tags", "visibility",
                        "status", "position")

    def changes(self) -> dict[str, Any]:
        """The fields the client sent, except the workflow and concurrency ones."""
        skip = {"status", "expected_version", "note"}
        return {key: value for key, value in self.model_dump(exclude_unset=True).items()
                if key not in skip and (value is not None or key == "category_id")}


class ArticleOut(Out):
    id: int
    translation_group: str
    language: str
    slug: str
    title: str
    category_id: int | None
    tags: list[str]
    visibility: Visibility
    status: ArticleStatus
    body_html: str
    body_text: str
    position: int
    version: int
    views: int
    helpful_yes: int
    helpful_no: int
    url: str
    created_at: datetime
    updated_at: datetime
    published_at: datetime | None
    # The text as written: for staff only, null for customers and anonymous readers.
    body_source: str | None = None
    body_format: BodyFormat | None = None


class ArticlePage(BaseModel):
    items: list[ArticleOut]
    next_offset: int | None


class VersionOut(Out):
    number: int
    title: str
    body_source: str
    body_format: BodyFormat
    tags: list[str]
    author_id: int | None
    note: str
    restored_from: int | None
    created_at: datetime


class CategoryCreate(In):
    name_ru: Name
    name_en: Annotated[str, Field(max_length=200)] = ""
    description_ru: Description = ""
    description_en: Description = ""
    slug: Annotated[Slug, Field(max_length=100)] = ""  # kb_categories.slug
    parent_id: CategoryId | None = None
    position: Position = 0


class CategoryUpdate(In):
    name_ru: Name | None = None
    name_en: Annotated[str, Field(max_length=200)] | None = None
    description_ru: Description | None = None
    description_en: Description | None = None
    slug: Annotated[str, Field(min_length=1, max_length=100,
                               pattern=r"^[a-z0-9]+(?:-[a-z0-9]+)*$")] | None = None
    parent_id: CategoryId | None = None
    position: Position | None = None

    _present = not_null("name_ru", "name_en", "description_ru", "description_en", "slug",
                        "position")


class CategoryOut(Out):
    id: int
    parent_id: int | None
    slug: str
    name_ru: str
    name_en: str
    description_ru: str
    description_en: str
    position: int
    articles: int = 0  # published articles the caller may read, in this category alone


class HitOut(BaseModel):
    article_id: int
    title: str
    score: float = Field(description="0..1: the weighted share of the query's terms the "
                                     "article holds, title matches weighing more")
    snippet: str
    snippet_html: str
    url: str
    language: str
    category_id: int | None
    is_internal: bool


class SearchOut(BaseModel):
    query: str
    terms: list[str]
    corrections: dict[str, str]
    results: list[HitOut]
