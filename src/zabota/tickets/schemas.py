"""API shapes of tickets and messages."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from zabota.core.fields import RowId, StaffId, not_null, without_nul
from zabota.identity.schemas import CustomerInline
from zabota.tickets.models import (
    MAX_MESSAGE_HTML,
    MAX_MESSAGE_TEXT,
    AuthorKind,
    Channel,
    FieldType,
    Priority,
    Status,
)

Reason = Annotated[str, Field(min_length=1, max_length=500)]
# Ids a client sends, bounded by their columns (see core.fields).
Tag = Annotated[str, Field(min_length=1, max_length=64)]


class In(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    _no_nul = without_nul()


class Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class MessageIn(In):
    text: Annotated[str, Field(max_length=MAX_MESSAGE_TEXT)] | None = None
    html: Annotated[str, Field(max_length=MAX_MESSAGE_HTML)] | None = None
    is_internal: bool = False
    external_id: Annotated[str, Field(min_length=1, max_length=255)] | None = None
    attachment_ids: Annotated[list[RowId], Field(max_length=20)] = []

    @model_validator(mode="after")
    def has_content(self) -> MessageIn:
        if not ((self.text and self.text.strip()) or self.html or self.attachment_ids):
            raise ValueError("empty_message")
        return self


class TicketCreate(In):
    subject: Annotated[str, Field(min_length=1, max_length=300)]
    message: MessageIn
    customer: CustomerInline | None = None
    customer_id: RowId | None = None
    channel: Channel = Channel.API
    priority: Priority = Priority.NORMAL
    team_id: StaffId | None = None
    assignee_id: StaffId | None = None
    category: Annotated[str, Field(max_length=100)] | None = None
    language: Annotated[str, Field(max_length=8)] | None = None
    tags: Annotated[list[Tag], Field(max_length=50)] = []
    custom_fields: dict[str, Any] = {}


class TicketUpdate(In):
    subject: Annotated[str, Field(min_length=1, max_length=300)] | None = None
    status: Status | None = None
    priority: Priority | None = None
    team_id: StaffId | None = None
    assignee_id: StaffId | None = None
    category: Annotated[str, Field(max_length=100)] | None = None
    language: Annotated[str, Field(max_length=8)] | None = None
    tags: Annotated[list[Tag], Field(max_length=50)] | None = None
    custom_fields: dict[str, Any] | None = None
    reason: Reason | None = None

    _present = not_null("subject", "status", "priority", "tags", "custom_fields")

    def changes(self) -> dict[str, Any]:
        """Only what the client sent; `null` for team or assignee means "clear it"."""
        return {k: v for k, v in self.model_dump(exclude_unset=True).items() if k != "reason"}


class AssignIn(In):
    agent_id: StaffId | None
    reason: Reason | None = None


class TransferIn(In):
    team_id: StaffId | None = None
    agent_id: StaffId | None = None
    reason: Reason


class EscalateIn(In):
    reason: Reason


class MergeIn(In):
    source_id: RowId
    reason: Reason | None = None


class BulkChanges(In):
    status: Status | None = None
    priority: Priority | None = None
    team_id: StaffId | None = None
    assignee_id: StaffId | None = None
    category: Annotated[str, Field(max_length=100)] | None = None
    add_tags: list[Tag] | None = None
    remove_tags: list[Tag] | None = None

    _present = not_null("status", "priority")


class BulkIn(In):
    ticket_ids: Annotated[list[RowId], Field(min_length=1, max_length=500)]
    changes: BulkChanges
    reason: Reason | None = None


class BulkItemOut(BaseModel):
    ticket_id: int
    ok: bool
    error: dict[str, Any] | None = None


class BulkOut(BaseModel):
    results: list[BulkItemOut]


class AttachmentOut(Out):
    id: int
    filename: str
    content_type: str
    size: int
    sha256: str
    created_at: datetime


class MessageOut(Out):
    id: int
    ticket_id: int
    author_kind: AuthorKind
    author_user_id: int | None
    author_customer_id: int | None
    direction: str
    channel: Channel
    is_internal: bool
    body_text: str
    body_html: str
    external_id: str | None
    attachments: list[AttachmentOut]
    created_at: datetime


class TicketOut(Out):
    id: int
    number: int
    subject: str
    status: Status
    priority: Priority
    channel: Channel
    customer_id: int
    organization_id: int | None
    team_id: int | None
    assignee_id: int | None
    category: str | None
    language: str | None
    tags: list[str]
    custom_fields: dict[str, Any]
    escalation_level: int
    transfers: int
    reopens: int
    replies: int
    merged_into_id: int | None
    created_at: datetime
    updated_at: datetime
    first_response_at: datetime | None
    solved_at: datetime | None
    closed_at: datetime | None


class TicketPage(BaseModel):
    items: list[TicketOut]
    next_cursor: str | None


class ExportPage(BaseModel):
    items: list[TicketOut]
    next_cursor: str


class EventOut(Out):
    id: int
    ticket_id: int
    kind: str
    field: str | None
    from_value: str | None
    to_value: str | None
    actor_kind: str
    actor_id: int | None
    reason: str | None
    data: dict[str, Any]
    at: datetime


class FieldDefCreate(In):
    key: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[a-z][a-z0-9_]*$")]
    label: Annotated[str, Field(min_length=1, max_length=200)]
    label_en: Annotated[str, Field(max_length=200)] = ""
    type: FieldType
    options: Annotated[list[Annotated[str, Field(min_length=1, max_length=100)]],
                       Field(max_length=200)] = []


class FieldDefUpdate(In):
    """Key and type stay as created: tickets store values under the key, in the type."""

    label: Annotated[str, Field(min_length=1, max_length=200)] | None = None
    label_en: Annotated[str, Field(max_length=200)] | None = None
    options: Annotated[list[Annotated[str, Field(min_length=1, max_length=100)]],
                       Field(max_length=200)] | None = None
    is_active: bool | None = None

    _present = not_null("label", "label_en", "options", "is_active")


class FieldDefOut(Out):
    id: int
    key: str
    label: str
    label_en: str
    type: FieldType
    options: list[str]
    is_active: bool
