"""API shapes of routing: categories, rules, models, settings and the triage preview."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from zabota.core.fields import RowId, StaffId, not_null, without_nul
from zabota.routing.models import AssignmentMode
from zabota.tickets.models import Channel, Priority

Key = Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[a-z][a-z0-9_.-]*$")]
Name = Annotated[str, Field(min_length=1, max_length=200)]
Phrase = Annotated[str, Field(min_length=1, max_length=200)]
Tag = Annotated[str, Field(min_length=1, max_length=64)]
Scalar = str | int | float | bool
LanguageCode = Literal["ru", "en", "unknown"]
SentimentLabel = Literal["negative", "neutral", "positive"]


class In(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    _no_nul = without_nul()


class Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class CategoryCreate(In):
    key: Key
    name_ru: Name
    name_en: Annotated[str, Field(max_length=200)] = ""
    parent_id: StaffId | None = None
    team_id: StaffId | None = None
    skill: Annotated[str, Field(max_length=100)] = ""
    is_active: bool = True


class CategoryUpdate(In):
    name_ru: Name | None = None
    name_en: Annotated[str, Field(max_length=200)] | None = None
    parent_id: StaffId | None = None
    team_id: StaffId | None = None
    skill: Annotated[str, Field(max_length=100)] | None = None
    is_active: bool | None = None

    _present = not_null("name_ru", "name_en", "skill", "is_active")


class CategoryOut(Out):
    id: int
    key: str
    name_ru: str
    name_en: str
    parent_id: int | None
    team_id: int | None
    skill: str
    is_active: bool


class RuleConditions(In):
    """Every condition given must hold; a list means "any of these"."""

    channels: Annotated[list[Channel], Field(max_length=10)] = []
    languages: Annotated[list[LanguageCode], Field(max_length=3)] = []
    sentiments: Annotated[list[SentimentLabel], Field(max_length=3)] = []
    vip: bool | None = None
    sla_tiers: Annotated[list[Annotated[str, Field(min_length=1, max_length=32)]],
                         Field(max_length=20)] = []
    organization_ids: Annotated[list[StaffId], Field(max_length=200)] = []
    custom_fields: Annotated[dict[str, Scalar], Field(max_length=20)] = {}
    phrases: Annotated[list[Phrase], Field(max_length=100,
                                           description="Any of these, matched by lemmas")] = []


class RuleActions(In):
    category: Annotated[str, Field(max_length=100)] | None = None
    team_id: StaffId | None = None
    priority: Priority | None = None
    tags: Annotated[list[Tag], Field(max_length=20)] = []
    assignee_id: StaffId | None = None
    skip_model: bool = False

    @model_validator(mode="after")
    def does_something(self) -> RuleActions:
        if not (self.category or self.team_id or self.priority or self.tags
                or self.assignee_id or self.skip_model):
            raise ValueError("no_action")
        return self


class RuleCreate(In):
    name: Name
    position: Annotated[int, Field(ge=0, le=100_000)] | None = None
    is_enabled: bool = True
    is_continue: bool = False
    conditions: RuleConditions = RuleConditions()
    actions: RuleActions


class RuleUpdate(In):
    name: Name | None = None
    position: Annotated[int, Field(ge=0, le=100_000)] | None = None
    is_enabled: bool | None = None
    is_continue: bool | None = None
    conditions: RuleConditions | None = None
    actions: RuleActions | None = None

    _present = not_null("name", "position", "is_enabled", "is_continue", "conditions",
                        "actions")


class RuleOut(Out):
    id: int
    position: int
    name: str
    is_enabled: bool
    is_continue: bool
    conditions: dict[str, Any]
    actions: dict[str, Any]
    created_at: datetime
    updated_at: datetime


class ModelOut(Out):
    version: str
    trained_at: datetime
    rows: int
    labels: dict[str, Any]
    metrics: dict[str, Any]
    chosen: str
    artefact_sha256: str
    is_active: bool
    activated_at: datetime | None


class TeamModeIn(In):
    mode: AssignmentMode


class RoutingSettingsIn(In):
    confidence_threshold: Annotated[float, Field(ge=0.0, le=1.0)] = 0.6
    repeat_days: Annotated[int, Field(ge=1, le=365)] = 7
    min_training_rows: Annotated[int, Field(ge=4, le=1_000_000)] = 50
    min_per_category: Annotated[int, Field(ge=2, le=10_000)] = 5


class RoutingSettingsOut(BaseModel):
    confidence_threshold: float
    repeat_days: int
    min_training_rows: int
    min_per_category: int


class PreviewIn(In):
    text: Annotated[str, Field(min_length=1, max_length=20_000)]
    subject: Annotated[str, Field(max_length=300)] = ""
    channel: Channel = Channel.API
    customer_id: RowId | None = None


class Suggestion(BaseModel):
    category: str
    name: str
    probability: float


class PreviewOut(BaseModel):
    language: str
    language_confidence: float
    category: str | None
    category_source: str
    confidence: float | None
    needs_review: bool
    suggestions: list[Suggestion]
    team_id: int | None
    sentiment: str
    negative_score: float
    priority: Priority
    reasons: list[dict[str, Any]]
    rules: list[dict[str, Any]]
    model_version: str | None
    features: list[tuple[str, float]]
    cold_start: bool
    summary: str
