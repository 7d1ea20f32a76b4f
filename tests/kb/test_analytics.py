"""Search analytics and deflection: who read what, whether a request followed within 24 hours,
and the report of top queries, content gaps, poor ratings and deflected requests."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from zabota.core import outbox
from zabota.identity.models import Role
from zabota.identity.permissions import SYSTEM
from zabota.identity.service import actor_for_customer, actor_for_user
from zabota.kb import analytics
from zabota.kb import service as kb
from zabota.kb.models import ArticleView, SearchLog
from zabota.tickets import service as tickets


@pytest.fixture
def reading(session, make_article, make_customer, frozen_clock):
    article = make_article("Как отследить заказ", "Номер для отслеживания приходит в SMS.")
    other = make_article("Оплата картой", "Если оплата не прошла, попробуйте ещё раз.")
    return {"article": article, "other": other,
            "anna": actor_for_customer(make_customer(name="Анна")),
            "boris": actor_for_customer(make_customer(name="Борис"))}


def test_a_ticket_marks_what_its_author_read_in_the_day_before(session, reading, frozen_clock):
    article, anna, boris = reading["article"], reading["anna"], reading["boris"]
    start = frozen_clock.now()
    analytics.record_view(session, article, actor=anna, visitor_id="va", clock=frozen_clock)
    analytics.record_view(session, article, actor=boris, visitor_id="vb", clock=frozen_clock)
    analytics.record_view(session, article, actor=None, visitor_id="anon-1", clock=frozen_clock)
    analytics.log_search(session, "отследить заказ", language="ru", source="help", results=1,
                         actor=boris, visitor_id="vb", clock=frozen_clock)
    frozen_clock.advance(timedelta(hours=2))
    tickets.create_ticket(session, actor=SYSTEM, subject="Где заказ",
                          message=tickets.NewMessage(text="Трек не работает"),
                          customer_id=boris.id, clock=frozen_clock)
    assert outbox.dispatch_pending(session, clock=frozen_clock) >= 1
    outbox.dispatch_pending(session, clock=frozen_clock)  # a second delivery changes nothing
    # The anonymous reader signs up later and writes from the same browser (portal).
    assert analytics.link_ticket(session, ticket_id=999, at=frozen_clock.now(),
                                 visitor_id="anon-1") == 1
    marked = dict(session.execute(sa.select(ArticleView.visitor_id, ArticleView.ticket_id)).all())
    assert marked["va"] is None and marked["vb"] is not None and marked["anon-1"] == 999
    assert session.scalars(sa.select(SearchLog)).one().ticket_id == marked["vb"]
    # Reading more than a day before a ticket is not attributed to it.
    frozen_clock.advance(timedelta(hours=30))
    tickets.create_ticket(session, actor=SYSTEM, subject="Ещё вопрос",
                          message=tickets.NewMessage(text="Вопрос"), customer_id=reading[
                              "anna"].id, clock=frozen_clock)
    outbox.dispatch_pending(session, clock=frozen_clock)
    assert session.scalar(sa.select(ArticleView.ticket_id).where(
        ArticleView.visitor_id == "va")) is None
    assert start < frozen_clock.now()


def test_the_report_shows_gaps_ratings_and_deflections(session, reading, frozen_clock,
                                                       make_agent):
    lead = actor_for_user(make_agent(role=Role.SUPERVISOR))
    article, anna, boris = reading["article"], reading["anna"], reading["boris"]
    since = frozen_clock.now()
    for query, results, clicked in (("голограмма", 0, None), ("голограммы", 0, None),
                                    ("отследить заказ", 1, article), ("трек", 1, None)):
        row = analytics.log_search(session, query, language="ru", source="help",
                                   results=results, actor=None, visitor_id="v",
                                   clock=frozen_clock)
        if clicked is not None:
            analytics.record_view(session, clicked, actor=None, visitor_id="v",
                                  search_id=row.id, clock=frozen_clock)
    analytics.log_search(session, "голограмма", language="ru", source="agent", results=0,
                         actor=lead, clock=frozen_clock)  # staff: not a customer's need
    analytics.record_view(session, article, actor=anna, visitor_id="va", clock=frozen_clock)
    analytics.record_view(session, article, actor=anna, visitor_id="va", clock=frozen_clock)
    analytics.record_view(session, article, actor=boris, visitor_id="vb", clock=frozen_clock)
    analytics.link_ticket(session, ticket_id=1, at=frozen_clock.now(), customer_id=boris.id)
    analytics.record_deflection(session, article_id=article.id, query="где посылка",
                                source="portal", actor=anna, visitor_id="va",
                                clock=frozen_clock)
    kb.rate_article(session, reading["other"].id, is_helpful=False, actor=None,
                    visitor_id="x", comment="Нет про Apple Pay", clock=frozen_clock)
    kb.rate_article(session, article.id, is_helpful=True, actor=None, visitor_id="x",
                    clock=frozen_clock)
    frozen_clock.advance(timedelta(hours=25))

    report = analytics.build_report(session, actor=lead, since=since, until=frozen_clock.now(),
                                    clock=frozen_clock)
    assert report.searches == 4 and report.searches_without_result == 2
    assert report.searches_with_click == 1
    gaps = [(r.normalized, r.searches, r.no_results, r.no_click) for r in report.content_gaps]
    assert gaps == [("голограмма", 2, 2, 0), ("трек", 1, 0, 1)]  # the forms group together
    assert report.top_queries[0].normalized == "голограмма"
    assert [(r.title, r.not_helpful, r.comments) for r in report.poorly_rated] == [
        ("Оплата картой", 1, ["Нет про Apple Pay"])]
    [row] = report.deflections
    assert (row.article_id, row.readers, row.followed_by_ticket, row.deflected,
            row.solved_my_problem) == (article.id, 3, 1, 2, 1)
    assert (report.deflected_total, report.solved_total) == (2, 1)
    with pytest.raises(Exception, match="not allowed"):
        analytics.build_report(session, actor=anna, since=since, until=frozen_clock.now())


def test_staff_reading_is_not_counted(session, reading, make_agent):
    agent = actor_for_user(make_agent())
    assert analytics.record_view(session, reading["article"], actor=agent,
                                 visitor_id=None) is None
    assert analytics.log_search(session, "   ", language="ru", source="help",
                                results=0) is None
