"""Staff, teams, customers and tokens: the only code that changes identity state."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import cast
from zoneinfo import available_timezones

import pyotp
import sqlalchemy as sa
import structlog
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, lazyload, selectinload
from sqlalchemy.orm.attributes import set_committed_value

from zabota.core.clock import SYSTEM_CLOCK, Clock, as_utc
from zabota.core.db import insert_now, keep, race_guard, scalar_now
from zabota.core.errors import InvalidInput, field_error, field_named
from zabota.core.i18n import _
from zabota.identity import errors
from zabota.identity.models import (
    ApiToken,
    ChannelIdentity,
    Customer,
    IdentityKind,
    Organization,
    Presence,
    Role,
    Skill,
    Team,
    User,
    team_members,
)
from zabota.identity.permissions import Actor, Permission, require

log = structlog.get_logger()
_hasher = PasswordHasher()
# Verifying against this when the e-mail is unknown keeps both answers equally slow.
_DUMMY_HASH = _hasher.hash(secrets.token_hex(8))
TOKEN_PREFIX = "zbt_"


# --- passwords and tokens -------------------------------------------------------------


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def _hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _new_token(
    session: Session, *, name: str, user_id: int | None, customer_id: int | None,
    is_personal: bool, expires_at: datetime | None, created_by_id: int | None, clock: Clock,
) -> tuple[str, ApiToken]:
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(
        token_hash=_hash_token(token), prefix=token[:12], name=name, is_personal=is_personal,
        user_id=user_id, customer_id=customer_id, created_by_id=created_by_id,
        created_at=clock.now(), expires_at=expires_at,
    )
    session.add(row)
    session.flush()
    return token, row


def issue_access_token(
    session: Session, email: str, password: str, *, ttl: timedelta, otp: str | None = None,
    clock: Clock = SYSTEM_CLOCK,
) -> tuple[str, ApiToken]:
    """Exchange e-mail and password (staff or customer) for a bearer token.

    Staff with two-factor authentication also give `otp`; without it, OtpRequired.
    """
    email = normalize_email(email)
    user = session.scalar(sa.select(User).where(User.email == email, User.is_active))
    if user is not None:
        if not verify_password(user.password_hash, password):
            raise errors.BadCredentials()
        if user.totp_secret is not None:
            if not otp:
                raise errors.OtpRequired(user_id=user.id, fingerprint=login_fingerprint(user))
            check_totp(session, user, otp, clock=clock)
        log.info("auth.token_issued", user_id=user.id)
        return _new_token(session, name="login", user_id=user.id, customer_id=None,
                          is_personal=False, expires_at=clock.now() + ttl,
                          created_by_id=None, clock=clock)
    customer = session.scalar(
        sa.select(Customer).where(Customer.email == email, Customer.merged_into_id.is_(None))
    )
    if customer is None or not verify_password(customer.password_hash, password):
        verify_password(None, password)
        raise errors.BadCredentials()
    log.info("auth.token_issued", customer_id=customer.id)
    return _new_token(session, name="login", user_id=None, customer_id=customer.id,
                      is_personal=False, expires_at=clock.now() + ttl, created_by_id=None,
                      clock=clock)


def issue_token_for(
    session: Session, *, ttl: timedelta, user_id: int | None = None,
    customer_id: int | None = None, clock: Clock = SYSTEM_CLOCK,
) -> str:
    """A login token for someone already proven (magic link, SSO, tests): no password asked."""
    token, _row = _new_token(session, name="login", user_id=user_id, customer_id=customer_id,
                             is_personal=False, expires_at=clock.now() + ttl,
                             created_by_id=None, clock=clock)
    return token


def create_personal_token(
    session: Session, *, user_id: int, name: str, expires_at: datetime | None, actor: Actor,
    clock: Clock = SYSTEM_CLOCK,
) -> tuple[str, ApiToken]:
    """An admin issues a long-lived token for an integration acting as `user_id`."""
    require(actor, Permission.MANAGE_TOKENS)
    get_user(session, user_id)
    if expires_at is not None and as_utc(expires_at) <= clock.now():
        raise field_error("expires_at", _("The expiry date must be in the future"))
    token, row = _new_token(session, name=name, user_id=user_id, customer_id=None,
                            is_personal=True, expires_at=expires_at,
                            created_by_id=actor.id if actor.is_staff else None, clock=clock)
    log.info("auth.personal_token_created", token_id=row.id, user_id=user_id)
    return token, row


def list_personal_tokens(session: Session, *, actor: Actor) -> Sequence[ApiToken]:
    require(actor, Permission.MANAGE_TOKENS)
    return session.scalars(
        sa.select(ApiToken).where(ApiToken.is_personal).order_by(ApiToken.id)
    ).all()


def revoke_token(session: Session, token_id: int, *, actor: Actor,
                 clock: Clock = SYSTEM_CLOCK) -> ApiToken:
    require(actor, Permission.MANAGE_TOKENS)
    row = session.get(ApiToken, token_id)
    if row is None or not row.is_personal:
        raise errors.TokenNotFound()
    if row.revoked_at is None:
        row.revoked_at = clock.now()
        log.info("auth.token_revoked", token_id=row.id)
    return row


def revoke_own_token(session: Session, actor: Actor, *, clock: Clock = SYSTEM_CLOCK) -> None:
    """Log out: the token the actor is using stops working."""
    if actor.token_id is not None:
        row = session.get(ApiToken, actor.token_id)
        if row is not None and row.revoked_at is None:
            row.revoked_at = clock.now()


# Every API request passes here, so the token with its owner is one statement built once,
# read through the connection (no ORM objects), and a staff owner's teams a second.
_TOKEN_OWNER = (
    sa.select(ApiToken.id, ApiToken.revoked_at, ApiToken.expires_at, ApiToken.user_id,
              ApiToken.customer_id, User.name, User.role, User.is_active, User.language,
              User.timezone)
    .outerjoin(User, User.id == ApiToken.user_id)
    .where(ApiToken.token_hash == sa.bindparam("hash"))
)
_TEAM_IDS = sa.select(team_members.c.team_id).where(team_members.c.user_id == sa.bindparam("id"))


def actor_for_token(session: Session, token: str, *, clock: Clock = SYSTEM_CLOCK) -> Actor:
    return token_actor(session, token, clock=clock)[0]


def token_actor(session: Session, token: str, *,
                clock: Clock = SYSTEM_CLOCK) -> tuple[Actor, datetime | None]:
    """The token's owner as an actor, and when the token expires (None: never)."""
    if not token.startswith(TOKEN_PREFIX):
        raise errors.InvalidToken()
    connection = session.connection()
    row = connection.execute(_TOKEN_OWNER, {"hash": _hash_token(token)}).first()
    if row is None or row.revoked_at is not None or (
        row.expires_at is not None and as_utc(row.expires_at) <= clock.now()
    ):
        raise errors.InvalidToken()
    if row.user_id is not None:
        if not row.is_active:  # also None: the user row is gone
            raise errors.InvalidToken()
        team_ids = frozenset(connection.scalars(_TEAM_IDS, {"id": row.user_id}))
        return Actor(kind="user", id=row.user_id, name=row.name, role=row.role,
                     team_ids=team_ids, language=row.language, timezone=row.timezone,
                     token_id=row.id), row.expires_at
    customer = session.get(Customer, row.customer_id) if row.customer_id else None
    if customer is None or customer.merged_into_id is not None:
        raise errors.InvalidToken()
    return actor_for_customer(customer, token_id=row.id), row.expires_at


