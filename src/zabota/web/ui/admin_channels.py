"""Admin pages for channels: accounts with their health and a connection test, the quarantine
of inbound input we could not take, and replies that could not be delivered."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response
from itsdangerous import BadSignature
from sqlalchemy.orm import Session

from zabota.channels import outbound
from zabota.channels import service as channels
from zabota.channels.config import CONFIG_FIELDS, KIND_NAMES, KINDS, parse_config
from zabota.channels.models import ChannelAccount, DeliveryStatus
from zabota.core.db import Database
from zabota.core.errors import Forbidden, InvalidInput, NotFound, ZabotaError, field_error
from zabota.core.i18n import _
from zabota.identity import service as identity
from zabota.identity.permissions import Actor, Permission
from zabota.tickets.models import Channel
from zabota.web.deps import PathId, SmallPathId
from zabota.web.ui.admin import AreaActor, Csrf, _page
from zabota.web.ui.auth import timed_serializer
from zabota.web.ui.common import UISession, check_csrf, error_text, field_errors, redirect

router = APIRouter(prefix="/admin/channels")

# Where each kind's platform calls us; shown next to the account so an admin can paste it.
HOOK_PATHS = {
    Channel.TELEGRAM: "/api/v1/channels/telegram/{id}/webhook",
    Channel.VK: "/api/v1/channels/vk/{id}/callback",
    Channel.WHATSAPP: "/api/v1/channels/whatsapp/{id}/webhook",
    Channel.PHONE: "/api/v1/channels/phone/calls",
}


def _kind(value: str) -> Channel:
    try:
        kind = Channel(value)
    except ValueError:
        raise NotFound() from None
    if kind not in KINDS:
        raise NotFound()
    return kind


def _admin(actor: Actor) -> Actor:
    if not actor.can(Permission.MANAGE_SETTINGS):
        raise Forbidden()
    return actor


def _base_url(request: Request) -> str:
    public = request.app.state.settings.public_url
    return (public or str(request.base_url)).rstrip("/")


@router.get("")
def overview(request: Request, session: UISession, actor: AreaActor) -> Response:
    accounts = channels.list_accounts(session)
    teams = {team.id: team for team in identity.list_teams(session, actor=actor)}
    return _page(request, actor, "channels.html", {
        "section": "channels", "accounts": accounts, "teams": teams, "kinds": KINDS,
        "kind_names": KIND_NAMES, "hooks": HOOK_PATHS, "base_url": _base_url(request),
        "quarantined": len(channels.list_quarantine(session)),
        "dead": len(outbound.list_deliveries(session, status=DeliveryStatus.DEAD)),
        "message": _notice(request),
    })


def _form_page(request: Request, session: Session, actor: Actor, kind: Channel,
               account: ChannelAccount | None, form: dict[str, Any], *,
               failed: ZabotaError | None = None) -> Response:
    teams = identity.list_teams(session, actor=actor)
    return _page(request, actor, "channel_form.html", {
        "section": "channels", "kind": kind, "kind_names": KIND_NAMES, "account": account,
        "fields": CONFIG_FIELDS[kind], "form": form,
        "teams": [("", _("No team"))] + [(str(t.id), t.name) for t in teams],
        "error": error_text(failed) if failed else None,
        "errors": field_errors(failed) if failed else {},
    }, status_code=failed.status if failed else 200)


def _values(account: ChannelAccount) -> dict[str, Any]:
    specs = CONFIG_FIELDS[account.kind]
    config = {f"config.{s.key}": "\n".join(account.config.get(s.key) or [])
              if s.kind == "lines" else account.config.get(s.key)
              for s in specs if s.kind != "secret"}
    return {"name": account.name, "address": account.address or "",
            "team_id": str(account.team_id or ""), "enabled": account.enabled, **config}


@router.get("/new/{kind}")
def new_account(kind: str, request: Request, session: UISession,
                actor: AreaActor) -> Response:
    channel = _kind(kind)
    defaults = {f"config.{s.key}": s.default for s in CONFIG_FIELDS[channel]
                if s.default is not None}
    return _form_page(request, session, _admin(actor), channel, None,
                      {"enabled": True, **defaults})


async def _submitted(request: Request) -> dict[str, str]:
    form = await request.form()
    check_csrf(request, str(form.get("csrf_token", "")))
    return {key: str(value)[:4000] for key, value in form.items() if isinstance(value, str)}


def _team_id(value: str) -> int | None:
    if not value.strip():
        return None
    try:
        return int(value)
    except ValueError:
        raise field_error("team_id", _("Choose a team from the list")) from None


def _save(session: Session, actor: Actor, kind: Channel, account: ChannelAccount | None,
          form: dict[str, str]) -> ChannelAccount:
    config_form = {key.removeprefix("config."): value for key, value in form.items()
                   if key.startswith("config.")}
    problems: list[dict[str, str]] = []
    config: dict[str, Any] = {}
    try:
        config = parse_config(kind, config_form, current=account.config if account else None)
    except InvalidInput as exc:
        problems.extend(exc.data.get("errors", []))  # type: ignore[arg-type]
    if not form.get("name", "").strip():
        problems.append({"field": "name", "message": _("This field is required")})
    if problems:
        raise InvalidInput(errors=problems)
    name, address = form["name"].strip()[:100], form.get("address", "")[:255]
    team_id, enabled = _team_id(form.get("team_id", "")), form.get("enabled") == "true"
    if account is None:
        return channels.create_account(session, actor=actor, kind=kind, name=name,
                                       address=address, team_id=team_id, enabled=enabled,
                                       config=config)
    return channels.update_account(session, account.id, actor=actor, name=name,
                                   address=address or None, team_id=team_id, enabled=enabled,
                                   config=config)


@router.post("/new/{kind}")
async def create_account(kind: str, request: Request, actor: AreaActor) -> Response:
    channel = _kind(kind)
    _admin(actor)
    form = await _submitted(request)
    return await asyncio.to_thread(_store, request, actor, channel, None, form)


@router.get("/{account_id:int}")
def account_page(account_id: SmallPathId, request: Request, session: UISession,
                 actor: AreaActor) -> Response:
    account = channels.get_account(session, account_id)
    return _form_page(request, session, _admin(actor), account.kind, account, _values(account))


@router.post("/{account_id:int}")
async def update_account(account_id: SmallPathId, request: Request, actor: AreaActor) -> Response:
    _admin(actor)
    form = await _submitted(request)
    return await asyncio.to_thread(_store, request, actor, None, account_id, form)


def _store(request: Request, actor: Actor, kind: Channel | None, account_id: int | None,
           form: dict[str, str]) -> Response:
    database: Database = request.app.state.database
    with database.sessions() as session:
        account = channels.get_account(session, account_id) if account_id else None
        channel = account.kind if account is not None else kind
        assert channel is not None
        try:
            saved = _save(session, actor, channel, account, form)
            session.commit()
        except ZabotaError as exc:
            session.rollback()
            return _form_page(request, session, actor, channel, account, form, failed=exc)
        return redirect(f"/admin/channels/{saved.id}?saved=1")


@router.post("/{account_id:int}/test")
async def test_connection(account_id: SmallPathId, request: Request, actor: AreaActor,
                          csrf_token: Csrf = "") -> Response:
    """Run the channel's own check (log in, call getMe, …) and keep the outcome as its health."""
    check_csrf(request, csrf_token)
    _admin(actor)
    database: Database = request.app.state.database
    with database.read_sessions() as session:
        account = channels.get_account(session, account_id)
        session.expunge(account)
    test = channels.connection_test_for(account.kind)
    if test is None:
        message, ok = _("This channel has no connection test."), False
    else:
        try:
            message, ok = await asyncio.to_thread(test, account), True
        except Exception as exc:  # the reason is what the admin needs to see
            message, ok = _("The connection failed: {reason}").format(
                reason=str(exc) or type(exc).__name__), False
    with database.session_scope() as session:
        if ok:
            channels.mark_success(session, account_id)
        elif test is not None:
            channels.mark_error(session, account_id, message)
    with database.read_sessions() as session:
        account = channels.get_account(session, account_id)
        return _page(request, actor, "channel_form.html", {
            "section": "channels", "kind": account.kind, "kind_names": KIND_NAMES,
            "account": account, "fields": CONFIG_FIELDS[account.kind],
            "form": _values(account), "errors": {},
            "teams": [("", _("No team"))] + [
                (str(t.id), t.name) for t in identity.list_teams(session, actor=actor)],
            "test_result": {"ok": ok, "message": message},
        })


