from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from sqlalchemy.orm import Session

from zabota.core.errors import field_named
from zabota.core.i18n import _
from zabota.tickets import service
from zabota.tickets.models import Channel, Priority, Status
from zabota.tickets.schemas import (
    AssignIn,
    BulkIn,
    BulkItemOut,
    BulkOut,
    EscalateIn,
    EventOut,
    ExportPage,
    MergeIn,
    MessageIn,
    MessageOut,
    TicketCreate,
    TicketOut,
    TicketPage,
    TicketUpdate,
    TransferIn,
)
from zabota.web.deps import CurrentActor, PathId, QueryId, SessionDep, StaffQueryId
from zabota.web.idempotency import run_idempotent, run_idempotent_batched

router = APIRouter(prefix="/tickets", tags=["tickets"])
Limit = Annotated[int, Query(ge=1, le=100)]


def _new_message(body: MessageIn) -> service.NewMessage:
    return service.NewMessage(text=body.text, html=body.html, is_internal=body.is_internal,
                              external_id=body.external_id, attachment_ids=body.attachment_ids)


@router.post("", status_code=201, response_model=TicketOut,
             responses={201: {"model": TicketOut}})
async def create_ticket(body: TicketCreate, request: Request,
                        actor: CurrentActor) -> JSONResponse:
    """Create a ticket with its first message; the customer may be given inline."""

    # Written through the group-commit writer (web.batching): tickets created at the same
    # moment share one transaction, each with its own answer or error.
    def produce(session: Session) -> tuple[int, dict[str, object]]:
        ticket = service.create_ticket(
            session, actor=actor, subject=body.subject, message=_new_message(body.message),
            channel=body.channel, customer_id=body.customer_id,
            customer_identities=body.customer.identity_pairs() if body.customer else (),
            customer_name=body.customer.name if body.customer else None,
            priority=body.priority, team_id=body.team_id, assignee_id=body.assignee_id,
            category=body.category, language=body.language, tags=body.tags,
            custom_fields=body.custom_fields,
        )
        return 201, TicketOut.model_validate(ticket).model_dump(mode="json")

    return await run_idempotent_batched(request, actor, body, produce)


@router.get("")
def list_tickets(
    session: SessionDep, actor: CurrentActor,
    status: Annotated[list[Status] | None, Query()] = None,
    priority: Annotated[list[Priority] | None, Query()] = None,
    team_id: StaffQueryId = None, assignee_id: StaffQueryId = None, unassigned: bool = False,
    customer_id: QueryId = None, organization_id: QueryId = None,
    channel: Channel | None = None, tag: Annotated[str | None, Query(max_length=64)] = None,
    category: Annotated[str | None, Query(max_length=100)] = None,
    created_from: datetime | None = None, created_to: datetime | None = None,
    updated_from: datetime | None = None, updated_to: datetime | None = None,
    q: Annotated[str | None, Query(max_length=500)] = None,
    sort: Annotated[str, Query(max_length=20)] = "-updated_at",
    cursor: Annotated[str | None, Query(max_length=500)] = None, limit: Limit = 25,
) -> TicketPage:
    """Visible tickets, filtered, in keyset pages: pass `next_cursor` back as `cursor`."""
    flt = service.TicketFilter(
        status=status or [], priority=priority or [], team_id=team_id, assignee_id=assignee_id,
        unassigned=unassigned, customer_id=customer_id, organization_id=organization_id,
        channel=channel, tag=tag, category=category, created_from=created_from,
        created_to=created_to, updated_from=updated_from, updated_to=updated_to, q=q)
    rows, next_cursor = service.list_tickets(session, flt, actor=actor, sort=sort,
                                             cursor=cursor, limit=limit)
    return TicketPage(items=[TicketOut.model_validate(t) for t in rows], next_cursor=next_cursor)


@router.get("/export")
def export_tickets(session: SessionDep, actor: CurrentActor,
                   since_cursor: Annotated[str | None, Query(max_length=40)] = None,
                   limit: Annotated[int, Query(ge=1, le=1000)] = 500) -> ExportPage:
    """Every ticket changed since the cursor, oldest change first; keep the returned cursor."""
    rows, cursor = service.export_changes(session, actor=actor, since_cursor=since_cursor,
                                          limit=limit)
    return ExportPage(items=[TicketOut.model_validate(t) for t in rows], next_cursor=cursor)