def actor_for_user(user: User, *, token_id: int | None = None) -> Actor:
    return Actor(kind="user", id=user.id, name=user.name, role=user.role,
                 team_ids=frozenset(team.id for team in user.teams), language=user.language,
                 timezone=user.timezone, token_id=token_id)


def actor_for_customer(customer: Customer, *, token_id: int | None = None) -> Actor:
    return Actor(kind="customer", id=customer.id, name=customer.name,
                 organization_id=customer.organization_id,
                 sees_organization_tickets=customer.sees_organization_tickets,
                 language=customer.language or "ru", token_id=token_id)


# --- staff and teams ----------------------------------------------------------------


def normalize_email(value: str) -> str:
    value = value.strip().lower()
    if "xn--" in value:  # the same mailbox as its Unicode form (user@пример.рф)
        local, _at, domain = value.rpartition("@")
        value = f"{local}@{normalize_domain(domain)}"
    return value


_HOSTNAME = re.compile(
    r"(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+(?:[a-z]{2,63}|xn--[a-z0-9-]{1,59})")


def normalize_domain(value: str) -> str:
    """An internet domain in lower-case Unicode (пример.рф, also when given as punycode),
    as customers' e-mail addresses carry it; ValueError when it is not one."""
    value = value.strip().lower().rstrip(".")
    try:
        ascii_form = value.encode("idna").decode("ascii")
        unicode_form = ascii_form.encode("ascii").decode("idna")
    except UnicodeError:
        raise ValueError("domain") from None
    if len(ascii_form) > 253 or not _HOSTNAME.fullmatch(ascii_form):
        raise ValueError("domain")
    return unicode_form


def normalize_phone(value: str) -> str:
    digits = re.sub(r"\D", "", value)
    if len(digits) == 11 and digits.startswith("8"):
        digits = "7" + digits[1:]  # Russian trunk prefix: 8 916 … is +7 916 …
    if not 7 <= len(digits) <= 15:
        raise field_error("phone", _("A phone number has 7 to 15 digits"))
    return "+" + digits


