from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter, Request

from zabota.identity import service
from zabota.identity.schemas import (
    PersonalTokenCreate,
    PersonalTokenCreated,
    PersonalTokenOut,
    TokenOut,
    TokenRequest,
)
from zabota.web.deps import CurrentActor, PathId, SessionDep, SettingsDep, limiter

router = APIRouter(tags=["auth"])


@router.post("/auth/token")
def login(body: TokenRequest, request: Request, session: SessionDep,
          settings: SettingsDep) -> TokenOut:
    """Exchange e-mail and password for a bearer token (rate-limited per address and client).

    Staff with two-factor authentication also send `otp`; without it the answer is 401 with
    the code `otp_required`, and with a wrong one `bad_otp`."""
    client = request.client.host if request.client else "unknown"
    limit = settings.login_rate_limit_per_minute
    limiter(request).hit(f"login-ip:{client}", limit=limit * 5)
    limiter(request).hit(f"login:{body.email.lower()}", limit=limit)
    token, row = service.issue_access_token(
        session, body.email, body.password, ttl=timedelta(hours=settings.access_token_ttl_hours),
        otp=body.otp)
    session.commit()
    return TokenOut(access_token=token, expires_at=row.expires_at)


@router.post("/auth/logout", status_code=204)
def logout(session: SessionDep, actor: CurrentActor) -> None:
    service.revoke_own_token(session, actor)
    session.commit()


@router.get("/api-tokens")
def list_tokens(session: SessionDep, actor: CurrentActor) -> list[PersonalTokenOut]:
    return [PersonalTokenOut.model_validate(t)
            for t in service.list_personal_tokens(session, actor=actor)]


@router.post("/api-tokens", status_code=201)
def create_token(body: PersonalTokenCreate, session: SessionDep,
                 actor: CurrentActor) -> PersonalTokenCreated:
    """Issue a personal token; its value is shown only in this answer."""
    token, row = service.create_personal_token(session, user_id=body.user_id, name=body.name,
                                               expires_at=body.expires_at, actor=actor)
    out = PersonalTokenCreated.model_validate({**PersonalTokenOut.model_validate(row).model_dump(),
                                               "token": token})
    session.commit()
    return out


@router.delete("/api-tokens/{token_id}")
def revoke_token(token_id: PathId, session: SessionDep, actor: CurrentActor) -> PersonalTokenOut:
    row = service.revoke_token(session, token_id, actor=actor)
    out = PersonalTokenOut.model_validate(row)
    session.commit()
    return out
