"""insert_now: one INSERT … RETURNING, and the object is a written row of the session."""

import sqlalchemy as sa

from zabota.identity.models import Customer, IdentityKind
from zabota.identity.permissions import SYSTEM
from zabota.tickets import service as tickets


def test_a_new_ticket_and_customer_are_written_rows_with_everything_loaded(session):
    ticket, message = tickets.open_ticket(
        session, actor=SYSTEM, subject="Не пришёл заказ", tags=["vip"],
        message=tickets.NewMessage(text="Заказ 77 не доставлен"),
        customer_identities=[(IdentityKind.EMAIL, "Olga@Example.org")], customer_name="Ольга")
    session.flush()  # the tag rows, assigned after the ticket was written
    assert sa.inspect(ticket).persistent and not session.dirty and not session.new
    statements = []
    sa.event.listen(session.connection(), "before_cursor_execute",
                    lambda *args: statements.append(args[2]))
    # Column defaults come back from the database, and relationships known at the insert
    # are loaded: reading any of this issues no SQL.
    assert (ticket.escalation_level, ticket.transfers, ticket.custom_fields) == (0, 0, {})
    assert ticket.tags == ["vip"] and message.attachments == []
    customer = session.get(Customer, ticket.customer_id)
    assert [(i.kind, i.value) for i in customer.identities] == [
        (IdentityKind.EMAIL, "olga@example.org")]
    assert customer.name == "Ольга" and customer.notes == ""
    assert statements == []
    stored = session.execute(sa.text("SELECT subject, status, customer_id FROM tickets "
                                     "WHERE id = :id"), {"id": ticket.id}).one()
    assert tuple(stored) == ("Не пришёл заказ", "new", customer.id)
