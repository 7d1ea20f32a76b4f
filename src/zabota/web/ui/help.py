"""The public help centre: categories, articles, search, "was this helpful?", and the
suggestions that let a customer solve a problem before writing to us.

Open to everyone, signed in or not. URLs are clean and stable for search engines:
/help/{lang}/{category}/{article}. A visitor cookie ties reading and searching to the request
that may follow, for the deflection report (see zabota.kb.analytics)."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import FileResponse, JSONResponse, RedirectResponse, Response

from zabota.core.errors import NotFound, ZabotaError
from zabota.core.i18n import LANGUAGES, _, set_language
from zabota.core.settings import Settings
from zabota.identity.permissions import Actor
from zabota.kb import analytics, content, search
from zabota.kb import service as kb
from zabota.kb.models import Article, KbCategory
from zabota.web.deps import PathId, QueryId
from zabota.web.ui.auth import request_clock
from zabota.web.ui.common import (
    LoginRequired,
    UISession,
    check_csrf,
    error_text,
    redirect,
    render,
    ui_actor,
)

router = APIRouter(prefix="/help")
VISITOR_COOKIE = "zabota_visitor"
_VISITOR = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
_CRAWLER = re.compile(r"bot|crawl|spider|slurp|preview|headless(?!chrome)", re.I)
SuggestLimit = Annotated[int, Query(ge=1, le=10)]


# --- who is reading -----------------------------------------------------------------------


def reader(request: Request) -> Actor | None:
    """The signed-in person, if any: the help centre is open to everyone."""
    try:
        return ui_actor(request)
    except LoginRequired:
        return None


def visitor_id(request: Request) -> str:
    """This browser's visitor id, made on first use (the response then sets the cookie)."""
    current = getattr(request.state, "visitor_id", None)
    if current:
        return str(current)
    cookie = request.cookies.get(VISITOR_COOKIE, "")
    if _VISITOR.match(cookie):
        request.state.visitor_id = cookie
        return cookie
    request.state.visitor_id = secrets.token_urlsafe(16)
    request.state.new_visitor = True
    return str(request.state.visitor_id)


def _visitor_csrf(request: Request) -> str:
    settings: Settings = request.app.state.settings
    key = settings.resolved_secret_key().encode()
    return hmac.new(key, b"help:" + visitor_id(request).encode(), hashlib.sha256).hexdigest()[:32]


def _prepare(request: Request, lang: str) -> Actor | None:
    if lang not in LANGUAGES:
        raise NotFound()
    set_language(lang)
    request.state.language = lang
    actor = reader(request)
    if actor is None:
        # Anonymous forms are bound to the visitor cookie instead of a sign-in.
        request.state.csrf = _visitor_csrf(request)
    return actor


def _check_form(request: Request, actor: Actor | None, token: str) -> None:
    if actor is None:
        request.state.csrf = _visitor_csrf(request)
    check_csrf(request, token)


def finish(request: Request, response: Response) -> Response:
    """Set the visitor cookie on the way out if this request made one."""
    if getattr(request.state, "new_visitor", False):
        response.set_cookie(VISITOR_COOKIE, str(request.state.visitor_id), httponly=True,
                            samesite="lax", secure=request.url.scheme == "https",
                            max_age=365 * 24 * 3600)
    return response


def _is_crawler(request: Request) -> bool:
    return bool(_CRAWLER.search(request.headers.get("user-agent", "")))


# --- pages --------------------------------------------------------------------------------


def _lang_urls(lang: str, paths: dict[str, str]) -> list[tuple[str, str]]:
    """The language switch: each language's version of this page, or its help centre."""
    return [(code, f"/lang/{code}?next={quote(paths.get(code, f'/help/{code}'))}")
            for code in LANGUAGES]


def _page(request: Request, name: str, lang: str, context: dict[str, Any], *,
          paths: dict[str, str] | None = None, status_code: int = 200) -> Response:
    base = {"help_lang": lang, "lang_urls": _lang_urls(lang, paths or {}),
            "alternates": sorted((paths or {}).items()), "q": ""}
    return finish(request, render(request, f"help/{name}", {**base, **context},
                                  status_code=status_code))


@router.get("")
def help_root(request: Request) -> Response:
    lang = getattr(request.state, "language", "ru")
    return redirect(f"/help/{lang if lang in LANGUAGES else 'ru'}")


