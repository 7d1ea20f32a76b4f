"""API shapes of people: explicit limits on everything that comes in."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, EmailStr, Field, model_validator

from zabota.core.fields import RowId, StaffId, not_null, without_nul
from zabota.identity.models import IdentityKind, Presence, Role

Name = Annotated[str, Field(min_length=1, max_length=200)]
Password = Annotated[str, Field(min_length=8, max_length=200)]
Lang = Literal["ru", "en"]
# Checked and normalised (Unicode, lower case) by identity.service.normalize_domain.
Domain = Annotated[str, Field(min_length=1, max_length=253)]


class In(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    _no_nul = without_nul()


class Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class TokenRequest(In):
    email: Annotated[str, Field(min_length=3, max_length=254)]
    password: Annotated[str, Field(min_length=1, max_length=200)]
    otp: Annotated[str | None, Field(
        default=None, max_length=10,
        description="The 6-digit code of an account with two-factor authentication")] = None


class TokenOut(Out):
    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_at: datetime | None


class SkillIn(In):
    category: Annotated[str, Field(min_length=1, max_length=100)]
    language: Lang = "ru"
    level: Annotated[int, Field(ge=1, le=5)] = 1


class SkillOut(Out):
    category: str
    language: str
    level: int


class UserCreate(In):
    email: EmailStr
    name: Name
    role: Role = Role.AGENT
    password: Password | None = None
    language: Lang = "ru"
    capacity: Annotated[int, Field(ge=0, le=1000)] = 10
    team_ids: list[StaffId] = []
    skills: list[SkillIn] = []


class UserUpdate(In):
    email: EmailStr | None = None
    name: Name | None = None
    role: Role | None = None
    password: Password | None = None
    language: Lang | None = None
    timezone: Annotated[str, Field(max_length=64)] | None = None
    capacity: Annotated[int, Field(ge=0, le=1000)] | None = None
    presence: Presence | None = None
    is_active: bool | None = None
    team_ids: list[StaffId] | None = None
    skills: list[SkillIn] | None = None

    _present = not_null("email", "name", "role", "password", "language", "timezone",
                        "capacity", "presence", "is_active", "team_ids", "skills")


class TeamRef(Out):
    id: int
    name: str


class UserOut(Out):
    id: int
    email: str
    name: str
    role: Role
    language: str
    timezone: str
    capacity: int
    presence: Presence
    is_active: bool
    teams: list[TeamRef]
    skills: list[SkillOut]
    created_at: datetime


TeamName = Annotated[str, Field(min_length=1, max_length=120)]


class TeamCreate(In):
    name: TeamName
    description: Annotated[str, Field(max_length=500)] = ""
    email: EmailStr | None = None
    escalation_team_id: StaffId | None = None
    member_ids: list[StaffId] = []


class TeamUpdate(In):
    name: TeamName | None = None
    description: Annotated[str, Field(max_length=500)] | None = None
    email: EmailStr | None = None
    escalation_team_id: StaffId | None = None
    member_ids: list[StaffId] | None = None

    _present = not_null("name", "description", "member_ids")


class TeamOut(Out):
    id: int
    name: str
    description: str
    email: str | None
    escalation_team_id: int | None
    member_ids: list[int]
    created_at: datetime


class OrganizationCreate(In):
    name: Name
    domain: Domain | None = None
    sla_tier: Annotated[str, Field(min_length=1, max_length=32)] = "standard"
    is_vip: bool = False
    notes: Annotated[str, Field(max_length=10000)] = ""


class OrganizationUpdate(In):
    name: Name | None = None
    domain: Domain | None = None
    sla_tier: Annotated[str, Field(min_length=1, max_length=32)] | None = None
    is_vip: bool | None = None
    notes: Annotated[str, Field(max_length=10000)] | None = None

    _present = not_null("name", "sla_tier", "is_vip", "notes")


class OrganizationOut(Out):
    id: int
    name: str
    domain: str | None
    sla_tier: str
    is_vip: bool
    notes: str
    created_at: datetime


class IdentityIn(In):
    kind: IdentityKind
    value: Annotated[str, Field(min_length=1, max_length=254)]


class IdentityOut(Out):
    kind: IdentityKind
    value: str


class CustomerInline(In):
    """A customer given inline: found by any identity, or created."""

    name: Name | None = None
    email: EmailStr | None = None
    phone: Annotated[str, Field(min_length=5, max_length=32)] | None = None
    identities: list[IdentityIn] = []

    @model_validator(mode="after")
    def needs_a_contact(self) -> CustomerInline:
        if not (self.email or self.phone or self.identities):
            raise ValueError("no_contact")
        return self

    def identity_pairs(self) -> list[tuple[IdentityKind, str]]:
        pairs = [(i.kind, i.value) for i in self.identities]
        if self.email:
            pairs.insert(0, (IdentityKind.EMAIL, str(self.email)))
        if self.phone:
            pairs.append((IdentityKind.PHONE, self.phone))
        return pairs


class CustomerCreate(CustomerInline):
    organization_id: StaffId | None = None
    sees_organization_tickets: bool = False
    language: Lang | None = None
    notes: Annotated[str, Field(max_length=10000)] = ""
    password: Password | None = None


class CustomerUpdate(In):
    name: Name | None = None
    organization_id: StaffId | None = None
    sees_organization_tickets: bool | None = None
    language: Lang | None = None
    notes: Annotated[str, Field(max_length=10000)] | None = None

    _present = not_null("name", "sees_organization_tickets", "notes")


class CustomerOut(Out):
    id: int
    name: str
    email: str | None
    phone: str | None
    organization_id: int | None
    sees_organization_tickets: bool
    language: str | None
    notes: str
    merged_into_id: int | None
    identities: list[IdentityOut]
    created_at: datetime


class CustomerMerge(In):
    source_id: RowId


class PersonalTokenCreate(In):
    user_id: StaffId
    name: Annotated[str, Field(min_length=1, max_length=120)]
    expires_at: datetime | None = None


class PersonalTokenOut(Out):
    id: int
    name: str
    prefix: str
    user_id: int | None
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None


class PersonalTokenCreated(PersonalTokenOut):
    token: str
