"""Knowledge-base API. Reading needs no token (then only published public articles are
visible); writing needs a staff token with the knowledge-base permissions."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request

from zabota.core.db import Database
from zabota.core.i18n import LANGUAGES
from zabota.identity.permissions import Actor
from zabota.kb import analytics, search
from zabota.kb import service as kb
from zabota.kb.models import Article, ArticleStatus, Visibility
from zabota.kb.schemas import (
    ArticleCreate,
    ArticleOut,
    ArticlePage,
    ArticleUpdate,
    CategoryCreate,
    CategoryOut,
    CategoryUpdate,
    HitOut,
    Language,
    SearchOut,
    VersionOut,
)
from zabota.web.deps import CurrentActor, PathId, SessionDep, SmallPathId, current_actor

router = APIRouter(prefix="/kb", tags=["knowledge base"])


async def optional_actor(request: Request) -> Actor | None:
    """The token's owner, or None for an anonymous reader (no Authorization header)."""
    if "authorization" not in request.headers:
        return None
    return await current_actor(request)


Reader = Annotated[Actor | None, Depends(optional_actor)]


def _out(session: SessionDep, article: Article, actor: Actor | None) -> ArticleOut:
    category = kb.get_category(session, article.category_id) if article.category_id else None
    data = {column: getattr(article, column) for column in ArticleOut.model_fields
            if column != "url"}
    data["url"] = search.article_url(article, category.slug if category else None)
    if actor is None or not actor.is_staff:
        data["body_source"] = data["body_format"] = None
    return ArticleOut.model_validate(data)


@router.get("/articles")
def list_articles(
    session: SessionDep, actor: Reader, language: Language | None = None,
    category_id: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
    status: ArticleStatus | None = None, visibility: Visibility | None = None,
    q: Annotated[str | None, Query(max_length=200, description="words of the title")] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 25,
    offset: Annotated[int, Query(ge=0, le=100_000)] = 0,
) -> ArticlePage:
    """Articles the caller may read, the most recently changed first."""
    flt = kb.ArticleFilter(language=language, category_id=category_id, status=status,
                           visibility=visibility, q=q)
    rows = kb.list_articles(session, flt, actor=actor, limit=limit + 1, offset=offset)
    return ArticlePage(items=[_out(session, a, actor) for a in rows[:limit]],
                       next_offset=offset + limit if len(rows) > limit else None)


@router.post("/articles", status_code=201)
def create_article(body: ArticleCreate, session: SessionDep,
                   actor: CurrentActor) -> ArticleOut:
    article = kb.create_article(
        session, actor=actor, title=body.title, body=body.body, body_format=body.body_format,
        language=body.language, category_id=body.category_id, slug=body.slug, tags=body.tags,
        visibility=body.visibility, status=body.status, translation_of=body.translation_of,
        position=body.position)
    out = _out(session, article, actor)
    session.commit()
    return out


@router.get("/articles/{article_id}")
def get_article(article_id: PathId, session: SessionDep, actor: Reader) -> ArticleOut:
    return _out(session, kb.get_article_for(session, actor, article_id), actor)


@router.patch("/articles/{article_id}")
def update_article(article_id: PathId, body: ArticleUpdate, session: SessionDep,
                   actor: CurrentActor) -> ArticleOut:
    """Change the text or settings (a new version when title, body or tags change) and, with
    `status`, move it along the workflow. `expected_version` refuses a stale save (409)."""
    changes = body.changes()
    article = kb.get_article_for(session, actor, article_id)
    if changes or body.expected_version is not None:
        article = kb.update_article(session, article_id, actor=actor,
                                    expected_version=body.expected_version, note=body.note,
                                    **changes)
    if body.status is not None:
        article = kb.set_status(session, article_id, body.status, actor=actor)
    out = _out(session, article, actor)
    session.commit()
    return out


@router.get("/articles/{article_id}/versions")
def list_versions(article_id: PathId, session: SessionDep,
                  actor: CurrentActor) -> list[VersionOut]:
    return [VersionOut.model_validate(v)
            for v in kb.list_versions(session, article_id, actor=actor)]


@router.post("/articles/{article_id}/versions/{number}/restore")
def restore_version(article_id: PathId, number: SmallPathId, session: SessionDep,
                    actor: CurrentActor) -> ArticleOut:
    article = kb.restore_version(session, article_id, number, actor=actor)
    out = _out(session, article, actor)
    session.commit()
    return out


@router.get("/categories")
def list_categories(session: SessionDep, actor: Reader,
                    language: Language | None = None) -> list[CategoryOut]:
    """The whole tree, parents before children, with the readable articles of each."""
    tree = kb.category_tree(session, language=language, audience=kb.audience_of(actor))
    return [CategoryOut.model_validate({**{c: getattr(node.category, c) for c in (
        "id", "parent_id", "slug", "name_ru", "name_en", "description_ru", "description_en",
        "position")}, "articles": node.articles}) for node in tree]


@router.post("/categories", status_code=201)
def create_category(body: CategoryCreate, session: SessionDep,
                    actor: CurrentActor) -> CategoryOut:
    category = kb.create_category(session, actor=actor, **body.model_dump())
    out = CategoryOut.model_validate(category)
    session.commit()
    return out


@router.patch("/categories/{category_id}")
def update_category(category_id: SmallPathId, body: CategoryUpdate, session: SessionDep,
                    actor: CurrentActor) -> CategoryOut:
    category = kb.update_category(session, category_id, actor=actor,
                                  **body.model_dump(exclude_unset=True))
    out = CategoryOut.model_validate(category)
    session.commit()
    return out


@router.get("/search")
def search_articles(
    request: Request, session: SessionDep, actor: Reader,
    q: Annotated[str, Query(min_length=1, max_length=500)],
    language: Language | None = None, limit: Annotated[int, Query(ge=1, le=50)] = 10,
) -> SearchOut:
    """Published articles answering `q`, best first; internal ones only for staff. Each
    result's `score` (0..1) can be thresholded: ≈ 0.55 and more is a confident answer."""
    outcome = search.run_search(session, q, language=language,
                                audience=kb.audience_of(actor), limit=limit)
    if actor is None or not actor.is_staff:
        # The GET's session reads without a write lock; the log line takes its own.
        database: Database = request.app.state.database
        with database.sessions() as writer:
            analytics.log_search(writer, q, language=language or LANGUAGES[0], source="api",
                                 results=len(outcome.hits),
                                 top_score=outcome.hits[0].score if outcome.hits else 0.0,
                                 actor=actor)
            writer.commit()
    return SearchOut(query=q, terms=outcome.terms, corrections=outcome.corrections, results=[
        HitOut(article_id=h.article_id, title=h.title, score=h.score, snippet=h.snippet,
               snippet_html=h.snippet_html, url=h.url, language=h.language,
               category_id=h.category_id, is_internal=h.is_internal) for h in outcome.hits])