@router.get("/suggest")
def suggest(request: Request, session: UISession,
            q: Annotated[str, Query(max_length=1000)] = "",
            lang: Annotated[str, Query(max_length=2)] = "ru",
            limit: SuggestLimit = 5) -> JSONResponse:
    """Articles for what a customer is typing (new request form, chat widget)."""
    language = lang if lang in LANGUAGES else "ru"
    outcome = search.run_search(session, q, language=language, audience=search.Audience.PUBLIC,
                                limit=limit, min_score=0.4)
    return JSONResponse({"results": [
        {"id": hit.article_id, "title": hit.title, "url": hit.url, "snippet": hit.snippet,
         "score": hit.score} for hit in outcome.hits]})


@router.post("/deflect")
def deflect(request: Request, session: UISession,
            article_id: Annotated[int, Form()],
            query: Annotated[str, Form(max_length=10_000)] = "",
            source: Annotated[str, Form(max_length=16)] = "portal",
            csrf_token: Annotated[str, Form(max_length=100)] = "") -> Response:
    """"This solved my problem": count it and leave without sending a request."""
    actor = reader(request)
    _check_form(request, actor, csrf_token)
    try:
        analytics.record_deflection(session, article_id=article_id, query=query, source=source,
                                    actor=actor, visitor_id=visitor_id(request),
                                    clock=request_clock(request))
        session.commit()
    except ZabotaError:
        session.rollback()
        raise
    lang = getattr(request.state, "language", "ru")
    return finish(request, redirect(f"/help/{lang}/solved?article={article_id}"))


# --- files --------------------------------------------------------------------------------


@router.get("/files/{attachment_id}/{filename}")
def article_file(attachment_id: PathId, filename: str, request: Request,
                 session: UISession) -> Response:
    """An image or file of an article: public with a published public article, else staff."""
    settings: Settings = request.app.state.settings
    row, path = kb.get_article_file(session, reader(request), attachment_id, settings)
    inline = row.content_type in ("image/png", "image/jpeg", "image/gif", "image/webp")
    return FileResponse(path, media_type=row.content_type, filename=row.filename,
                        content_disposition_type="inline" if inline else "attachment",
                        headers={"X-Content-Type-Options": "nosniff",
                                 "Cache-Control": "public, max-age=86400"})


# --- pages by language ---------------------------------------------------------------------


@router.get("/{lang}")
def home(lang: str, request: Request, session: UISession) -> Response:
    actor = _prepare(request, lang)
    audience = kb.audience_of(None)  # the help centre shows what customers see
    tree = kb.category_tree(session, language=lang, audience=audience)
    roots = [node for node in tree if node.depth == 0]
    children = {node.category.id: [n for n in tree if n.category.parent_id == node.category.id]
                for node in roots}
    totals = _subtree_counts(tree)
    articles = {node.category.id: kb.list_articles(
        session, kb.ArticleFilter(language=lang, category_id=node.category.id), actor=None,
        limit=5) for node in roots}
    popular = kb.popular_articles(session, language=lang, limit=6)
    return _page(request, "home.html", lang, {
        "roots": roots, "children": children, "articles": articles, "totals": totals,
        "popular": popular, "slugs": {n.category.id: n.category.slug for n in tree},
        "actor_is_customer": actor is not None and actor.is_customer},
        paths={code: f"/help/{code}" for code in LANGUAGES})


def _subtree_counts(tree: list[kb.CategoryNode]) -> dict[int, int]:
    totals = {node.category.id: node.articles for node in tree}
    for node in reversed(tree):  # children come after their parent
        parent = node.category.parent_id
        if parent is not None and parent in totals:
            totals[parent] += totals[node.category.id]
    return totals


@router.get("/{lang}/search")
def search_page(lang: str, request: Request, session: UISession,
                q: Annotated[str, Query(max_length=500)] = "") -> Response:
    actor = _prepare(request, lang)
    query = q.strip()
    outcome = search.run_search(session, query, language=lang,
                                audience=search.Audience.PUBLIC, limit=20)
    log_id = None
    if query and not _is_crawler(request):
        row = analytics.log_search(
            session, query, language=lang, source="help", results=len(outcome.hits),
            top_score=outcome.hits[0].score if outcome.hits else 0.0, actor=actor,
            visitor_id=visitor_id(request), clock=request_clock(request))
        session.commit()
        log_id = row.id if row is not None else None
    return _page(request, "search.html", lang, {
        "q": query, "outcome": outcome, "log_id": log_id},
        paths={code: f"/help/{code}/search?q={quote(query)}" for code in LANGUAGES})


