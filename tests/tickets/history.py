"""Metrics recomputed from the event log alone, to check the denormalised columns."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa

from zabota.tickets.models import TicketEvent


def metrics_from_events(session: Any, ticket_id: int) -> dict[str, object]:
    events = session.scalars(sa.select(TicketEvent).where(TicketEvent.ticket_id == ticket_id)
                             .order_by(TicketEvent.id)).all()
    first_response: datetime | None = None
    solved_at: datetime | None = None
    status = None
    transfers = reopens = replies = 0
    for e in events:
        if e.kind == "created":
            status = e.data["status"]
        if e.kind == "message_added" and e.data["author_kind"] in ("agent", "bot") and not (
                e.data["is_internal"]):
            replies += 1
            if first_response is None and e.data["author_kind"] == "agent":
                first_response = e.at
        if e.data.get("transfer"):
            transfers += 1
        if e.kind == "status_changed":
            if e.from_value == "solved" and e.to_value != "closed":
                reopens += 1
                solved_at = None
            if e.to_value == "solved":
                solved_at = e.at
            status = e.to_value
    return {"first_response_at": first_response, "solved_at": solved_at, "transfers": transfers,
            "reopens": reopens, "replies": replies, "status": status}


def metrics_from_columns(ticket: Any) -> dict[str, object]:
    return {"first_response_at": ticket.first_response_at, "solved_at": ticket.solved_at,
            "transfers": ticket.transfers, "reopens": ticket.reopens, "replies": ticket.replies,
            "status": ticket.status.value}