def create_user(
    session: Session, *, email: str, name: str, role: Role, actor: Actor,
    password: str | None = None, language: str = "ru", capacity: int = 10,
    team_ids: Iterable[int] = (), skills: Iterable[tuple[str, str, int]] = (),
    clock: Clock = SYSTEM_CLOCK,
) -> User:
    require(actor, Permission.MANAGE_USERS)
    email = normalize_email(email)
    if session.scalar(sa.select(User.id).where(User.email == email)) is not None:
        raise errors.EmailTaken(errors=[{"field": "email", "message": _(errors.EmailTaken.title)}])
    user = User(email=email, name=name, role=role, language=language, capacity=capacity,
                password_hash=hash_password(password) if password else None,
                created_at=clock.now(), presence=Presence.OFFLINE)
    user.teams = [get_team(session, team_id) for team_id in team_ids]
    user.skills = _skills(skills)
    session.add(user)
    session.flush()
    log.info("identity.user_created", user_id=user.id, role=role.value)
    return user


def update_user(session: Session, user_id: int, *, actor: Actor, **changes: object) -> User:
    """Admins change anyone; a user may change their own language, presence and password."""
    user = get_user(session, user_id)
    own_fields = {"language", "presence", "password", "timezone"}
    if not (actor.can(Permission.MANAGE_USERS) or (actor.id == user.id and actor.is_staff
                                                    and set(changes) <= own_fields)):
        require(actor, Permission.MANAGE_USERS)
    for key, value in changes.items():
        if key == "password":
            user.password_hash = hash_password(str(value))
        elif key == "team_ids":
            user.teams = [get_team(session, int(team_id)) for team_id in value]  # type: ignore[attr-defined]
        elif key == "skills":
            user.skills = []
            session.flush()  # old rows go first: (user, category, language) is unique
            user.skills = _skills([(s["category"], s["language"], s["level"])
                                   for s in value])  # type: ignore[attr-defined]
        elif key in ("role", "is_active") and user.role == Role.ADMIN and (
                value not in (Role.ADMIN, True)):
            _keep_an_admin(session, user)
            setattr(user, key, value)
        elif key == "email":
            email = normalize_email(str(value))
            if session.scalar(sa.select(User.id).where(User.email == email,
                                                       User.id != user.id)) is not None:
                raise errors.EmailTaken(errors=[{"field": "email",
                                                 "message": _(errors.EmailTaken.title)}])
            user.email = email
        elif key == "timezone" and value not in available_timezones():
            raise field_error("timezone", _("Choose a time zone from the list"))
        else:
            setattr(user, key, value)
    session.flush()
    return user


def _skills(rows: Iterable[tuple[str, str, int]]) -> list[Skill]:
    """One skill per (category, language); a repeated row is a mistake in the form."""
    seen: dict[tuple[str, str], Skill] = {}
    for category, lang, level in rows:
        key = (category.strip(), lang)
        if key in seen:
            raise field_error("skills", _("Each category and language pair can be listed once"))
        seen[key] = Skill(category=key[0], language=lang, level=level)
    return list(seen.values())


def _keep_an_admin(session: Session, user: User) -> None:
    others = session.scalar(sa.select(sa.func.count()).select_from(User).where(
        User.role == Role.ADMIN, User.is_active, User.id != user.id)) or 0
    if others == 0:
        raise field_error("role", _("This is the last active administrator; appoint another "
                                    "one first"))


def get_user(session: Session, user_id: int) -> User:
    user = session.get(User, user_id)
    if user is None:
        raise errors.UserNotFound()
    return user


def get_user_for(session: Session, user_id: int, *, actor: Actor) -> User:
    """A staff profile; only staff see staff (a customer sees agents by name on tickets)."""
    if actor.is_customer or not (actor.can(Permission.VIEW_STAFF) or actor.id == user_id):
        raise errors.UserNotFound()
    return get_user(session, user_id)


def list_users(session: Session, *, actor: Actor) -> Sequence[User]:
    require(actor, Permission.VIEW_STAFF)
    return session.scalars(sa.select(User).order_by(User.id)).all()


def create_team(
    session: Session, *, name: str, actor: Actor, description: str = "",
    email: str | None = None, escalation_team_id: int | None = None,
    member_ids: Iterable[int] = (), clock: Clock = SYSTEM_CLOCK,
) -> Team:
    require(actor, Permission.MANAGE_TEAMS)
    if session.scalar(sa.select(Team.id).where(Team.name == name)) is not None:
        raise errors.NameTaken(errors=[{"field": "name", "message": _(errors.NameTaken.title)}])
    if escalation_team_id is not None:
        with field_named("escalation_team_id", was="team_id"):
            get_team(session, escalation_team_id)
    team = Team(name=name, description=description, email=email,
                escalation_team_id=escalation_team_id, created_at=clock.now())
    team.members = [get_user(session, user_id) for user_id in member_ids]
    session.add(team)
    session.flush()
    return team


