"""What people searched and read, and what it saved: search log, article views, explicit
deflections, and the admin report (top queries, content gaps, poor ratings, deflections).

How a deflection is attributed:

- A customer's or visitor's reading of a published article is an `ArticleView`, keyed by the
  signed-in customer and by the browser's visitor cookie (staff reading is not recorded).
- When a ticket is created, on any channel, the views and searches of its customer in the 24
  hours before are marked with it (the `ticket.created` outbox event); a request sent from the
  portal also marks those of the browser's visitor cookie, which covers reading before signing
  in.
- A view older than 24 hours that no ticket marked is an implicit deflection; the report
  counts distinct people per article, not page loads. "This solved my problem" on the
  portal's new-request form is an explicit deflection, counted apart.
- Anonymous readers who later write by e-mail or messenger cannot be linked to their ticket,
  so implicit deflections are an upper bound; explicit ones are a lower bound.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
import structlog
from sqlalchemy.orm import Session

from zabota.core.clock import SYSTEM_CLOCK, Clock
from zabota.core.errors import field_error
from zabota.core.i18n import _
from zabota.core.outbox import OutboxEvent, subscribe
from zabota.identity.permissions import Actor, Permission, require
from zabota.kb import search
from zabota.kb.models import (
    Article,
    ArticleFeedback,
    ArticleView,
    Deflection,
    SearchLog,
)
from zabota.kb.service import get_article_for

log = structlog.get_logger()
FOLLOW_UP = timedelta(hours=24)
SOURCES = frozenset({"help", "portal", "chat", "bot", "api", "agent"})


def _customer_id(actor: Actor | None) -> int | None:
    return actor.id if actor is not None and actor.is_customer else None


def log_search(
    session: Session, query: str, *, language: str, source: str, results: int,
    top_score: float = 0.0, actor: Actor | None = None, visitor_id: str | None = None,
    clock: Clock = SYSTEM_CLOCK,
) -> SearchLog | None:
    """Record one search (nothing for an empty query)."""
    normalized = " ".join(search.query_terms(query))[:500]
    if not normalized:
        return None
    row = SearchLog(query=" ".join(query.split())[:500], normalized=normalized,
                    language=language, source=source if source in SOURCES else "api",
                    results=results, top_score=top_score, visitor_id=visitor_id,
                    customer_id=_customer_id(actor),
                    user_id=actor.id if actor is not None and actor.is_staff else None,
                    at=clock.now())
    session.add(row)
    session.flush()
    return row


def record_view(
    session: Session, article: Article, *, actor: Actor | None, visitor_id: str | None,
    source: str = "help", search_id: int | None = None, clock: Clock = SYSTEM_CLOCK,
) -> ArticleView | None:
    """Count a reading of the article; mark the search it came from as clicked. Staff
    reading is not a customer's and is not recorded."""
    if actor is not None and actor.is_staff:
        return None
    customer_id = _customer_id(actor)
    now = clock.now()
    if search_id is not None:
        who = [SearchLog.customer_id == customer_id] if customer_id else []
        if visitor_id:
            who.append(SearchLog.visitor_id == visitor_id)
        if who:
            session.execute(sa.update(SearchLog).where(
                SearchLog.id == search_id, SearchLog.clicked_article_id.is_(None),
                sa.or_(*who)).values(clicked_article_id=article.id))
    session.execute(sa.update(Article).where(Article.id == article.id)
                    .values(views=Article.views + 1))
    view = ArticleView(article_id=article.id, visitor_id=visitor_id, customer_id=customer_id,
                       source=source if source in SOURCES else "help", at=now)
    session.add(view)
    session.flush()
    return view


def record_deflection(
    session: Session, *, article_id: int | None, query: str, source: str,
    actor: Actor | None, visitor_id: str | None, clock: Clock = SYSTEM_CLOCK,
) -> Deflection:
    """"This solved my problem": the person leaves without sending a request."""
    if article_id is not None:
        get_article_for(session, actor if actor is not None and actor.is_staff else None,
                        article_id)
    if len(query) > 10_000:
        raise field_error("query", _("Enter at most {n} characters").format(n=10_000))
    row = Deflection(article_id=article_id, query=" ".join(query.split())[:500],
                     source=source if source in SOURCES else "portal", visitor_id=visitor_id,
                     customer_id=_customer_id(actor), at=clock.now())
    session.add(row)
    session.flush()
    log.info("kb.deflected", article_id=article_id, source=row.source)
    return row