@router.get("/{lang}/solved")
def solved(lang: str, request: Request,
           article: QueryId = None) -> Response:
    _prepare(request, lang)
    return _page(request, "solved.html", lang, {"article_id": article})


@router.get("/{lang}/{category_slug}")
def category_page(lang: str, category_slug: str, request: Request,
                  session: UISession) -> Response:
    _prepare(request, lang)
    category = kb.get_category_by_slug(session, category_slug)
    tree = kb.category_tree(session, language=lang)
    totals = _subtree_counts(tree)
    subs = [n for n in tree if n.category.parent_id == category.id]
    articles = kb.list_articles(session, kb.ArticleFilter(language=lang,
                                                          category_id=category.id),
                                actor=None, limit=200)
    return _page(request, "category.html", lang, {
        "category": category, "crumbs": kb.breadcrumbs(session, category)[:-1],
        "subcategories": subs, "totals": totals, "articles": articles,
        "excerpt": content.excerpt},
        paths={code: f"/help/{code}/{category.slug}" for code in LANGUAGES})


def _article(session: UISession, lang: str, category_slug: str,
             article_slug: str) -> tuple[Article, KbCategory]:
    article = kb.get_article_by_slug(session, None, lang, article_slug)
    if article.category_id is None:
        raise NotFound()
    return article, kb.get_category(session, article.category_id)


def _article_context(session: UISession, article: Article,
                     category: KbCategory) -> tuple[dict[str, Any], dict[str, str]]:
    others = kb.translations(session, article, actor=None)
    paths = {}
    for code, other in others.items():
        if other.category_id is not None:
            other_category = kb.get_category(session, other.category_id)
            paths[code] = f"/help/{code}/{other_category.slug}/{other.slug}"
    context = {
        "article": article, "category": category,
        "crumbs": kb.breadcrumbs(session, category),
        "related": kb.related_articles(session, article, audience=search.Audience.PUBLIC),
        "url": f"/help/{article.language}/{category.slug}/{article.slug}",
    }
    return context, paths


@router.get("/{lang}/{category_slug}/{article_slug}")
def article_page(lang: str, category_slug: str, article_slug: str, request: Request,
                 session: UISession, s: QueryId = None,
                 voted: Annotated[str, Query(max_length=3)] = "") -> Response:
    actor = _prepare(request, lang)
    article, category = _article(session, lang, category_slug, article_slug)
    if category.slug != category_slug:
        # The article moved: the old address keeps working for links and search engines.
        return RedirectResponse(f"/help/{lang}/{category.slug}/{article.slug}",
                                status_code=301)
    if not voted and not _is_crawler(request) and not (actor is not None and actor.is_staff):
        analytics.record_view(session, article, actor=actor, visitor_id=visitor_id(request),
                              source="help", search_id=s, clock=request_clock(request))
        session.commit()
    context, paths = _article_context(session, article, category)
    context.update(voted=voted if voted in ("yes", "no") else "", form={}, errors={})
    return _page(request, "article.html", lang, context, paths=paths)


@router.post("/{lang}/{category_slug}/{article_slug}/feedback")
def feedback(lang: str, category_slug: str, article_slug: str, request: Request,
             session: UISession, helpful: Annotated[str, Form(max_length=3)] = "",
             comment: Annotated[str, Form(max_length=10_000)] = "",
             csrf_token: Annotated[str, Form(max_length=100)] = "") -> Response:
    actor = _prepare(request, lang)
    _check_form(request, actor, csrf_token)
    article, category = _article(session, lang, category_slug, article_slug)
    errors: dict[str, str] = {}
    if helpful not in ("yes", "no"):
        errors["helpful"] = _("Choose yes or no")
    else:
        try:
            kb.rate_article(session, article.id, is_helpful=helpful == "yes", actor=actor,
                            visitor_id=visitor_id(request), comment=comment,
                            clock=request_clock(request))
            session.commit()
        except ZabotaError as exc:
            session.rollback()
            errors["comment"] = error_text(exc)
    if errors:
        context, paths = _article_context(session, article, category)
        context.update(voted=helpful if helpful in ("yes", "no") else "", errors=errors,
                       form={"comment": comment}, error=next(iter(errors.values())))
        return _page(request, "article.html", lang, context, paths=paths, status_code=422)
    thanked = "&commented=1" if comment.strip() else ""
    return finish(request, redirect(
        f"/help/{lang}/{category.slug}/{article.slug}?voted={helpful}{thanked}#feedback"))