# --- quarantine and undelivered replies -----------------------------------------------------


@router.get("/quarantine")
def quarantine(request: Request, session: UISession, actor: AreaActor) -> Response:
    rows = channels.list_quarantine(session)
    accounts = {a.id: a for a in channels.list_accounts(session)}
    return _page(request, actor, "channel_quarantine.html", {
        "section": "channels", "rows": rows, "accounts": accounts, "kind_names": KIND_NAMES,
        "message": _notice(request),
        "preview": {row.id: row.payload[:600].decode("utf-8", "replace") for row in rows},
    })


@router.post("/quarantine/{item_id}/{action}")
def quarantine_action(item_id: PathId, action: str, request: Request, session: UISession,
                      actor: AreaActor, csrf_token: Csrf = "") -> Response:
    check_csrf(request, csrf_token)
    if action not in ("release", "dismiss"):
        raise NotFound()
    try:
        if action == "release":
            channels.release(session, item_id, actor=actor)
            note = _("Taken in.")
        else:
            channels.dismiss(session, item_id, actor=actor)
            note = _("Dismissed.")
        session.commit()
    except ZabotaError as exc:
        session.commit()  # keep the new reason and attempt count of a failed release
        note = error_text(exc)
    return redirect(_with_notice(request, "/admin/channels/quarantine", note))


NOTICE_SALT = "channels-notice"


def _with_notice(request: Request, path: str, text: str) -> str:
    """`path` carrying a notice the page shows once: signed, so an address somebody else
    wrote cannot put words of theirs on an admin page."""
    from urllib.parse import quote

    signed = timed_serializer(request, NOTICE_SALT).dumps(text[:300])
    return f"{path}?message={quote(signed)}"


def _notice(request: Request) -> str | None:
    value = request.query_params.get("message")
    if not value:
        return None
    try:
        return str(timed_serializer(request, NOTICE_SALT).loads(value, max_age=300))
    except BadSignature:
        return None


@router.get("/deliveries")
def deliveries(request: Request, session: UISession, actor: AreaActor,
               status: str = "dead") -> Response:
    try:
        wanted = DeliveryStatus(status)
    except ValueError:
        wanted = DeliveryStatus.DEAD
    return _page(request, actor, "channel_deliveries.html", {
        "section": "channels", "rows": outbound.list_deliveries(session, status=wanted),
        "status": wanted, "statuses": list(DeliveryStatus), "kind_names": KIND_NAMES,
        "message": _notice(request),
    })


@router.post("/deliveries/replay")
def replay(request: Request, session: UISession, actor: AreaActor,
           ids: Annotated[list[int] | None, Form()] = None, csrf_token: Csrf = "") -> Response:
    check_csrf(request, csrf_token)
    _admin(actor)
    replayed = outbound.replay_dead(session, ids)
    session.commit()
    note = _("{count} replies are being sent again.").format(count=len(replayed))
    return redirect(_with_notice(request, "/admin/channels/deliveries", note))