def link_ticket(session: Session, *, ticket_id: int, at: datetime,
                customer_id: int | None = None, visitor_id: str | None = None) -> int:
    """Mark the views and searches of the ticket's author in the 24 hours before it with the
    ticket; returns how many were marked. Idempotent: marked rows are not marked again."""
    people: list[tuple[sa.ColumnElement[bool], sa.ColumnElement[bool]]] = []
    if customer_id is not None:
        people.append((ArticleView.customer_id == customer_id,
                       SearchLog.customer_id == customer_id))
    if visitor_id:
        people.append((ArticleView.visitor_id == visitor_id, SearchLog.visitor_id == visitor_id))
    if not people:
        return 0
    marked = 0
    for model, condition in ((ArticleView, sa.or_(*(p[0] for p in people))),
                             (SearchLog, sa.or_(*(p[1] for p in people)))):
        result = session.execute(
            sa.update(model).where(model.ticket_id.is_(None), model.at >= at - FOLLOW_UP,
                                   model.at <= at, condition)
            .values(ticket_id=ticket_id, ticket_at=at))
        marked += int(getattr(result, "rowcount", 0) or 0)
    return marked


@subscribe("ticket.created")
def on_ticket_created(session: Session, row: OutboxEvent) -> None:
    link_ticket(session, ticket_id=int(row.payload["ticket_id"]),
                customer_id=int(row.payload["customer_id"]),
                at=datetime.fromisoformat(str(row.payload["at"])))


# --- the report ---------------------------------------------------------------------------


@dataclass(frozen=True)
class QueryRow:
    normalized: str
    example: str
    language: str
    searches: int
    no_results: int
    no_click: int
    followed_by_ticket: int
    clicks: int


@dataclass(frozen=True)
class RatedArticle:
    article_id: int
    title: str
    language: str
    helpful: int
    not_helpful: int
    comments: list[str]


@dataclass(frozen=True)
class DeflectionRow:
    article_id: int
    title: str
    language: str
    readers: int  # distinct people who read it in the period (settled: a day ago or more)
    followed_by_ticket: int  # of them, those who opened a ticket within 24 hours
    deflected: int  # the others
    solved_my_problem: int  # explicit deflections


@dataclass(frozen=True)
class Report:
    since: datetime
    until: datetime
    searches: int
    searches_without_result: int
    searches_with_click: int
    top_queries: list[QueryRow]
    content_gaps: list[QueryRow]
    poorly_rated: list[RatedArticle]
    deflections: list[DeflectionRow]
    deflected_total: int
    solved_total: int


def _query_rows(session: Session, since: datetime, until: datetime) -> list[QueryRow]:
    no_results = sa.func.sum(sa.case((SearchLog.results == 0, 1), else_=0))
    no_click = sa.func.sum(sa.case((sa.and_(SearchLog.results > 0,
                                            SearchLog.clicked_article_id.is_(None)), 1),
                                   else_=0))
    followed = sa.func.count(SearchLog.ticket_id)
    clicks = sa.func.count(SearchLog.clicked_article_id)
    rows = session.execute(
        sa.select(SearchLog.normalized, SearchLog.language, sa.func.min(SearchLog.query),
                  sa.func.count(), no_results, no_click, followed, clicks)
        # Staff searches find articles for replies; the report is about customers' needs.
        .where(SearchLog.at >= since, SearchLog.at < until, SearchLog.user_id.is_(None))
        .group_by(SearchLog.normalized, SearchLog.language))
    return [QueryRow(normalized=r[0], language=r[1], example=r[2], searches=int(r[3]),
                     no_results=int(r[4] or 0), no_click=int(r[5] or 0),
                     followed_by_ticket=int(r[6] or 0), clicks=int(r[7] or 0)) for r in rows]