def update_team(session: Session, team_id: int, *, actor: Actor, **changes: object) -> Team:
    require(actor, Permission.MANAGE_TEAMS)
    team = get_team(session, team_id)
    for key, value in changes.items():
        if key == "member_ids":
            team.members = [get_user(session, int(uid)) for uid in value]  # type: ignore[attr-defined]
        elif key == "escalation_team_id" and value is not None:
            with field_named("escalation_team_id", was="team_id"):
                target = get_team(session, int(value))  # type: ignore[call-overload]
            if _escalation_reaches(session, target, team.id):
                raise field_error("escalation_team_id",
                                  _("Escalation would come back to this team"))
            team.escalation_team_id = target.id
        elif key == "name" and value != team.name:
            if session.scalar(sa.select(Team.id).where(Team.name == value)) is not None:
                raise errors.NameTaken(errors=[{"field": "name",
                                                "message": _(errors.NameTaken.title)}])
            team.name = str(value)
        else:
            setattr(team, key, value)
    session.flush()
    return team


def _escalation_reaches(session: Session, start: Team, team_id: int) -> bool:
    """Whether following escalation lines from `start` arrives at `team_id` (a loop)."""
    seen: set[int] = set()
    current: Team | None = start
    while current is not None and current.id not in seen:
        if current.id == team_id:
            return True
        seen.add(current.id)
        current = session.get(Team, current.escalation_team_id) \
            if current.escalation_team_id else None
    return False


def require_team(session: Session, team_id: int) -> None:
    """Refuse an id that is not a team's (reads the id only: no team is loaded)."""
    if scalar_now(session, _TEAM_ID, {"id": team_id}) is None:
        raise errors.TeamNotFound(errors=[{"field": "team_id",
                                           "message": _(errors.TeamNotFound.title)}])


def get_team(session: Session, team_id: int) -> Team:
    team = session.get(Team, team_id)
    if team is None:
        raise errors.TeamNotFound(errors=[{"field": "team_id",
                                           "message": _(errors.TeamNotFound.title)}])
    return keep(session, team)  # with its members: asked for again within the same work


def get_team_for(session: Session, team_id: int, *, actor: Actor) -> Team:
    require(actor, Permission.VIEW_STAFF)
    return get_team(session, team_id)


def list_teams(session: Session, *, actor: Actor) -> Sequence[Team]:
    require(actor, Permission.VIEW_STAFF)
    # Members in one more statement for all teams (not one per team), without their own
    # teams and skills, which a team list does not show.
    members = selectinload(Team.members)
    return session.scalars(sa.select(Team).order_by(Team.id).options(
        members, members.lazyload(User.teams), members.lazyload(User.skills))).all()


# --- organisations and customers --------------------------------------------------------


def create_organization(
    session: Session, *, name: str, actor: Actor, domain: str | None = None,
    sla_tier: str = "standard", is_vip: bool = False, notes: str = "",
    clock: Clock = SYSTEM_CLOCK,
) -> Organization:
    require(actor, Permission.EDIT_CUSTOMERS)
    if session.scalar(sa.select(Organization.id).where(Organization.name == name)) is not None:
        raise errors.NameTaken(errors=[{"field": "name", "message": _(errors.NameTaken.title)}])
    domain = _free_domain(session, domain, None)
    org = Organization(name=name, domain=domain, sla_tier=sla_tier,
                       is_vip=is_vip, notes=notes, created_at=clock.now())
    session.add(org)
    session.flush()
    return org


def update_organization(session: Session, org_id: int, *, actor: Actor,
                        **changes: object) -> Organization:
    require(actor, Permission.EDIT_CUSTOMERS)
    org = get_organization(session, org_id, actor=actor)
    name = changes.get("name")
    if name is not None and name != org.name and session.scalar(
            sa.select(Organization.id).where(Organization.name == name)) is not None:
        raise errors.NameTaken(errors=[{"field": "name", "message": _(errors.NameTaken.title)}])
    if "domain" in changes:
        changes["domain"] = _free_domain(session, cast(str | None, changes["domain"]), org.id)
    for key, value in changes.items():
        setattr(org, key, value)
    session.flush()
    return org


def _free_domain(session: Session, domain: str | None, org_id: int | None) -> str | None:
    """The domain normalised, refused when another organisation has it: a customer's
    e-mail domain must point to one organisation."""
    if not domain:
        return None
    try:
        domain = normalize_domain(domain)
    except ValueError:
        raise field_error("domain", _("Enter a domain such as example.ru")) from None
    other = session.scalar(sa.select(Organization.id).where(
        Organization.domain == domain, Organization.id != (org_id or 0)))
    if other is not None:
        raise errors.DomainTaken(errors=[{"field": "domain",
                                          "message": _(errors.DomainTaken.title)}])
    return domain


def get_organization(session: Session, org_id: int, *, actor: Actor) -> Organization:
    org = session.get(Organization, org_id)
    visible = actor.can(Permission.VIEW_CUSTOMERS) or actor.organization_id == org_id
    if org is None or not visible:
        raise errors.OrganizationNotFound()
    return org


