"""The agent workspace: inbox views, the ticket page, replies and changes, live updates."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, File, Form, Query, Request, UploadFile
from fastapi.responses import JSONResponse, Response, StreamingResponse

from zabota.automation import service as automation
from zabota.channels import outbound
from zabota.core.db import Database
from zabota.core.errors import ZabotaError, field_error
from zabota.core.i18n import N_, _, get_language
from zabota.core.presence import PresenceBoard
from zabota.identity import service as identity
from zabota.identity.permissions import Actor
from zabota.routing import service as routing
from zabota.tickets import export as ticket_export
from zabota.tickets import service as tickets
from zabota.tickets.models import Channel, Priority, Status
from zabota.web.deps import PathId, QueryId, SettingsDep, SmallPathId
from zabota.web.ui.common import (
    StaffActor,
    UISession,
    check_csrf,
    error_text,
    field_errors,
    redirect,
    render,
    store_uploads,
)
from zabota.web.ui.history import history

router = APIRouter(prefix="/agent")
SORT_LABELS = {"-updated_at": N_("Recently updated first"),
               "updated_at": N_("Oldest update first"),
               "-created_at": N_("Newest first"), "created_at": N_("Oldest first")}
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
WORKING = [Status.NEW, Status.OPEN, Status.PENDING, Status.ON_HOLD]
VIEWS: dict[str, tuple[str, dict[str, Any]]] = {
    "mine": (N_("My open"), {"status": WORKING}),
    "unassigned": (N_("Unassigned in my teams"), {"status": [Status.NEW, Status.OPEN],
                                                  "unassigned": True}),
    "open": (N_("All open"), {"status": [Status.NEW, Status.OPEN]}),
    "pending": (N_("Pending"), {"status": [Status.PENDING, Status.ON_HOLD]}),
    "solved": (N_("Recently solved"), {"status": [Status.SOLVED]}),
}


@dataclass
class InboxQuery:
    """The inbox's URL parameters: a view plus optional filters, all from the query string."""

    view: str = "mine"
    q: str = ""
    status: list[str] = field(default_factory=list)
    priority: list[str] = field(default_factory=list)
    team_id: str = ""
    assignee_id: str = ""
    channel: str = ""
    tag: str = ""
    category: str = ""
    created_from: str = ""
    created_to: str = ""
    sort: str = "-updated_at"

    def to_filter(self, actor: Actor) -> tickets.TicketFilter:
        """Raises ValueError on a malformed value; the page then says which."""
        view = self.view if self.view in VIEWS else "mine"
        _title, params = VIEWS[view]
        flt = tickets.TicketFilter(**params, q=self.q or None)
        if view == "mine":
            flt.assignee_id = actor.id
        if self.status:
            flt.status = [Status(s) for s in self.status]
        if self.priority:
            flt.priority = [Priority(p) for p in self.priority]
        if self.team_id:
            flt.team_id = int(self.team_id)
        if self.assignee_id:
            flt.assignee_id = int(self.assignee_id)
        if self.channel:
            flt.channel = Channel(self.channel)
        flt.tag = self.tag or None
        flt.category = self.category or None
        if self.created_from:
            flt.created_from = datetime.combine(date.fromisoformat(self.created_from), time(),
                                                tzinfo=UTC)
        if self.created_to:
            flt.created_to = datetime.combine(date.fromisoformat(self.created_to), time(),
                                              tzinfo=UTC) + timedelta(days=1)
        return flt

    def params(self, **override: str) -> str:
        values = {k: v for k, v in asdict(self).items() if v}
        values.update({k: v for k, v in override.items()})
        return urlencode({k: v for k, v in values.items() if v}, doseq=True)