def _poorly_rated(session: Session, since: datetime, until: datetime,
                  limit: int) -> list[RatedArticle]:
    yes = sa.func.sum(sa.case((ArticleFeedback.is_helpful.is_(True), 1), else_=0))
    no = sa.func.sum(sa.case((ArticleFeedback.is_helpful.is_(False), 1), else_=0))
    rows = session.execute(
        sa.select(Article.id, Article.title, Article.language, yes, no)
        .join(ArticleFeedback, ArticleFeedback.article_id == Article.id)
        .where(ArticleFeedback.updated_at >= since, ArticleFeedback.updated_at < until)
        .group_by(Article.id, Article.title, Article.language)
        .having(no > 0, no >= yes)
        .order_by((no - yes).desc(), no.desc(), Article.id).limit(limit)).all()
    out = []
    for article_id, title, language, helpful, not_helpful in rows:
        comments = list(session.scalars(
            sa.select(ArticleFeedback.comment).where(
                ArticleFeedback.article_id == article_id, ArticleFeedback.comment != "",
                ArticleFeedback.is_helpful.is_(False))
            .order_by(ArticleFeedback.updated_at.desc()).limit(3)))
        out.append(RatedArticle(article_id, title, language, int(helpful or 0),
                                int(not_helpful or 0), comments))
    return out


def _person() -> sa.ColumnElement[str]:
    return sa.func.coalesce(sa.cast(ArticleView.customer_id, sa.String),
                            ArticleView.visitor_id)


def _deflections(session: Session, since: datetime, until: datetime, settled: datetime,
                 limit: int) -> tuple[list[DeflectionRow], int, int]:
    window = [ArticleView.at >= since, ArticleView.at < min(until, settled)]
    readers = sa.func.count(sa.distinct(_person()))
    followed = sa.func.count(sa.distinct(sa.case((ArticleView.ticket_id.is_not(None),
                                                  _person()))))
    viewed = {r[0]: (int(r[1]), int(r[2])) for r in session.execute(
        sa.select(ArticleView.article_id, readers, followed).where(*window)
        .group_by(ArticleView.article_id))}
    solved = {r[0]: int(r[1]) for r in session.execute(
        sa.select(Deflection.article_id, sa.func.count())
        .where(Deflection.at >= since, Deflection.at < until)
        .group_by(Deflection.article_id))}
    ids = [i for i in set(viewed) | set(solved) if i is not None]
    titles = {a.id: a for a in session.scalars(sa.select(Article).where(Article.id.in_(ids)))}
    rows = []
    for article_id in ids:
        if article_id not in titles:
            continue
        read, with_ticket = viewed.get(article_id, (0, 0))
        article = titles[article_id]
        rows.append(DeflectionRow(article_id, article.title, article.language, read,
                                  with_ticket, read - with_ticket, solved.get(article_id, 0)))
    rows.sort(key=lambda r: (-(r.deflected + r.solved_my_problem), r.article_id))
    return (rows[:limit], sum(r.deflected for r in rows), sum(solved.values()))


def build_report(session: Session, *, actor: Actor, since: datetime, until: datetime,
                 limit: int = 20, clock: Clock = SYSTEM_CLOCK) -> Report:
    """The search analytics of a period for supervisors and admins."""
    require(actor, Permission.PUBLISH_KB)
    rows = _query_rows(session, since, until)
    top = sorted(rows, key=lambda r: (-r.searches, r.normalized))[:limit]
    gaps = sorted((r for r in rows if r.no_results or r.no_click),
                  key=lambda r: (-r.no_results, -r.no_click, -r.searches, r.normalized))
    deflections, deflected, solved = _deflections(session, since, until,
                                                  clock.now() - FOLLOW_UP, limit)
    return Report(
        since=since, until=until, searches=sum(r.searches for r in rows),
        searches_without_result=sum(r.no_results for r in rows),
        searches_with_click=sum(r.clicks for r in rows), top_queries=top,
        content_gaps=gaps[:limit], poorly_rated=_poorly_rated(session, since, until, limit),
        deflections=deflections, deflected_total=deflected, solved_total=solved)