def list_organizations(session: Session, *, actor: Actor) -> Sequence[Organization]:
    query = sa.select(Organization).order_by(Organization.name)
    if not actor.can(Permission.VIEW_CUSTOMERS):
        query = query.where(Organization.id == actor.organization_id)
    return session.scalars(query).all()


def normalize_identity(kind: IdentityKind, value: str) -> str:
    value = value.strip()
    if kind == IdentityKind.EMAIL:
        return normalize_email(value)
    if kind in (IdentityKind.PHONE, IdentityKind.WHATSAPP):
        return normalize_phone(value)
    if not value:
        raise field_error("value", _("This field is required"))
    return value


# Built once: every inbound message asks these, and building a statement (and its cache key)
# costs more than SQLite takes to run it.
# Read on every new request: plain table columns through `scalar_now`, past the ORM layer.
_identities = cast(sa.Table, ChannelIdentity.__table__)
_organizations = cast(sa.Table, Organization.__table__)
_teams = cast(sa.Table, Team.__table__)
_OWNER = sa.select(_identities.c.customer_id).where(
    _identities.c.kind == sa.bindparam("kind"), _identities.c.value == sa.bindparam("value"))
_ORGANIZATION_OF_DOMAIN = sa.select(_organizations.c.id).where(
    _organizations.c.domain == sa.bindparam("domain")).limit(1)
_TEAM_ID = sa.select(_teams.c.id).where(_teams.c.id == sa.bindparam("id"))
_PERSON_ONLY = (lazyload(Customer.identities),)  # most callers need the person, not the list


def find_customer_by_identity(session: Session, kind: IdentityKind, value: str) -> Customer | None:
    value = normalize_identity(kind, value)
    owner = scalar_now(session, _OWNER, {"kind": kind, "value": value})
    customer = None if owner is None else session.get(Customer, owner, options=_PERSON_ONLY)
    while customer is not None and customer.merged_into_id is not None:
        customer = session.get(Customer, customer.merged_into_id)
    return customer


def find_or_create_customer(
    session: Session, *, identities: Sequence[tuple[IdentityKind, str]], name: str | None = None,
    clock: Clock = SYSTEM_CLOCK, **fields: object,
) -> Customer:
    """One person across channels: the first identity we know wins, the rest are added to it."""
    normalized = [(kind, normalize_identity(kind, value)) for kind, value in identities]
    if not normalized:
        raise field_error("customer", _("Give at least one contact: e-mail, phone or another id"))
    for kind, value in normalized:
        customer = find_customer_by_identity(session, kind, value)
        if customer is not None:
            for other in normalized:
                if other != (kind, value):  # the one it was found by is attached already
                    _attach_identity(session, customer, *other, clock=clock)
            return customer
    try:
        with race_guard(session):
            return _create_customer(session, normalized, name=name, clock=clock, **fields)
    except IntegrityError:
        # Another request created the same person between our read and our insert.
        customer = find_customer_by_identity(session, *normalized[0])
        if customer is None:
            raise
        return customer


def _create_customer(
    session: Session, identities: Sequence[tuple[IdentityKind, str]], *, name: str | None,
    clock: Clock, **fields: object,
) -> Customer:
    email = next((v for k, v in identities if k == IdentityKind.EMAIL), None)
    phone = next((v for k, v in identities if k == IdentityKind.PHONE), None)
    password = fields.pop("password", None)
    customer = Customer(name=name or email or phone or identities[0][1], email=email, phone=phone,
                        created_at=clock.now(), **fields)
    if password:
        customer.password_hash = hash_password(str(password))
    if customer.organization_id is None and email:
        domain = email.rpartition("@")[2]
        customer.organization_id = scalar_now(session, _ORGANIZATION_OF_DOMAIN,
                                              {"domain": domain})
    insert_now(session, customer)  # a new customer comes with nearly every new request
    set_committed_value(customer, "identities", [
        insert_now(session, ChannelIdentity(customer_id=customer.id, kind=kind, value=value,
                                            created_at=customer.created_at), customer=customer)
        for kind, value in identities])
    log.info("identity.customer_created", customer_id=customer.id)
    return customer


def _attach_identity(session: Session, customer: Customer, kind: IdentityKind, value: str,
                     *, clock: Clock) -> None:
    owner = scalar_now(session, _OWNER, {"kind": kind, "value": value})
    if owner is None:
        session.add(ChannelIdentity(customer_id=customer.id, kind=kind, value=value,
                                    created_at=clock.now()))
        if kind == IdentityKind.EMAIL and customer.email is None:
            customer.email = value
        session.flush()


def create_customer(
    session: Session, *, actor: Actor, identities: Sequence[tuple[IdentityKind, str]],
    name: str | None = None, clock: Clock = SYSTEM_CLOCK, **fields: object,
) -> Customer:
    require(actor, Permission.EDIT_CUSTOMERS)
    normalized = [(kind, normalize_identity(kind, value)) for kind, value in identities]
    for kind, value in normalized:
        if find_customer_by_identity(session, kind, value) is not None:
            raise errors.IdentityTaken(errors=[{"field": kind.value,
                                                "message": _(errors.IdentityTaken.title)}])
    if fields.get("organization_id") is not None:
        get_organization(session, int(fields["organization_id"]), actor=actor)  # type: ignore[call-overload]
    return _create_customer(session, normalized, name=name, clock=clock, **fields)


