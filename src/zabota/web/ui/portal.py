"""The customer portal: my requests, a new request, the conversation, close or reopen."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import Response

from zabota.core.errors import Forbidden, ZabotaError
from zabota.core.i18n import N_, _
from zabota.identity.permissions import Actor
from zabota.kb import analytics as kb_analytics
from zabota.tickets import service as tickets
from zabota.tickets.models import Channel, Status
from zabota.web.deps import PathId, SettingsDep
from zabota.web.ui.common import (
    UIActor,
    UISession,
    check_csrf,
    error_text,
    field_errors,
    redirect,
    render,
    store_uploads,
)
from zabota.web.ui.help import VISITOR_COOKIE

router = APIRouter(prefix="/portal")

# What the customer reads: plain words, never our internal status names.
CUSTOMER_STATUS = {
    Status.NEW: N_("We are working on your request"),
    Status.OPEN: N_("We are working on your request"),
    Status.ON_HOLD: N_("We are working on your request"),
    Status.PENDING: N_("We are waiting for your reply"),
    Status.SOLVED: N_("Solved"),
    Status.CLOSED: N_("Closed"),
}


def _customer(actor: Actor) -> Actor:
    if not actor.is_customer:
        raise Forbidden(_("The portal is for customers; agents work in the workspace"))
    return actor


@router.get("")
def my_requests(request: Request, session: UISession, actor: UIActor) -> Response:
    if actor.is_staff:
        return redirect("/agent")
    rows, _cursor = tickets.list_tickets(session, tickets.TicketFilter(), actor=_customer(actor),
                                         sort="-updated_at", limit=100)
    return render(request, "portal/list.html", {"tickets": rows, "words": CUSTOMER_STATUS})


@router.get("/new")
def new_request_form(request: Request, actor: UIActor) -> Response:
    _customer(actor)
    return render(request, "portal/new.html", {"form": {}, "errors": {}})


@router.post("/new")
def create_request(request: Request, session: UISession, actor: UIActor,
                   settings: SettingsDep,
                   subject: Annotated[str, Form(max_length=1000)] = "",
                   description: Annotated[str, Form(max_length=100_000)] = "",
                   files: Annotated[list[UploadFile] | None, File()] = None,
                   csrf_token: Annotated[str, Form()] = "") -> Response:
    customer = _customer(actor)
    check_csrf(request, csrf_token)
    form = {"subject": subject, "description": description}
    errors: dict[str, str] = {}
    if not subject.strip():
        errors["subject"] = _("This field is required")
    elif len(subject.strip()) > 300:
        errors["subject"] = _("Enter at most {n} characters").format(n=300)
    if not description.strip():
        errors["description"] = _("Describe the problem so we can help")
    if errors:
        return render(request, "portal/new.html", {"form": form, "errors": errors,
                                                   "error": _("Some fields are not valid")},
                      status_code=422)
    try:
        attachment_ids = store_uploads(session, customer, files, settings)
        ticket = tickets.create_ticket(session, actor=customer, subject=subject,
                                       message=tickets.NewMessage(
                                           text=description, attachment_ids=attachment_ids),
                                       channel=Channel.PORTAL)
        # What this browser read before signing in counts towards the deflection report.
        kb_analytics.link_ticket(session, ticket_id=ticket.id, at=ticket.created_at,
                                 visitor_id=request.cookies.get(VISITOR_COOKIE))
        session.commit()
    except ZabotaError as exc:
        session.rollback()
        return render(request, "portal/new.html", {"form": form, "errors": field_errors(exc),
                                                   "error": error_text(exc)},
                      status_code=exc.status)
    return redirect(f"/portal/requests/{ticket.id}")


def _request_context(session: UISession, actor: Actor, ticket_id: int) -> dict[str, Any]:
    ticket = tickets.get_ticket_for(session, actor, ticket_id)
    return {"ticket": ticket, "messages": tickets.list_messages(session, ticket_id, actor=actor),
            "words": CUSTOMER_STATUS, "form": {}}


@router.get("/requests/{ticket_id}")
def request_page(ticket_id: PathId, request: Request, session: UISession,
                 actor: UIActor) -> Response:
    return render(request, "portal/request.html",
                  _request_context(session, _customer(actor), ticket_id))


@router.post("/requests/{ticket_id}/comment")
def comment(ticket_id: PathId, request: Request, session: UISession, actor: UIActor,
            settings: SettingsDep,
            text: Annotated[str, Form(max_length=100_000)] = "",
            files: Annotated[list[UploadFile] | None, File()] = None,
            csrf_token: Annotated[str, Form()] = "") -> Response:
    customer = _customer(actor)
    check_csrf(request, csrf_token)
    try:
        attachment_ids = store_uploads(session, customer, files, settings)
        tickets.add_message(session, ticket_id, tickets.NewMessage(
            text=text, attachment_ids=attachment_ids), actor=customer, channel=Channel.PORTAL)
        session.commit()
    except ZabotaError as exc:
        session.rollback()
        context = _request_context(session, customer, ticket_id)
        context.update(error=error_text(exc), form={"text": text})
        return render(request, "portal/request.html", context, status_code=exc.status)
    return redirect(f"/portal/requests/{ticket_id}")


@router.post("/requests/{ticket_id}/status")
def change_status(ticket_id: PathId, request: Request, session: UISession, actor: UIActor,
                  status: Annotated[str, Form(max_length=16)] = "",
                  csrf_token: Annotated[str, Form()] = "") -> Response:
    customer = _customer(actor)
    check_csrf(request, csrf_token)
    try:
        tickets.update_ticket(session, ticket_id, {"status": Status(status)}, actor=customer)
        session.commit()
    except (ZabotaError, ValueError) as exc:
        session.rollback()
        context = _request_context(session, customer, ticket_id)
        context["error"] = error_text(exc) if isinstance(exc, ZabotaError) else _(
            "This status change is not allowed")
        return render(request, "portal/request.html", context, status_code=409)
    return redirect(f"/portal/requests/{ticket_id}")
