"""Cursor pagination, filters and the incremental export."""

from datetime import timedelta

from zabota.identity.permissions import SYSTEM
from zabota.tickets import service as tickets
from zabota.tickets.models import Channel, Priority, Status


def all_pages(session, flt, sort, limit=3):
    seen, cursor = [], None
    while True:
        page, cursor = tickets.list_tickets(session, flt, actor=SYSTEM, sort=sort, cursor=cursor,
                                            limit=limit)
        seen.extend(t.id for t in page)
        if cursor is None:
            return seen


def test_every_ticket_once_in_every_sort_order(session, make_ticket, frozen_clock):
    made = []
    for i in range(10):
        # Pairs share a timestamp, so the id tie-break is exercised.
        if i % 2 == 0:
            frozen_clock.advance(timedelta(minutes=1))
        made.append(make_ticket(clock=frozen_clock, priority=Priority.HIGH if i % 3 else
                                Priority.LOW).id)
    flt = tickets.TicketFilter()
    assert all_pages(session, flt, "-updated_at") == sorted(made, reverse=True)
    assert all_pages(session, flt, "created_at") == sorted(made)
    assert all_pages(session, flt, "id", limit=4) == sorted(made)
    high = all_pages(session, tickets.TicketFilter(priority=[Priority.HIGH]), "-id")
    assert high == [t for t in sorted(made, reverse=True) if made.index(t) % 3]


def test_filters_combine(session, make_ticket, make_team, make_agent, frozen_clock):
    team = make_team()
    agent = make_agent(teams=(team,))
    a = make_ticket(team_id=team.id, channel=Channel.EMAIL, tags=["vip"], category="billing",
                    clock=frozen_clock)
    frozen_clock.advance(timedelta(days=2))
    b = make_ticket(team_id=team.id, assignee_id=agent.id, channel=Channel.CHAT,
                    clock=frozen_clock)
    c = make_ticket(clock=frozen_clock)

    def ids(**kw):
        return {t.id for t in tickets.list_tickets(session, tickets.TicketFilter(**kw),
                                                   actor=SYSTEM)[0]}

    assert ids(team_id=team.id) == {a.id, b.id}
    assert ids(team_id=team.id, unassigned=True) == {a.id}
    assert ids(assignee_id=agent.id) == {b.id}
    assert ids(channel=Channel.EMAIL) == {a.id}
    assert ids(tag="VIP") == {a.id}
    assert ids(category="billing") == {a.id}
    assert ids(status=[Status.OPEN]) == {b.id}
    assert ids(created_from=frozen_clock.now()) == {b.id, c.id}
    assert ids(created_to=frozen_clock.now()) == {a.id}
    assert ids(customer_id=c.customer_id) == {c.id}


def test_export_returns_each_change_once_in_order(session, make_ticket, frozen_clock):
    t1 = make_ticket(clock=frozen_clock)
    t2 = make_ticket(clock=frozen_clock)
    frozen_clock.advance(timedelta(minutes=1))
    page, cursor = tickets.export_changes(session, actor=SYSTEM, since_cursor=None,
                                          clock=frozen_clock)
    assert [t.id for t in page] == [t1.id, t2.id]
    page, same = tickets.export_changes(session, actor=SYSTEM, since_cursor=cursor,
                                        clock=frozen_clock)
    assert (page, same) == ([], cursor)
    tickets.update_ticket(session, t1.id, {"priority": Priority.URGENT}, actor=SYSTEM,
                          clock=frozen_clock)
    # Too fresh: a concurrent transaction may still commit an earlier event id.
    assert tickets.export_changes(session, actor=SYSTEM, since_cursor=cursor,
                                  clock=frozen_clock)[0] == []
    frozen_clock.advance(timedelta(seconds=5))
    page, _next = tickets.export_changes(session, actor=SYSTEM, since_cursor=cursor,
                                         clock=frozen_clock)
    assert [(t.id, t.priority) for t in page] == [(t1.id, Priority.URGENT)]


def test_export_pages_never_skip_a_ticket(session, make_ticket, frozen_clock):
    made = [make_ticket(clock=frozen_clock).id for _ in range(7)]
    tickets.update_ticket(session, made[0], {"priority": Priority.LOW}, actor=SYSTEM,
                          clock=frozen_clock)
    frozen_clock.advance(timedelta(minutes=1))
    seen, cursor = [], None
    for _ in range(10):
        page, cursor = tickets.export_changes(session, actor=SYSTEM, since_cursor=cursor,
                                              limit=2, clock=frozen_clock)
        if not page:
            break
        seen.extend(t.id for t in page)
    assert sorted(seen) == sorted(made) and len(seen) == len(set(seen))
    assert seen[-1] == made[0]  # its latest change is the newest


def test_export_pages_of_a_team_token_are_full(session, make_ticket, make_team, make_agent,
                                               frozen_clock):
    from tests.conftest import actor_of

    mine, other = make_team("Финансы"), make_team("Доставка")
    agent = actor_of(make_agent(teams=(mine,)))
    for n in range(6):  # the other team's tickets first in the change log
        make_ticket(team_id=other.id, clock=frozen_clock, subject=f"чужое {n}")
    ours = [make_ticket(team_id=mine.id, clock=frozen_clock).id for _ in range(3)]
    frozen_clock.advance(timedelta(minutes=1))

    page, cursor = tickets.export_changes(session, actor=agent, since_cursor=None, limit=2,
                                          clock=frozen_clock)
    rest, end = tickets.export_changes(session, actor=agent, since_cursor=cursor, limit=2,
                                       clock=frozen_clock)

    assert [t.id for t in page + rest] == ours and len(page) == 2
    assert tickets.export_changes(session, actor=agent, since_cursor=end, limit=2,
                                  clock=frozen_clock) == ([], end)
