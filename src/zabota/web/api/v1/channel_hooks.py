"""Webhooks of Telegram, VK and WhatsApp, and the phone connector's call reports.

Each reads the raw body (signatures are computed over the bytes), lets the channel take it in,
commits, and answers in the form the platform needs: VK wants exactly `ok` or its confirmation
code, the others any 2xx. A refused body gets problem+json; a malformed but authentic one is
answered only after the commit that keeps it in quarantine.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse
from pydantic import ValidationError

from zabota.channels import hooks
from zabota.channels.hooks import Outcome, Result
from zabota.channels.phone import calls
from zabota.channels.telegram import intake as telegram
from zabota.channels.vk import intake as vk
from zabota.channels.whatsapp import intake as whatsapp
from zabota.web.deps import SessionDep, SettingsDep, SmallPathId

router = APIRouter(prefix="/channels", tags=["channels"])


async def raw_body(request: Request) -> bytes:
    """The body as sent, refused beyond `MAX_WEBHOOK_BYTES` without reading it all."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > hooks.MAX_WEBHOOK_BYTES:
        raise hooks.PayloadTooLarge()
    chunks: list[bytes] = []
    total = 0
    async for chunk in request.stream():
        total += len(chunk)
        if total > hooks.MAX_WEBHOOK_BYTES:
            raise hooks.PayloadTooLarge()
        chunks.append(chunk)
    return b"".join(chunks)


RawBody = Annotated[bytes, Depends(raw_body)]


def _summary(outcome: Outcome) -> dict[str, Any]:
    if outcome.rejection is not None:
        raise outcome.rejection
    body: dict[str, Any] = {"ok": True, "result": outcome.result.value}
    if outcome.ticket_id is not None:
        body.update(ticket_id=outcome.ticket_id, message_id=outcome.message_id,
                    created_ticket=outcome.created_ticket)
    if outcome.reason and outcome.result in (Result.IGNORED, Result.QUARANTINED):
        body["reason"] = outcome.reason
    return body


@router.post("/telegram/{account_id}/webhook")
def telegram_webhook(
    account_id: SmallPathId, payload: RawBody, session: SessionDep, settings: SettingsDep,
    secret: Annotated[str | None, Header(alias="X-Telegram-Bot-Api-Secret-Token")] = None,
) -> JSONResponse:
    """A Telegram update (set with `setWebhook` and a `secret_token`)."""
    outcome = telegram.receive_webhook(session, account_id, payload, secret=secret,
                                       settings=settings)
    session.commit()
    return JSONResponse(_summary(outcome))


@router.post("/vk/{account_id}/callback", response_class=PlainTextResponse)
def vk_callback(account_id: SmallPathId, payload: RawBody, session: SessionDep,
                settings: SettingsDep) -> PlainTextResponse:
    """A VK Callback API event: answered `ok`, or the confirmation code."""
    outcome = vk.receive_callback(session, account_id, payload, settings=settings)
    session.commit()
    _summary(outcome)
    return PlainTextResponse(outcome.answer if outcome.answer is not None else "ok")


@router.get("/whatsapp/{account_id}/webhook", response_class=PlainTextResponse)
def whatsapp_verify(
    account_id: SmallPathId, session: SessionDep,
    mode: Annotated[str | None, Query(alias="hub.mode", max_length=32)] = None,
    token: Annotated[str | None, Query(alias="hub.verify_token", max_length=512)] = None,
    challenge: Annotated[str | None, Query(alias="hub.challenge", max_length=512)] = None,
) -> PlainTextResponse:
    """Meta's subscription check: the challenge is echoed when the verify token fits."""
    return PlainTextResponse(whatsapp.verify_subscription(
        session, account_id, mode=mode, token=token, challenge=challenge))


@router.post("/whatsapp/{account_id}/webhook")
def whatsapp_webhook(
    account_id: SmallPathId, payload: RawBody, session: SessionDep, settings: SettingsDep,
    signature: Annotated[str | None, Header(alias="X-Hub-Signature-256")] = None,
) -> JSONResponse:
    """A WhatsApp Cloud API notification, signed with the app secret."""
    outcome = whatsapp.receive_notification(session, account_id, payload, signature=signature,
                                            settings=settings)
    session.commit()
    return JSONResponse(_summary(outcome))


@router.post("/phone/calls", openapi_extra={"requestBody": {"required": True, "content": {
    "application/json": {"schema": calls.CallIn.model_json_schema()}}}})
def phone_call(
    payload: RawBody, session: SessionDep, settings: SettingsDep,
    key: Annotated[str | None, Header(alias="X-Zabota-Key")] = None,
) -> JSONResponse:
    """A finished call reported by the PBX connector (authenticated by the account's key).
    201 when stored, 200 when the call id was stored before."""
    account = calls.account_for_key(session, key)
    try:
        call = calls.parse_call(payload)
    except ValidationError as exc:
        calls.keep_invalid(session, account, payload, exc)
        session.commit()
        raise RequestValidationError(exc.errors(include_url=False)) from None
    outcome = calls.record_call(session, account, call, payload, settings=settings)
    session.commit()
    body = _summary(outcome)
    return JSONResponse(body, status_code=201 if outcome.result == Result.STORED else 200)
