"""One row per ticket for spreadsheets: the same filter and permissions as the inbox."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator, Sequence
from datetime import datetime

from sqlalchemy.orm import Session

from zabota.core.i18n import _
from zabota.identity import service as identity
from zabota.identity.permissions import Actor
from zabota.tickets import service
from zabota.tickets.service import TicketFilter

MAX_EXPORT_ROWS = 100_000


def _cell(value: object) -> object:
    if isinstance(value, datetime):
        return value.replace(tzinfo=None).isoformat(sep=" ", timespec="seconds")
    return "" if value is None else value


def ticket_rows(session: Session, flt: TicketFilter, *, actor: Actor,
                sort: str = "-updated_at") -> tuple[list[str], Iterator[list[object]]]:
    """Header and rows (times in UTC), paging through the list with the inbox's cursor."""
    fields = service.list_field_defs(session)
    header = [_("Number"), _("Subject"), _("Status"), _("Priority"), _("Channel"),
              _("Customer"), _("Customer e-mail"), _("Team"), _("Assignee"), _("Category"),
              _("Tags"), _("Created (UTC)"), _("Updated (UTC)"), _("First response (UTC)"),
              _("Solved (UTC)"), _("Transfers"), _("Reopens"),
              *[f.label for f in fields]]
    teams = {t.id: t.name for t in identity.list_teams(session, actor=actor)}
    users = {u.id: u.name for u in identity.list_users(session, actor=actor)}

    def rows() -> Iterator[list[object]]:
        cursor: str | None = None
        produced = 0
        while produced < MAX_EXPORT_ROWS:
            page, cursor = service.list_tickets(session, flt, actor=actor, sort=sort,
                                                cursor=cursor, limit=100)
            customers = identity.customers_by_id(session, {t.customer_id for t in page},
                                                 actor=actor)
            for t in page:
                customer = customers.get(t.customer_id)
                yield [_cell(v) for v in (
                    t.number, t.subject, service.status_label(t.status),
                    service.priority_label(t.priority), t.channel.value,
                    customer.name if customer else "", customer.email if customer else "",
                    teams.get(t.team_id or 0, ""), users.get(t.assignee_id or 0, ""),
                    t.category, " ".join(t.tags), t.created_at, t.updated_at,
                    t.first_response_at, t.solved_at, t.transfers, t.reopens,
                    *[t.custom_fields.get(f.key) for f in fields])]
            produced += len(page)
            if cursor is None:
                return

    return header, rows()


def to_csv(header: Sequence[str], rows: Iterator[list[object]]) -> str:
    buffer = io.StringIO()
    buffer.write("\ufeff")  # Excel opens UTF-8 CSV with Cyrillic correctly only with a BOM
    writer = csv.writer(buffer)
    writer.writerow(header)
    for row in rows:
        writer.writerow([_guard_formula(v) for v in row])
    return buffer.getvalue()


def to_xlsx(header: Sequence[str], rows: Iterator[list[object]]) -> bytes:
    from openpyxl import Workbook

    book = Workbook(write_only=True)
    sheet = book.create_sheet(_("Tickets"))
    sheet.append(list(header))
    for row in rows:
        sheet.append([_guard_formula(v) for v in row])
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def _guard_formula(value: object) -> object:
    # A customer-written subject like "=HYPERLINK(...)" must not run as a formula (CSV injection).
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@"):
        return "'" + value
    return value