def add_identity(session: Session, customer_id: int, kind: IdentityKind, value: str, *,
                 actor: Actor, clock: Clock = SYSTEM_CLOCK) -> Customer:
    require(actor, Permission.EDIT_CUSTOMERS)
    customer = get_customer(session, customer_id, actor=actor)
    value = normalize_identity(kind, value)
    owner = find_customer_by_identity(session, kind, value)
    if owner is not None and owner.id != customer.id:
        raise errors.IdentityTaken(errors=[{"field": "value",
                                            "message": _(errors.IdentityTaken.title)}])
    _attach_identity(session, customer, kind, value, clock=clock)
    session.refresh(customer)
    return customer


def update_customer(session: Session, customer_id: int, *, actor: Actor,
                    **changes: object) -> Customer:
    require(actor, Permission.EDIT_CUSTOMERS)
    customer = get_customer(session, customer_id, actor=actor)
    if changes.get("organization_id") is not None:
        get_organization(session, int(changes["organization_id"]), actor=actor)  # type: ignore[call-overload]
    for key, value in changes.items():
        setattr(customer, key, value)
    session.flush()
    return customer


def get_customer(session: Session, customer_id: int, *, actor: Actor) -> Customer:
    """Staff see every customer; a customer sees only themself. Unknown and hidden look alike."""
    customer = session.get(Customer, customer_id)
    if customer is None or not (actor.can(Permission.VIEW_CUSTOMERS) or
                                (actor.is_customer and actor.id == customer.id)):
        raise errors.CustomerNotFound()
    return customer


def visible_customers(actor: Actor) -> sa.ColumnElement[bool]:
    if actor.can(Permission.VIEW_CUSTOMERS):
        return sa.true()
    if actor.is_customer:
        return Customer.id == actor.id
    return sa.false()


def list_customers(
    session: Session, *, actor: Actor, q: str | None = None, organization_id: int | None = None,
    after_id: int | None = None, limit: int = 50,
) -> Sequence[Customer]:
    query = (sa.select(Customer).where(visible_customers(actor), Customer.merged_into_id.is_(None))
             .order_by(Customer.id).limit(limit))
    if after_id is not None:
        query = query.where(Customer.id > after_id)
    if organization_id is not None:
        query = query.where(Customer.organization_id == organization_id)
    if q:
        escaped = q.strip().lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        pattern = f"%{escaped}%"
        query = query.where(sa.or_(sa.func.lower(Customer.name).like(pattern, escape="\\"),
                                   Customer.email.like(pattern, escape="\\")))
    return session.scalars(query).all()


def customers_by_id(session: Session, ids: Iterable[int], *, actor: Actor) -> dict[int, Customer]:
    """Customers for a page of tickets, in one query."""
    wanted = set(ids)
    if not wanted:
        return {}
    query = sa.select(Customer).where(Customer.id.in_(wanted), visible_customers(actor))
    return {c.id: c for c in session.scalars(query)}


def merge_customers(session: Session, source_id: int, target_id: int, *, actor: Actor,
                    clock: Clock = SYSTEM_CLOCK) -> Customer:
    """Fold `source` into `target`: identities, tickets and logins move; source stays a stub."""
    require(actor, Permission.MERGE_CUSTOMERS)
    if source_id == target_id:
        raise errors.CannotMergeIntoItself()
    source = get_customer(session, source_id, actor=actor)
    target = get_customer(session, target_id, actor=actor)
    for side, customer in (("source_id", source), ("customer_id", target)):
        if customer.merged_into_id is not None:
            raise errors.AlreadyMerged(
                merged_into_id=customer.merged_into_id,
                errors=[{"field": side, "message": _(errors.AlreadyMerged.title)}])
    from zabota.tickets import service as tickets  # tickets depend on identity, not back

    tickets.move_customer_tickets(session, source.id, target.id, actor=actor, clock=clock)
    session.execute(sa.update(ChannelIdentity).where(ChannelIdentity.customer_id == source.id)
                    .values(customer_id=target.id))
    session.execute(sa.update(ApiToken).where(ApiToken.customer_id == source.id)
                    .values(revoked_at=clock.now()))
    target.email = target.email or source.email
    target.phone = target.phone or source.phone
    target.organization_id = target.organization_id or source.organization_id
    if source.notes:
        target.notes = f"{target.notes}\n{source.notes}".strip()
    source.merged_into_id = target.id
    session.flush()
    session.expire(target, ["identities"])
    log.info("identity.customers_merged", source_id=source.id, target_id=target.id)
    return target


