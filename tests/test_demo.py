"""`zabota demo` writes what the product itself would: histories consistent with the columns."""

import sqlalchemy as sa

from tests.tickets.history import metrics_from_columns, metrics_from_events
from zabota.core import outbox
from zabota.core.db import Database
from zabota.demo import demo_state, load_demo
from zabota.identity.models import Customer, Team, User
from zabota.tickets.models import Channel, Message, Ticket


def test_small_demo_is_realistic_and_consistent(committed_db_url):
    database = Database(committed_db_url)
    try:
        summary = load_demo(database, tickets=120, customers=60, days=30, seed=7)
        assert summary.startswith("120 tickets")
        with database.read_sessions() as session:
            count = lambda model: session.scalar(  # noqa: E731
                sa.select(sa.func.count()).select_from(model))
            assert count(Ticket) == 120 and count(Customer) >= 60
            assert count(Team) == 5 and count(User) >= 10
            assert count(Message) > 120
            channels = set(session.scalars(sa.select(Ticket.channel).distinct()))
            assert {Channel.EMAIL, Channel.CHAT} <= channels
            for ticket in session.scalars(sa.select(Ticket)):
                assert metrics_from_events(session, ticket.id) == metrics_from_columns(ticket)
            assert outbox.backlog(session) == 0  # history is not replayed to subscribers
            assert demo_state(session) == {"state": "loaded", "tickets": 120,
                                           "loaded_at": demo_state(session)["loaded_at"]}
    finally:
        database.dispose()