def inbox_query(view: str = "mine", q: Annotated[str, Query(max_length=200)] = "",
                status: Annotated[list[str] | None, Query(max_length=8)] = None,
                priority: Annotated[list[str] | None, Query(max_length=4)] = None,
                team_id: Annotated[str, Query(max_length=20)] = "",
                assignee_id: Annotated[str, Query(max_length=20)] = "",
                channel: Annotated[str, Query(max_length=16)] = "",
                tag: Annotated[str, Query(max_length=64)] = "",
                category: Annotated[str, Query(max_length=100)] = "",
                created_from: Annotated[str, Query(max_length=10)] = "",
                created_to: Annotated[str, Query(max_length=10)] = "",
                sort: Annotated[str, Query(max_length=20)] = "-updated_at") -> InboxQuery:
    return InboxQuery(view, q, status or [], priority or [], team_id, assignee_id, channel, tag,
                      category, created_from, created_to,
                      sort if sort in SORT_LABELS else "-updated_at")


InboxParams = Annotated[InboxQuery, Depends(inbox_query)]


def _inbox_context(session: UISession, actor: Actor, query: InboxQuery,
                   cursor: str | None) -> dict[str, Any]:
    try:
        flt = query.to_filter(actor)
        rows, next_cursor = tickets.list_tickets(session, flt, actor=actor, cursor=cursor,
                                                 sort=query.sort, limit=25)
        error = None
    except ValueError:
        rows, next_cursor, error = [], None, _("Some filter values are not valid")
    customers = identity.customers_by_id(session, {t.customer_id for t in rows}, actor=actor)
    users = {u.id: u for u in identity.list_users(session, actor=actor)}
    seen = tickets.seen_times(session, actor, [t.id for t in rows])
    counts = {key: tickets.count_tickets(session, InboxQuery(view=key).to_filter(actor),
                                         actor=actor) for key in VIEWS}
    return {"tickets": rows, "next_cursor": next_cursor, "customers": customers, "seen": seen,
            "saved": tickets.saved_views(session, actor),
            "users": users, "view": query.view if query.view in VIEWS else "mine",
            "views": VIEWS, "q": query.q, "query": query, "counts": counts,
            "teams": identity.list_teams(session, actor=actor), "statuses": list(Status),
            "priorities": list(Priority), "channels": list(Channel), "error": error,
            "sorts": SORT_LABELS}


@router.get("")
def inbox(request: Request, session: UISession, actor: StaffActor, query: InboxParams,
          cursor: Annotated[str | None, Query(max_length=500)] = None,
          done: Annotated[str | None, Query(max_length=20)] = None,
          failed: int | None = None, done_ticket: QueryId = None) -> Response:
    try:
        context = _inbox_context(session, actor, query, cursor)
    except ZabotaError as exc:
        context = {**_inbox_context(session, actor, query, None), "error": error_text(exc)}
    if done is not None and done.isdigit():  # a bulk change
        context["notice"] = _("Updated: {done}, not changed: {failed}").format(
            done=done, failed=failed or 0)
    elif done is not None and done_ticket is not None and done in DONE:
        context["notice"] = _done_notice(done_ticket, done)
    return render(request, "agent/inbox.html", context)


@router.get("/rows")
def inbox_rows(request: Request, session: UISession, actor: StaffActor,
               query: InboxParams) -> Response:
    """The inbox table alone, for live refresh."""
    return render(request, "agent/_rows.html", _inbox_context(session, actor, query, None))