def users_by_mention(session: Session, handles: Iterable[str]) -> Sequence[User]:
    """Staff named by `@handle` in a note: the handle is the part of the e-mail before `@`."""
    wanted = {h.lower() for h in handles}
    if not wanted:
        return []
    local_part = sa.func.lower(sa.func.substr(User.email, 1, sa.func.instr(User.email, "@") - 1)) \
        if session.get_bind().dialect.name == "sqlite" else sa.func.lower(
            sa.func.split_part(User.email, "@", 1))
    return session.scalars(sa.select(User).where(local_part.in_(wanted), User.is_active)).all()


# --- two-factor authentication (TOTP, RFC 6238) ---------------------------------------

TOTP_ISSUER = "Zabota"
_TOTP_DRIFT_STEPS = 1  # accept the previous and the next 30-second code: clocks drift


def _fingerprint(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()[:16]


def login_fingerprint(user: User) -> str:
    """Changes when the password or the TOTP secret does, ending half-finished sign-ins."""
    return _fingerprint(f"{user.password_hash}:{user.totp_secret}")


def _own_user(session: Session, actor: Actor) -> User:
    if not actor.is_staff:
        raise errors.UserNotFound()
    user = get_user(session, actor.id)
    if not user.is_active:
        raise errors.UserNotFound()
    return user


def _matching_step(secret: str, code: str, *, now: datetime, after: int | None) -> int | None:
    """The time step whose code is `code`, within the allowed drift and after `after`."""
    code = re.sub(r"\s", "", code)
    if not re.fullmatch(r"\d{6}", code):
        return None
    totp = pyotp.TOTP(secret)
    current = totp.timecode(now)
    for step in range(current - _TOTP_DRIFT_STEPS, current + _TOTP_DRIFT_STEPS + 1):
        if (after is None or step > after) and hmac.compare_digest(
                totp.generate_otp(step), code):
            return step
    return None


def check_totp(session: Session, user: User, code: str, *, clock: Clock = SYSTEM_CLOCK) -> None:
    """Accept a current code once: a second use of the same code is refused (RFC 6238 §5.2)."""
    if user.totp_secret is None:
        raise errors.BadOtp()
    step = _matching_step(user.totp_secret, code, now=clock.now(), after=user.totp_last_step)
    if step is None:
        log.info("auth.otp_refused", user_id=user.id)
        raise errors.BadOtp()
    # Conditional, so two requests racing with the same code cannot both get in.
    claimed = session.execute(
        sa.update(User)
        .where(User.id == user.id,
               sa.or_(User.totp_last_step.is_(None), User.totp_last_step < step))
        .values(totp_last_step=step)
        .execution_options(synchronize_session=False)
    )
    if claimed.rowcount != 1:  # type: ignore[attr-defined]
        raise errors.BadOtp()
    session.expire(user, ["totp_last_step"])


def issue_token_with_otp(
    session: Session, user_id: int, code: str, *, fingerprint: str, ttl: timedelta,
    clock: Clock = SYSTEM_CLOCK,
) -> str:
    """The second step of a sign-in whose password step (`fingerprint`) already passed."""
    user = session.get(User, user_id)
    if user is None or not user.is_active or user.totp_secret is None or not hmac.compare_digest(
            login_fingerprint(user), fingerprint):
        raise errors.BadCredentials()
    check_totp(session, user, code, clock=clock)
    log.info("auth.token_issued", user_id=user.id)
    return issue_token_for(session, ttl=ttl, user_id=user.id, clock=clock)


def begin_totp_setup(session: Session, *, actor: Actor) -> tuple[str, str]:
    """A new secret and its otpauth:// URI for an authenticator app; nothing is stored yet."""
    user = _own_user(session, actor)
    if user.totp_secret is not None:
        raise errors.TotpAlreadyEnabled()
    secret = pyotp.random_base32()
    uri = pyotp.TOTP(secret).provisioning_uri(name=user.email, issuer_name=TOTP_ISSUER)
    return secret, uri


def totp_uri(session: Session, secret: str, *, actor: Actor) -> str:
    user = _own_user(session, actor)
    return pyotp.TOTP(secret).provisioning_uri(name=user.email, issuer_name=TOTP_ISSUER)


def confirm_totp(session: Session, secret: str, code: str, *, actor: Actor,
                 clock: Clock = SYSTEM_CLOCK) -> User:
    """Turn two-factor authentication on, once the app shows a code for `secret`."""
    user = _own_user(session, actor)
    if user.totp_secret is not None:
        raise errors.TotpAlreadyEnabled()
    if not re.fullmatch(r"[A-Z2-7]{16,64}", secret):
        raise field_error("code", _("Start the set-up again"))
    step = _matching_step(secret, code, now=clock.now(), after=None)
    if step is None:
        raise field_error("code", _(errors.BadOtp.title))
    user.totp_secret, user.totp_last_step = secret, step
    session.flush()
    log.info("auth.totp_enabled", user_id=user.id)
    return user


def disable_totp(session: Session, password: str, *, actor: Actor) -> User:
    """Turn two-factor authentication off; the password proves it is the owner at the keys."""
    user = _own_user(session, actor)
    if not verify_password(user.password_hash, password):
        raise field_error("password", _("The password is wrong"))
    user.totp_secret, user.totp_last_step = None, None
    session.flush()
    log.info("auth.totp_disabled", user_id=user.id)
    return user


# --- own profile --------------------------------------------------------------------------


def update_own_profile(session: Session, *, actor: Actor, language: str, presence: str,
                       timezone: str) -> User:
    """A staff member's own language, presence and time zone, each checked."""
    problems = []
    if language not in ("ru", "en"):
        problems.append({"field": "language", "message": _("Choose Russian or English")})
    if presence not in {p.value for p in Presence}:
        problems.append({"field": "presence", "message": _("Choose online, away or offline")})
    if timezone not in available_timezones():
        problems.append({"field": "timezone", "message": _("Choose a time zone from the list")})
    if problems:
        raise InvalidInput(problems[0]["message"], errors=problems)
    return update_user(session, _own_user(session, actor).id, actor=actor, language=language,
                       presence=Presence(presence), timezone=timezone)


def change_own_password(session: Session, *, actor: Actor, current: str, new: str,
                        clock: Clock = SYSTEM_CLOCK) -> User:
    """Set a new password and sign out every other session of this person."""
    user = _own_user(session, actor)
    if not verify_password(user.password_hash, current):
        raise field_error("current_password", _("The current password is wrong"))
    if not 8 <= len(new) <= 200:
        raise field_error("new_password", _("Use 8 to 200 characters"))
    user.password_hash = hash_password(new)
    session.execute(
        sa.update(ApiToken)
        .where(ApiToken.user_id == user.id, ApiToken.is_personal.is_(False),
               ApiToken.revoked_at.is_(None),
               ApiToken.id != (actor.token_id if actor.token_id is not None else -1))
        .values(revoked_at=clock.now())
        .execution_options(synchronize_session=False)
    )
    session.flush()
    log.info("auth.password_changed", user_id=user.id)
    return user


# --- customer sign-up and sign-in links ------------------------------------------------


def begin_customer_signup(
    session: Session, *, name: str, email: str, password: str, clock: Clock = SYSTEM_CLOCK,
) -> tuple[Customer, str | None]:
    """Record a sign-up; the password waits for the e-mailed link to prove the address.

    Returns the customer and the fingerprint of the waiting password, or None when the
    customer already has a password (then the link only signs in and changes nothing).
    """
    if not 8 <= len(password) <= 200:
        raise field_error("password", _("Use 8 to 200 characters"))
    customer = find_customer_by_identity(session, IdentityKind.EMAIL, email)
    if customer is None:
        customer = find_or_create_customer(session, identities=[(IdentityKind.EMAIL, email)],
                                           name=name.strip() or None, clock=clock)
    if customer.password_hash is not None:
        log.info("auth.signup_existing", customer_id=customer.id)
        return customer, None
    customer.pending_password_hash = hash_password(password)
    session.flush()
    log.info("auth.signup_started", customer_id=customer.id)
    return customer, _fingerprint(customer.pending_password_hash)


def customer_for_login_link(session: Session, email: str) -> Customer | None:
    """The customer a sign-in link for `email` would go to, if any."""
    return find_customer_by_identity(session, IdentityKind.EMAIL, email)


def login_link_is_current(session: Session, *, customer_id: int, nonce: int) -> bool:
    """Whether a link with `nonce` would still work (no change: showing it must not use it)."""
    customer = session.get(Customer, customer_id)
    return (customer is not None and customer.merged_into_id is None
            and customer.login_nonce == nonce)


def redeem_login_link(
    session: Session, *, customer_id: int, nonce: int, password_fingerprint: str | None,
) -> Customer:
    """Use a sign-in link once; a sign-up link also makes its waiting password the password."""
    customer = session.get(Customer, customer_id)
    if customer is None or customer.merged_into_id is not None:
        raise errors.LoginLinkInvalid()
    pending = customer.pending_password_hash
    if password_fingerprint is not None and (pending is None or not hmac.compare_digest(
            _fingerprint(pending), password_fingerprint)):
        raise errors.LoginLinkInvalid()
    # Compare-and-bump in one statement: of two clicks at once, exactly one wins.
    used = session.execute(
        sa.update(Customer)
        .where(Customer.id == customer.id, Customer.login_nonce == nonce)
        .values(login_nonce=nonce + 1)
        .execution_options(synchronize_session=False)
    )
    if used.rowcount != 1:  # type: ignore[attr-defined]
        raise errors.LoginLinkInvalid()
    session.expire(customer, ["login_nonce"])
    if password_fingerprint is not None:
        customer.password_hash, customer.pending_password_hash = pending, None
    session.flush()
    log.info("auth.login_link_used", customer_id=customer.id,
             password_set=password_fingerprint is not None)
    return customer