@router.post("/bulk")
def bulk_update(body: BulkIn, session: SessionDep, actor: CurrentActor) -> BulkOut:
    """The same change on many tickets; each result says whether it applied and why not."""
    results = service.bulk_update(session, body.ticket_ids,
                                  body.changes.model_dump(exclude_unset=True), actor=actor,
                                  reason=body.reason)
    session.commit()
    return BulkOut(results=[
        BulkItemOut(ticket_id=r.ticket_id, ok=r.ok, error=None if r.error is None else {
            "code": r.error.code, "status": r.error.status,
            "detail": r.error.detail or _(r.error.title)})
        for r in results])


@router.get("/{ticket_id}")
def get_ticket(ticket_id: PathId, session: SessionDep, actor: CurrentActor) -> TicketOut:
    return TicketOut.model_validate(service.get_ticket_for(session, actor, ticket_id))


@router.patch("/{ticket_id}")
def update_ticket(ticket_id: PathId, body: TicketUpdate, session: SessionDep,
                  actor: CurrentActor) -> TicketOut:
    ticket = service.update_ticket(session, ticket_id, body.changes(), actor=actor,
                                   reason=body.reason)
    out = TicketOut.model_validate(ticket)
    session.commit()
    return out


@router.post("/{ticket_id}/assign")
def assign(ticket_id: PathId, body: AssignIn, session: SessionDep,
           actor: CurrentActor) -> TicketOut:
    with field_named("agent_id", was="assignee_id"):
        ticket = service.assign_ticket(session, ticket_id, body.agent_id, actor=actor,
                                       reason=body.reason)
    out = TicketOut.model_validate(ticket)
    session.commit()
    return out


@router.post("/{ticket_id}/transfer")
def transfer(ticket_id: PathId, body: TransferIn, session: SessionDep,
             actor: CurrentActor) -> TicketOut:
    with field_named("agent_id", was="assignee_id"):
        ticket = service.transfer_ticket(session, ticket_id, actor=actor, reason=body.reason,
                                         team_id=body.team_id, agent_id=body.agent_id)
    out = TicketOut.model_validate(ticket)
    session.commit()
    return out


@router.post("/{ticket_id}/escalate")
def escalate(ticket_id: PathId, body: EscalateIn, session: SessionDep,
             actor: CurrentActor) -> TicketOut:
    ticket = service.escalate_ticket(session, ticket_id, actor=actor, reason=body.reason)
    out = TicketOut.model_validate(ticket)
    session.commit()
    return out


@router.post("/{ticket_id}/merge")
def merge(ticket_id: PathId, body: MergeIn, session: SessionDep, actor: CurrentActor) -> TicketOut:
    """Merge ticket `source_id` into this one."""
    ticket = service.merge_tickets(session, body.source_id, ticket_id, actor=actor,
                                   reason=body.reason)
    out = TicketOut.model_validate(ticket)
    session.commit()
    return out


@router.get("/{ticket_id}/messages")
def list_messages(ticket_id: PathId, session: SessionDep, actor: CurrentActor) -> list[MessageOut]:
    return [MessageOut.model_validate(m)
            for m in service.list_messages(session, ticket_id, actor=actor)]


@router.post("/{ticket_id}/messages", status_code=201, response_model=MessageOut,
             responses={201: {"model": MessageOut}})
def add_message(ticket_id: PathId, body: MessageIn, request: Request, session: SessionDep,
                actor: CurrentActor) -> JSONResponse:
    """A public reply or (staff only) an internal note. A known `external_id` is not stored
    twice."""

    def produce() -> tuple[int, dict[str, object]]:
        message = service.add_message(session, ticket_id, _new_message(body), actor=actor)
        return 201, MessageOut.model_validate(message).model_dump(mode="json")

    return run_idempotent(request, session, actor, body, produce)


@router.get("/{ticket_id}/events")
def list_events(ticket_id: PathId, session: SessionDep, actor: CurrentActor) -> list[EventOut]:
    return [EventOut.model_validate(e)
            for e in service.list_events(session, ticket_id, actor=actor)]