@router.get("/export.{fmt}")
def export(fmt: str, session: UISession, actor: StaffActor, query: InboxParams) -> Response:
    """The current view as CSV or XLSX, one row per ticket with its custom fields."""
    try:
        header, rows = ticket_export.ticket_rows(session, query.to_filter(actor), actor=actor,
                                                 sort=query.sort)
    except ValueError:
        raise ZabotaError(_("Some filter values are not valid")) from None
    if fmt == "csv":
        return Response(ticket_export.to_csv(header, rows), media_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition": 'attachment; filename="tickets.csv"'})
    if fmt == "xlsx":
        return Response(ticket_export.to_xlsx(header, rows), media_type=XLSX, headers={
            "Content-Disposition": 'attachment; filename="tickets.xlsx"'})
    raise ZabotaError(_("Export as csv or xlsx"))


@router.post("/views")
def save_view(request: Request, session: UISession, actor: StaffActor,
              name: Annotated[str, Form(max_length=200)] = "",
              params: Annotated[str, Form(max_length=2000)] = "",
              csrf_token: Annotated[str, Form()] = "") -> Response:
    check_csrf(request, csrf_token)
    try:
        tickets.save_view(session, actor, name=name, params=params)
        session.commit()
    except ZabotaError as exc:
        session.rollback()
        context = _inbox_context(session, actor, InboxQuery(), None)
        context["error"] = error_text(exc)
        return render(request, "agent/inbox.html", context, status_code=exc.status)
    return redirect(f"/agent?{params}")


@router.post("/views/{view_id}/delete")
def delete_view(view_id: SmallPathId, request: Request, session: UISession, actor: StaffActor,
                csrf_token: Annotated[str, Form()] = "") -> Response:
    check_csrf(request, csrf_token)
    tickets.delete_view(session, actor, view_id)
    session.commit()
    return redirect("/agent")


@router.post("/bulk")
def bulk(request: Request, session: UISession, actor: StaffActor,
         ids: Annotated[list[int] | None, Form()] = None,
         status: Annotated[str, Form(max_length=16)] = "",
         assignee_id: Annotated[str, Form(max_length=20)] = "",
         add_tag: Annotated[str, Form(max_length=64)] = "",
         back: Annotated[str, Form(max_length=2000)] = "",
         csrf_token: Annotated[str, Form()] = "") -> Response:
    check_csrf(request, csrf_token)
    changes: dict[str, Any] = {}
    try:
        if status:
            changes["status"] = Status(status)
        if assignee_id:
            changes["assignee_id"] = None if assignee_id == "none" else int(assignee_id)
    except ValueError:
        raise ZabotaError(_("Some fields are not valid")) from None
    if add_tag.strip():
        changes["add_tags"] = [add_tag.strip()]
    results = tickets.bulk_update(session, ids or [], changes, actor=actor) if changes else []
    session.commit()
    done = sum(r.ok for r in results)
    target = back if back.startswith("/agent") else "/agent"
    separator = "&" if "?" in target else "?"
    return redirect(f"{target}{separator}done={done}&failed={len(results) - done}")


def _ticket_context(session: UISession, actor: Actor, ticket_id: int) -> dict[str, Any]:
    ticket = tickets.get_ticket_for(session, actor, ticket_id)
    messages = tickets.list_messages(session, ticket_id, actor=actor)
    events = tickets.list_events(session, ticket_id, actor=actor)
    customer = identity.get_customer(session, ticket.customer_id, actor=actor)
    others, _cursor = tickets.list_tickets(
        session, tickets.TicketFilter(customer_id=customer.id), actor=actor, limit=10)
    return {
        "ticket": ticket, "messages": messages, "events": events, "customer": customer,
        "history": history(session, events),
        "reply_channels": outbound.reply_options(session, ticket),
        "deliveries": outbound.deliveries_of(session, [m.id for m in messages]),
        "other_tickets": [t for t in others if t.id != ticket.id],
        "users": {u.id: u for u in identity.list_users(session, actor=actor)},
        "teams": identity.list_teams(session, actor=actor),
        "field_defs": [f for f in tickets.list_field_defs(session) if f.is_active],
        "statuses": [Status(s) for s in [ticket.status, *tickets.TRANSITIONS[ticket.status]]],
        "priorities": list(Priority),
        "last_event_id": events[-1].id if events else 0,
        "triage": routing.triage_view(session, ticket, lang=get_language()),
    }


# What an action on a ticket says when it is done (`?done=` after the redirect).
DONE = {"saved": N_("saved"), "sent": N_("the message is added"),
        "transferred": N_("transferred"), "escalated": N_("escalated to the next line"),
        "merged": N_("merged")}


def _done_notice(ticket_id: int, done: str) -> str:
    return _("Ticket #{number}: {done}").format(number=ticket_id, done=_(DONE[done]))


@router.get("/tickets/{ticket_id}")
def ticket_page(ticket_id: PathId, request: Request, session: UISession,
                actor: StaffActor, done: Annotated[str | None, Query(max_length=20)] = None,
                ) -> Response:
    context = _ticket_context(session, actor, ticket_id)
    if done in DONE:
        context["notice"] = _done_notice(ticket_id, done)
    tickets.mark_seen(session, actor, ticket_id)
    session.commit()
    return render(request, "agent/ticket.html", context)


@router.post("/tickets/{ticket_id}/presence")
def presence(ticket_id: PathId, request: Request, session: UISession, actor: StaffActor,
             state: Annotated[str, Form(max_length=16)] = "viewing",
             csrf_token: Annotated[str, Form()] = "") -> JSONResponse:
    """Heartbeat of the ticket page; answers who else is viewing or replying."""
    check_csrf(request, csrf_token)
    tickets.get_ticket_for(session, actor, ticket_id)
    board: PresenceBoard = request.app.state.presence
    board.beat(ticket_id, actor.id, actor.name, "replying" if state == "replying" else "viewing")
    return JSONResponse({"others": board.others(ticket_id, actor.id)})


@router.get("/notifications")
def notifications_page(request: Request, session: UISession, actor: StaffActor) -> Response:
    items = automation.list_notifications(session, actor)
    prefs = {kind: automation.preference(session, actor.id, kind)
             for kind in automation.KIND_LABELS}
    return render(request, "agent/notifications.html", {
        "items": items, "texts": automation.notification_texts(session, items),
        "prefs": prefs, "labels": automation.KIND_LABELS})


@router.post("/notifications/read")
def notifications_read(request: Request, session: UISession, actor: StaffActor,
                       csrf_token: Annotated[str, Form()] = "") -> Response:
    check_csrf(request, csrf_token)
    automation.mark_read(session, actor)
    session.commit()
    return redirect("/agent/notifications")


@router.post("/notifications/preferences")
async def notification_preferences(request: Request, actor: StaffActor) -> Response:
    form = await request.form()
    check_csrf(request, str(form.get("csrf_token", "")))
    choices = {kind: (f"{kind.value}:app" in form, f"{kind.value}:email" in form)
               for kind in automation.KIND_LABELS}
    database: Database = request.app.state.database

    def save() -> None:
        with database.sessions() as session:
            automation.set_preferences(session, actor, choices)
            session.commit()

    await asyncio.to_thread(save)
    return redirect("/agent/notifications")


@router.get("/tickets/{ticket_id}/timeline")
def ticket_timeline(ticket_id: PathId, request: Request, session: UISession,
                    actor: StaffActor) -> Response:
    return render(request, "agent/_timeline.html", _ticket_context(session, actor, ticket_id))


def _rerender(request: Request, session: UISession, actor: Actor, ticket_id: int,
              exc: ZabotaError, form: dict[str, Any]) -> Response:
    session.rollback()
    context = _ticket_context(session, actor, ticket_id)
    context.update(error=error_text(exc), errors=field_errors(exc), form=form)
    return render(request, "agent/ticket.html", context, status_code=exc.status)


def _reply_channel(session: UISession, actor: Actor, ticket_id: int, value: str,
                   internal: bool) -> Channel | None:
    """The channel the agent picked, if the customer can be reached on it."""
    if internal or not value:
        return None
    ticket = tickets.get_ticket_for(session, actor, ticket_id)
    options = outbound.reply_options(session, ticket)
    if value not in {c.value for c in options}:
        raise field_error("channel", _("The customer cannot be reached on this channel"))
    return Channel(value)


@router.post("/tickets/{ticket_id}/reply")
def reply(ticket_id: PathId, request: Request, session: UISession, actor: StaffActor,
          settings: SettingsDep,
          text: Annotated[str, Form(max_length=100_000)] = "",
          internal: Annotated[bool, Form()] = False,
          status: Annotated[str, Form(max_length=16)] = "",
          channel: Annotated[str, Form(max_length=16)] = "",
          files: Annotated[list[UploadFile] | None, File()] = None,
          csrf_token: Annotated[str, Form()] = "") -> Response:
    check_csrf(request, csrf_token)
    try:
        via = _reply_channel(session, actor, ticket_id, channel, internal)
        attachment_ids = store_uploads(session, actor, files, settings)
        tickets.add_message(session, ticket_id, tickets.NewMessage(
            text=text, is_internal=internal, attachment_ids=attachment_ids), actor=actor,
            channel=via)
        if status:
            tickets.update_ticket(session, ticket_id, {"status": Status(status)}, actor=actor)
        session.commit()
    except ZabotaError as exc:
        return _rerender(request, session, actor, ticket_id, exc,
                         {"text": text, "internal": internal, "status": status})
    except ValueError:
        return _rerender(request, session, actor, ticket_id,
                         ZabotaError(_("Unknown status")), {"text": text, "internal": internal})
    return redirect(f"/agent/tickets/{ticket_id}?done=sent")


@router.post("/customers/{customer_id}/notes")
def customer_notes(customer_id: PathId, request: Request, session: UISession, actor: StaffActor,
                   notes: Annotated[str, Form(max_length=10_000)] = "",
                   back: Annotated[str, Form(max_length=200)] = "/agent",
                   csrf_token: Annotated[str, Form()] = "") -> Response:
    """Notes about the customer, kept on the customer and shown next to every ticket."""
    check_csrf(request, csrf_token)
    identity.update_customer(session, customer_id, actor=actor, notes=notes.strip())
    session.commit()
    return redirect(back if back.startswith("/agent/") else "/agent")


@router.post("/tickets/{ticket_id}/update")
def update(ticket_id: PathId, request: Request, session: UISession, actor: StaffActor,
           status: Annotated[str, Form(max_length=16)] = "",
           priority: Annotated[str, Form(max_length=16)] = "",
           assignee_id: Annotated[str, Form(max_length=20)] = "",
           tags: Annotated[str, Form(max_length=1000)] = "",
           csrf_token: Annotated[str, Form()] = "") -> Response:
    check_csrf(request, csrf_token)
    form = {"status": status, "priority": priority, "assignee_id": assignee_id, "tags": tags}
    try:
        changes: dict[str, Any] = {"status": Status(status), "priority": Priority(priority),
                                   "assignee_id": int(assignee_id) if assignee_id else None,
                                   "tags": [t for t in tags.replace(",", " ").split() if t]}
        tickets.update_ticket(session, ticket_id, changes, actor=actor)
        session.commit()
    except ValueError:
        return _rerender(request, session, actor, ticket_id,
                         ZabotaError(_("Some fields are not valid")), form)
    except ZabotaError as exc:
        return _rerender(request, session, actor, ticket_id, exc, form)
    return redirect(f"/agent/tickets/{ticket_id}?done=saved")


@router.post("/tickets/{ticket_id}/transfer")
def transfer(ticket_id: PathId, request: Request, session: UISession, actor: StaffActor,
             team_id: Annotated[str, Form(max_length=20)] = "",
             reason: Annotated[str, Form(max_length=500)] = "",
             csrf_token: Annotated[str, Form()] = "") -> Response:
    check_csrf(request, csrf_token)
    form = {"team_id": team_id, "reason": reason}
    try:
        if not reason.strip():
            raise ZabotaError(_("Say why the ticket is transferred"),
                              errors=[{"field": "reason", "message": _("This field is required")}])
        tickets.transfer_ticket(session, ticket_id, actor=actor, reason=reason.strip(),
                                team_id=int(team_id) if team_id else None)
        session.commit()
    except ValueError:
        return _rerender(request, session, actor, ticket_id,
                         ZabotaError(_("Choose a team")), form)
    except ZabotaError as exc:
        return _rerender(request, session, actor, ticket_id, exc, form)
    if tickets.visible_ticket_exists(session, actor, ticket_id):
        return redirect(f"/agent/tickets/{ticket_id}?done=transferred")
    return redirect(f"/agent?done_ticket={ticket_id}&done=transferred")


@router.post("/tickets/{ticket_id}/escalate")
def escalate(ticket_id: PathId, request: Request, session: UISession, actor: StaffActor,
             reason: Annotated[str, Form(max_length=500)] = "",
             csrf_token: Annotated[str, Form()] = "") -> Response:
    check_csrf(request, csrf_token)
    try:
        if not reason.strip():
            raise ZabotaError(_("Say why the ticket is escalated"),
                              errors=[{"field": "reason", "message": _("This field is required")}])
        tickets.escalate_ticket(session, ticket_id, actor=actor, reason=reason.strip())
        session.commit()
    except ZabotaError as exc:
        return _rerender(request, session, actor, ticket_id, exc, {"escalate_reason": reason})
    if tickets.visible_ticket_exists(session, actor, ticket_id):
        return redirect(f"/agent/tickets/{ticket_id}?done=escalated")
    return redirect(f"/agent?done_ticket={ticket_id}&done=escalated")


@router.post("/tickets/{ticket_id}/merge")
def merge(ticket_id: PathId, request: Request, session: UISession, actor: StaffActor,
          source_id: Annotated[str, Form(max_length=20)] = "",
          csrf_token: Annotated[str, Form()] = "") -> Response:
    check_csrf(request, csrf_token)
    try:
        number = int(source_id.strip().lstrip("#"))
    except ValueError:
        return _rerender(request, session, actor, ticket_id, ZabotaError(
            _("Enter the number of a ticket")), {"source_id": source_id})
    try:
        tickets.merge_tickets(session, number, ticket_id, actor=actor)
        session.commit()
    except ZabotaError as exc:
        return _rerender(request, session, actor, ticket_id, exc, {"source_id": source_id})
    return redirect(f"/agent/tickets/{ticket_id}?done=merged")


@router.post("/tickets/{ticket_id}/fields")
async def custom_fields(ticket_id: PathId, request: Request, actor: StaffActor) -> Response:
    """The ticket's custom fields; typed values are checked by the service, per field."""
    form = await request.form()
    check_csrf(request, str(form.get("csrf_token", "")))
    raw = {key[3:]: str(value) for key, value in form.items() if key.startswith("cf_")}
    database: Database = request.app.state.database

    def save() -> Response:
        with database.sessions() as session:
            defs = {f.key: f for f in tickets.list_field_defs(session)}
            values = {key: _typed(defs[key].type.value, value) if value != "" else None
                      for key, value in raw.items() if key in defs}
            try:
                tickets.update_ticket(session, ticket_id, {"custom_fields": values},
                                      actor=actor)
                session.commit()
            except ZabotaError as exc:
                return _rerender(request, session, actor, ticket_id, exc,
                                 {f"cf_{k}": v for k, v in raw.items()})
        return redirect(f"/agent/tickets/{ticket_id}?done=saved")

    return await asyncio.to_thread(save)


def _typed(kind: str, value: str) -> object:
    """Form text to the JSON type the field expects; a bad number stays text and is refused."""
    if kind == "number":
        try:
            return int(value) if value.lstrip("-").isdigit() else float(value.replace(",", "."))
        except ValueError:
            return value
    if kind == "boolean":
        return {"true": True, "false": False}.get(value, value)
    return value


@router.get("/live")
async def live(request: Request, actor: StaffActor, after: int = 0) -> StreamingResponse:
    """Server-sent events: the ids of tickets the agent can see that changed since `after`."""
    database: Database = request.app.state.database

    async def stream() -> AsyncIterator[str]:
        last = after if after > 0 else -1
        yield "retry: 3000\n\n"
        while not await request.is_disconnected():
            def poll(after_event_id: int = last) -> tuple[int, list[int]]:
                with database.read_sessions() as session:
                    return tickets.changed_since(session, actor=actor,
                                                 after_event_id=after_event_id)

            newest, changed = await asyncio.to_thread(poll)
            if changed:
                payload = json.dumps({"tickets": changed, "last": newest})
                yield f"event: changed\ndata: {payload}\n\n"
            last = newest
            await asyncio.sleep(1.5)

    return StreamingResponse(stream(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-store"})
