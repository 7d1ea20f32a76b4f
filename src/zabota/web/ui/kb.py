"""The knowledge base for staff: articles and their editor, workflow, history with diffs,
categories, synonyms, canned responses, search analytics, and the agent's assist panel on
the ticket page (suggested articles, canned responses) and "make an article" from an answer.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, File, Form, Query, Request, UploadFile
from fastapi.responses import JSONResponse, Response
from sqlalchemy.orm import Session

from zabota.core.errors import ZabotaError, field_error
from zabota.core.i18n import LANGUAGES, N_, _, get_language
from zabota.core.settings import Settings
from zabota.identity.permissions import Actor, Permission, require
from zabota.kb import analytics, content, search
from zabota.kb import service as kb
from zabota.kb.models import Article, ArticleStatus, BodyFormat, Tone, Visibility
from zabota.tickets import service as tickets
from zabota.web.deps import PathId, QueryId, SmallPathId
from zabota.web.ui.auth import request_clock
from zabota.web.ui.common import (
    StaffActor,
    UISession,
    check_csrf,
    error_text,
    field_errors,
    redirect,
    render,
)

router = APIRouter(prefix="/agent")
Csrf = Annotated[str, Form(max_length=100)]
Text = Annotated[str, Form(max_length=300_000)]
Short = Annotated[str, Form(max_length=1000)]
PER_PAGE = 50

STATUS_LABELS = {ArticleStatus.DRAFT: N_("Draft"), ArticleStatus.REVIEW: N_("In review"),
                 ArticleStatus.PUBLISHED: N_("Published")}
VISIBILITY_LABELS = {Visibility.PUBLIC: N_("Public"), Visibility.INTERNAL: N_("Internal")}
FORMAT_LABELS = {BodyFormat.MARKDOWN: "Markdown", BodyFormat.HTML: "HTML"}
TONE_LABELS = {Tone.FORMAL: N_("Formal"), Tone.FRIENDLY: N_("Friendly")}
LANGUAGE_NAMES = {"ru": "Русский", "en": "English"}
LABELS = {"status": STATUS_LABELS, "visibility": VISIBILITY_LABELS, "tone": TONE_LABELS,
          "language": LANGUAGE_NAMES, "format": FORMAT_LABELS}


def _may(actor: Actor) -> dict[str, bool]:
    return {"edit": actor.can(Permission.EDIT_KB), "publish": actor.can(Permission.PUBLISH_KB),
            "manage": actor.can(Permission.MANAGE_KB)}


def _options(session: Session) -> dict[str, list[tuple[str, str]]]:
    tree = kb.category_tree(session, audience=search.Audience.STAFF)
    lang = get_language()
    return {
        "languages": [(code, LANGUAGE_NAMES[code]) for code in LANGUAGES],
        "status": [(s.value, _(t)) for s, t in STATUS_LABELS.items()],
        "visibility": [(v.value, _(t)) for v, t in VISIBILITY_LABELS.items()],
        "format": [(f.value, t) for f, t in FORMAT_LABELS.items()],
        "tone": [(t.value, _(label)) for t, label in TONE_LABELS.items()],
        "categories": [("", "—"), *((str(n.category.id), "  " * n.depth + "· " * bool(n.depth)
                                     + n.category.name(lang)) for n in tree)],
    }


def _page(request: Request, session: Session, actor: Actor, name: str,
          context: dict[str, Any], *, status_code: int = 200) -> Response:
    base = {"may": _may(actor), "errors": {}, "form": {}, "labels": LABELS,
            "options": _options(session),
            "notice": _("Saved") if request.query_params.get("saved") else None}
    return render(request, f"kb/{name}", {**base, **context}, status_code=status_code)


def _failed(session: Session, exc: ZabotaError) -> dict[str, Any]:
    session.rollback()
    return {"error": error_text(exc), "errors": field_errors(exc)}


def _optional_int(value: str, field: str) -> int | None:
    if not value.strip():
        return None
    try:
        return int(value)
    except ValueError:
        raise field_error(field, _("Enter a whole number")) from None


def _choice(enum: Any, value: str, field: str) -> Any:
    try:
        return enum(value)
    except ValueError:
        raise field_error(field, _("Choose one of the options")) from None


# --- articles -----------------------------------------------------------------------------


@router.get("/kb")
def articles(request: Request, session: UISession, actor: StaffActor,
             q: Annotated[str, Query(max_length=200)] = "",
             language: Annotated[str, Query(max_length=2)] = "",
             status: Annotated[str, Query(max_length=16)] = "",
             visibility: Annotated[str, Query(max_length=16)] = "",
             category_id: Annotated[str, Query(max_length=20)] = "",
             page: Annotated[int, Query(ge=1, le=10_000)] = 1) -> Response:
    filters = {"q": q, "language": language, "status": status, "visibility": visibility,
               "category_id": category_id}
    error = None
    try:
        flt = kb.ArticleFilter(
            q=q or None, language=language if language in LANGUAGES else None,
            status=_choice(ArticleStatus, status, "status") if status else None,
            visibility=_choice(Visibility, visibility, "visibility") if visibility else None,
            category_id=_optional_int(category_id, "category_id"))
    except ZabotaError:
        flt, error = kb.ArticleFilter(), _("Some filter values are not valid")
    rows = kb.list_articles(session, flt, actor=actor, limit=PER_PAGE + 1,
                            offset=(page - 1) * PER_PAGE)
    categories = {c.id: c for c in kb.list_categories(session)}
    return _page(request, session, actor, "list.html", {
        "articles": rows[:PER_PAGE], "has_more": len(rows) > PER_PAGE, "page": page,
        "filters": filters, "categories": categories, "error": error,
        "counts": kb.count_articles(session, actor=actor), "section": "articles",
        "page_query": lambda n: urlencode({**{k: v for k, v in filters.items() if v},
                                           "page": n})})


def article_form(
    title: Annotated[str, Form(max_length=1000)] = "", body: Text = "",
    body_format: Annotated[str, Form(max_length=16)] = BodyFormat.MARKDOWN.value,
    language: Annotated[str, Form(max_length=16)] = "ru",
    category_id: Annotated[str, Form(max_length=20)] = "",
    slug: Annotated[str, Form(max_length=300)] = "", tags: Short = "",
    visibility: Annotated[str, Form(max_length=16)] = Visibility.PUBLIC.value,
    position: Annotated[str, Form(max_length=20)] = "0",
    translation_of: Annotated[str, Form(max_length=20)] = "",
    expected_version: Annotated[str, Form(max_length=20)] = "",
    note: Annotated[str, Form(max_length=1000)] = "",
    action: Annotated[str, Form(max_length=16)] = "save",
) -> dict[str, Any]:
    """What was typed into the editor, kept as text so a refused save shows it again."""
    return {"title": title, "body": body, "body_format": body_format, "language": language,
            "category_id": category_id, "slug": slug, "tags": tags, "visibility": visibility,
            "position": position, "translation_of": translation_of,
            "expected_version": expected_version, "note": note, "action": action}


ArticleForm = Annotated[dict[str, Any], Depends(article_form)]


def _form_of(article: Article) -> dict[str, Any]:
    return {"title": article.title, "body": article.body_source,
            "body_format": article.body_format.value, "language": article.language,
            "category_id": str(article.category_id or ""), "slug": article.slug,
            "tags": ", ".join(article.tags), "visibility": article.visibility.value,
            "position": str(article.position), "expected_version": str(article.version),
            "translation_of": "", "note": ""}


def _editor(request: Request, session: Session, actor: Actor, article: Article | None,
            form: dict[str, Any], *, extra: dict[str, Any] | None = None,
            status_code: int = 200) -> Response:
    preview = None
    if form.get("action") == "preview" and form.get("body", "").strip():
        try:
            preview = content.render(form["body"], BodyFormat(form["body_format"]))[0]
        except ValueError:
            preview = None
    context: dict[str, Any] = {
        "article": article, "form": form, "preview": preview, "section": "articles",
        "files": kb.article_files(session, article.id) if article else [],
        "file_url": kb.file_url, "translation_of": None}
    if form.get("translation_of"):
        try:
            context["translation_of"] = kb.get_article_for(session, actor,
                                                           int(form["translation_of"]))
        except (ValueError, ZabotaError):
            context["translation_of"] = None
    return _page(request, session, actor, "form.html", {**context, **(extra or {})},
                 status_code=status_code)


@router.get("/kb/articles/new")
def new_article(request: Request, session: UISession, actor: StaffActor,
                translation_of: Annotated[str, Query(max_length=20)] = "",
                category_id: Annotated[str, Query(max_length=20)] = "",
                language: Annotated[str, Query(max_length=2)] = "") -> Response:
    require(actor, Permission.EDIT_KB)
    form = {"body_format": BodyFormat.MARKDOWN.value, "visibility": Visibility.PUBLIC.value,
            "language": language if language in LANGUAGES else actor.language,
            "category_id": category_id, "translation_of": translation_of, "position": "0"}
    if translation_of.isdigit():
        original = kb.get_article_for(session, actor, int(translation_of))
        form.update(category_id=str(original.category_id or ""),
                    visibility=original.visibility.value, tags=", ".join(original.tags),
                    language=next((c for c in LANGUAGES if c != original.language), "en"))
    return _editor(request, session, actor, None, form)


def _after_save(session: Session, article: Article, action: str, actor: Actor,
                request: Request) -> None:
    wanted = {"review": ArticleStatus.REVIEW, "publish": ArticleStatus.PUBLISHED}.get(action)
    if wanted is not None:
        kb.set_status(session, article.id, wanted, actor=actor, clock=request_clock(request))


@router.post("/kb/articles/new")
def create_article(request: Request, session: UISession, actor: StaffActor,
                   form: ArticleForm, csrf_token: Csrf = "") -> Response:
    check_csrf(request, csrf_token)
    if form["action"] == "preview":
        return _editor(request, session, actor, None, form)
    try:
        article = kb.create_article(
            session, actor=actor, title=form["title"], body=form["body"],
            body_format=_choice(BodyFormat, form["body_format"], "body_format"),
            language=form["language"],
            category_id=_optional_int(form["category_id"], "category_id"), slug=form["slug"],
            tags=content.split_tags(form["tags"]),
            visibility=_choice(Visibility, form["visibility"], "visibility"),
            translation_of=_optional_int(form["translation_of"], "translation_of"),
            position=_optional_int(form["position"], "position") or 0,
            clock=request_clock(request))
        _after_save(session, article, form["action"], actor, request)
        session.commit()
    except ZabotaError as exc:
        return _editor(request, session, actor, None, form, extra=_failed(session, exc),
                       status_code=exc.status)
    return redirect(f"/agent/kb/articles/{article.id}?saved=1")


def _article_context(session: Session, actor: Actor, article: Article) -> dict[str, Any]:
    category = kb.get_category(session, article.category_id) if article.category_id else None
    return {
        "article": article, "section": "articles", "languages": LANGUAGES,
        "crumbs": kb.breadcrumbs(session, category) if category else [],
        "public_url": search.article_url(article, category.slug if category else None)
        if article.is_public else None,
        "translations": kb.translations(session, article, actor=actor),
        "feedback": kb.list_feedback(session, article.id, actor=actor, limit=20)
        if actor.can(Permission.EDIT_KB) else [],
        "transitions": [target for (source, target), permission in kb.TRANSITIONS.items()
                        if source == article.status and actor.can(permission)]}


@router.get("/kb/articles/{article_id}")
def article_page(article_id: PathId, request: Request, session: UISession,
                 actor: StaffActor) -> Response:
    article = kb.get_article_for(session, actor, article_id)
    return _page(request, session, actor, "article.html",
                 _article_context(session, actor, article))


@router.get("/kb/articles/{article_id}/edit")
def edit_article(article_id: PathId, request: Request, session: UISession,
                 actor: StaffActor) -> Response:
    require(actor, Permission.EDIT_KB)
    article = kb.get_article_for(session, actor, article_id)
    return _editor(request, session, actor, article, _form_of(article))


@router.post("/kb/articles/{article_id}/edit")
def save_article(article_id: PathId, request: Request, session: UISession, actor: StaffActor,
                 form: ArticleForm, csrf_token: Csrf = "") -> Response:
    check_csrf(request, csrf_token)
    article = kb.get_article_for(session, actor, article_id)
    if form["action"] == "preview":
        return _editor(request, session, actor, article, form)
    try:
        kb.update_article(
            session, article_id, actor=actor,
            expected_version=_optional_int(form["expected_version"], "expected_version"),
            note=form["note"], title=form["title"], body=form["body"],
            body_format=_choice(BodyFormat, form["body_format"], "body_format"),
            category_id=_optional_int(form["category_id"], "category_id"),
            slug=form["slug"].strip() or article.slug, tags=content.split_tags(form["tags"]),
            visibility=_choice(Visibility, form["visibility"], "visibility"),
            position=_optional_int(form["position"], "position") or 0,
            clock=request_clock(request))
        _after_save(session, article, form["action"], actor, request)
        session.commit()
    except ZabotaError as exc:
        extra = _failed(session, exc)
        article = kb.get_article_for(session, actor, article_id)
        return _editor(request, session, actor, article, form, extra=extra,
                       status_code=exc.status)
    return redirect(f"/agent/kb/articles/{article_id}?saved=1")


@router.post("/kb/articles/{article_id}/status")
def change_status(article_id: PathId, request: Request, session: UISession, actor: StaffActor,
                  status: Annotated[str, Form(max_length=16)] = "",
                  csrf_token: Csrf = "") -> Response:
    check_csrf(request, csrf_token)
    try:
        kb.set_status(session, article_id, _choice(ArticleStatus, status, "status"),
                      actor=actor, clock=request_clock(request))
        session.commit()
    except ZabotaError as exc:
        extra = _failed(session, exc)
        article = kb.get_article_for(session, actor, article_id)
        return _page(request, session, actor, "article.html",
                     {**_article_context(session, actor, article), **extra},
                     status_code=exc.status)
    return redirect(f"/agent/kb/articles/{article_id}?saved=1")


@router.post("/kb/articles/{article_id}/delete")
def delete_article(article_id: PathId, request: Request, session: UISession, actor: StaffActor,
                   csrf_token: Csrf = "") -> Response:
    check_csrf(request, csrf_token)
    kb.delete_article(session, article_id, actor=actor)
    session.commit()
    return redirect("/agent/kb?saved=1")


@router.post("/kb/articles/{article_id}/files")
def upload_file(article_id: PathId, request: Request, session: UISession, actor: StaffActor,
                file: Annotated[UploadFile | None, File()] = None,
                csrf_token: Csrf = "") -> Response:
    check_csrf(request, csrf_token)
    settings: Settings = request.app.state.settings
    article = kb.get_article_for(session, actor, article_id)
    try:
        if file is None or not file.filename:
            raise field_error("file", _("Choose a file"))
        data = file.file.read(settings.max_attachment_bytes + 1)
        kb.store_article_file(session, article_id, actor=actor, filename=file.filename,
                              content_type=file.content_type, data=data, settings=settings,
                              clock=request_clock(request))
        session.commit()
    except ZabotaError as exc:
        extra = _failed(session, exc)
        return _editor(request, session, actor, article, _form_of(article), extra=extra,
                       status_code=exc.status)
    return redirect(f"/agent/kb/articles/{article_id}/edit?saved=1#files")


# --- history ------------------------------------------------------------------------------


@router.get("/kb/articles/{article_id}/history")
def history(article_id: PathId, request: Request, session: UISession, actor: StaffActor,
            old: Annotated[int | None, Query(alias="from")] = None,
            new: Annotated[int | None, Query(alias="to")] = None) -> Response:
    article = kb.get_article_for(session, actor, article_id)
    versions = kb.list_versions(session, article_id, actor=actor)
    diff = None
    if versions:
        newest = versions[0].number
        new = new or newest
        old = old or max(1, new - 1)
        diff = kb.diff_versions(session, article_id, old, new, actor=actor)
    return _page(request, session, actor, "history.html", {
        "article": article, "versions": versions, "diff": diff, "old": old, "new": new,
        "section": "articles"})


@router.post("/kb/articles/{article_id}/versions/{number}/restore")
def restore(article_id: PathId, number: SmallPathId, request: Request, session: UISession,
            actor: StaffActor, csrf_token: Csrf = "") -> Response:
    check_csrf(request, csrf_token)
    kb.restore_version(session, article_id, number, actor=actor, clock=request_clock(request))
    session.commit()
    return redirect(f"/agent/kb/articles/{article_id}/history?saved=1")


# --- categories ---------------------------------------------------------------------------


def category_form(
    name_ru: Annotated[str, Form(max_length=1000)] = "",
    name_en: Annotated[str, Form(max_length=1000)] = "",
    description_ru: Annotated[str, Form(max_length=2000)] = "",
    description_en: Annotated[str, Form(max_length=2000)] = "",
    slug: Annotated[str, Form(max_length=300)] = "",
    parent_id: Annotated[str, Form(max_length=20)] = "",
    position: Annotated[str, Form(max_length=20)] = "0",
) -> dict[str, Any]:
    return {"name_ru": name_ru, "name_en": name_en, "description_ru": description_ru,
            "description_en": description_en, "slug": slug, "parent_id": parent_id,
            "position": position}


CategoryForm = Annotated[dict[str, Any], Depends(category_form)]


def _category_values(form: dict[str, Any]) -> dict[str, Any]:
    return {"name_ru": form["name_ru"], "name_en": form["name_en"],
            "description_ru": form["description_ru"], "description_en": form["description_en"],
            "parent_id": _optional_int(form["parent_id"], "parent_id"),
            "position": _optional_int(form["position"], "position") or 0}


def _categories_page(request: Request, session: Session, actor: Actor, form: dict[str, Any],
                     *, editing: int | None = None, extra: dict[str, Any] | None = None,
                     status_code: int = 200) -> Response:
    return _page(request, session, actor, "categories.html", {
        "tree": kb.category_tree(session, audience=search.Audience.STAFF), "form": form,
        "editing": kb.get_category(session, editing) if editing else None,
        "section": "categories", **(extra or {})}, status_code=status_code)


@router.get("/kb/categories")
def categories(request: Request, session: UISession, actor: StaffActor) -> Response:
    return _categories_page(request, session, actor, {"position": "0"})


@router.post("/kb/categories")
def create_category(request: Request, session: UISession, actor: StaffActor,
                    form: CategoryForm, csrf_token: Csrf = "") -> Response:
    check_csrf(request, csrf_token)
    try:
        kb.create_category(session, actor=actor, slug=form["slug"], **_category_values(form),
                           clock=request_clock(request))
        session.commit()
    except ZabotaError as exc:
        return _categories_page(request, session, actor, form, extra=_failed(session, exc),
                                status_code=exc.status)
    return redirect("/agent/kb/categories?saved=1")


@router.get("/kb/categories/{category_id}")
def category_page(category_id: SmallPathId, request: Request, session: UISession,
                  actor: StaffActor) -> Response:
    c = kb.get_category(session, category_id)
    form = {"name_ru": c.name_ru, "name_en": c.name_en, "description_ru": c.description_ru,
            "description_en": c.description_en, "slug": c.slug,
            "parent_id": str(c.parent_id or ""), "position": str(c.position)}
    return _categories_page(request, session, actor, form, editing=category_id)


@router.post("/kb/categories/{category_id}")
def update_category(category_id: SmallPathId, request: Request, session: UISession,
                    actor: StaffActor, form: CategoryForm, csrf_token: Csrf = "") -> Response:
    check_csrf(request, csrf_token)
    try:
        kb.update_category(session, category_id, actor=actor, slug=form["slug"].strip(),
                           **_category_values(form), clock=request_clock(request))
        session.commit()
    except ZabotaError as exc:
        return _categories_page(request, session, actor, form, editing=category_id,
                                extra=_failed(session, exc), status_code=exc.status)
    return redirect("/agent/kb/categories?saved=1")


@router.post("/kb/categories/{category_id}/delete")
def delete_category(category_id: SmallPathId, request: Request, session: UISession,
                    actor: StaffActor, csrf_token: Csrf = "") -> Response:
    check_csrf(request, csrf_token)
    try:
        kb.delete_category(session, category_id, actor=actor)
        session.commit()
    except ZabotaError as exc:
        extra = _failed(session, exc)
        return _categories_page(request, session, actor, {"position": "0"}, extra=extra,
                                status_code=exc.status)
    return redirect("/agent/kb/categories?saved=1")


# --- synonyms -----------------------------------------------------------------------------


def _phrases(text: str) -> list[str]:
    return [line for line in text.replace(",", "\n").splitlines() if line.strip()]


def _synonyms_page(request: Request, session: Session, actor: Actor, form: dict[str, Any],
                   *, extra: dict[str, Any] | None = None, status_code: int = 200) -> Response:
    return _page(request, session, actor, "synonyms.html", {
        "groups": kb.list_synonym_groups(session), "form": form, "section": "synonyms",
        **(extra or {})}, status_code=status_code)


@router.get("/kb/synonyms")
def synonyms(request: Request, session: UISession, actor: StaffActor) -> Response:
    return _synonyms_page(request, session, actor, {"language": actor.language})


@router.post("/kb/synonyms")
def create_synonyms(request: Request, session: UISession, actor: StaffActor,
                    language: Annotated[str, Form(max_length=16)] = "ru",
                    phrases: Annotated[str, Form(max_length=5000)] = "",
                    group_id: Annotated[str, Form(max_length=20)] = "",
                    csrf_token: Csrf = "") -> Response:
    """Add a group, or change the one named by group_id."""
    check_csrf(request, csrf_token)
    form = {"language": language, "phrases": phrases, "group_id": group_id}
    try:
        existing = _optional_int(group_id, "group_id")
        if existing is None:
            kb.create_synonym_group(session, actor=actor, language=language,
                                    phrases=_phrases(phrases), clock=request_clock(request))
        else:
            kb.update_synonym_group(session, existing, actor=actor, language=language,
                                    phrases=_phrases(phrases), clock=request_clock(request))
        session.commit()
    except ZabotaError as exc:
        return _synonyms_page(request, session, actor, form, extra=_failed(session, exc),
                              status_code=exc.status)
    return redirect("/agent/kb/synonyms?saved=1")


@router.post("/kb/synonyms/{group_id}/delete")
def delete_synonyms(group_id: SmallPathId, request: Request, session: UISession, actor: StaffActor,
                    csrf_token: Csrf = "") -> Response:
    check_csrf(request, csrf_token)
    kb.delete_synonym_group(session, group_id, actor=actor)
    session.commit()
    return redirect("/agent/kb/synonyms?saved=1")


# --- canned responses ---------------------------------------------------------------------


def canned_form(title: Annotated[str, Form(max_length=1000)] = "",
                body: Annotated[str, Form(max_length=20_000)] = "",
                language: Annotated[str, Form(max_length=16)] = "ru",
                tone: Annotated[str, Form(max_length=16)] = Tone.FORMAL.value,
                is_active: Annotated[bool, Form()] = False) -> dict[str, Any]:
    return {"title": title, "body": body, "language": language, "tone": tone,
            "is_active": is_active}


CannedForm = Annotated[dict[str, Any], Depends(canned_form)]


def _canned_page(request: Request, session: Session, actor: Actor, form: dict[str, Any], *,
                 editing: int | None = None, extra: dict[str, Any] | None = None,
                 status_code: int = 200) -> Response:
    return _page(request, session, actor, "canned.html", {
        "rows": kb.list_canned(session, actor=actor, include_inactive=True), "form": form,
        "editing": editing,
        "placeholders": ", ".join("{{" + name + "}}" for name in kb.PLACEHOLDERS),
        "section": "canned",
        **(extra or {})}, status_code=status_code)


@router.get("/kb/canned")
def canned(request: Request, session: UISession, actor: StaffActor,
           edit: QueryId = None) -> Response:
    form: dict[str, Any] = {"language": actor.language, "tone": Tone.FORMAL.value,
                            "is_active": True}
    if edit is not None:
        row = kb.get_canned(session, edit, actor=actor)
        form = {"title": row.title, "body": row.body, "language": row.language,
                "tone": row.tone.value, "is_active": row.is_active}
    return _canned_page(request, session, actor, form, editing=edit)


@router.post("/kb/canned")
def save_canned(request: Request, session: UISession, actor: StaffActor, form: CannedForm,
                canned_id: Annotated[str, Form(max_length=20)] = "",
                csrf_token: Csrf = "") -> Response:
    check_csrf(request, csrf_token)
    editing = None
    try:
        editing = _optional_int(canned_id, "canned_id")
        tone = _choice(Tone, form["tone"], "tone")
        if editing is None:
            kb.create_canned(session, actor=actor, title=form["title"], body=form["body"],
                             language=form["language"], tone=tone,
                             clock=request_clock(request))
        else:
            kb.update_canned(session, editing, actor=actor, title=form["title"],
                             body=form["body"], language=form["language"], tone=tone,
                             is_active=form["is_active"], clock=request_clock(request))
        session.commit()
    except ZabotaError as exc:
        return _canned_page(request, session, actor, form, editing=editing,
                            extra=_failed(session, exc), status_code=exc.status)
    return redirect("/agent/kb/canned?saved=1")


@router.post("/kb/canned/{canned_id}/delete")
def delete_canned(canned_id: SmallPathId, request: Request, session: UISession, actor: StaffActor,
                  csrf_token: Csrf = "") -> Response:
    check_csrf(request, csrf_token)
    kb.delete_canned(session, canned_id, actor=actor)
    session.commit()
    return redirect("/agent/kb/canned?saved=1")


# --- analytics ----------------------------------------------------------------------------


@router.get("/kb/report")
def report(request: Request, session: UISession, actor: StaffActor,
           days: Annotated[int, Query(ge=1, le=366)] = 30) -> Response:
    clock = request_clock(request)
    until = clock.now()
    data = analytics.build_report(session, actor=actor, since=until - timedelta(days=days),
                                  until=until, clock=clock)
    return _page(request, session, actor, "report.html", {
        "report": data, "days": days, "section": "report"})


# --- the agent's assist panel -------------------------------------------------------------


def _public_base(request: Request) -> str:
    settings: Settings = request.app.state.settings
    return (settings.public_url or str(request.base_url)).rstrip("/")


@router.get("/kb/assist/{ticket_id}")
def assist(ticket_id: PathId, request: Request, session: UISession, actor: StaffActor,
           q: Annotated[str, Query(max_length=500)] = "",
           fragment: Annotated[bool, Query()] = False) -> Response:
    """Suggested articles and canned responses for a ticket, in the customer's language."""
    from zabota.identity import service as identity

    ticket = tickets.get_ticket_for(session, actor, ticket_id)
    customer = identity.get_customer(session, ticket.customer_id, actor=actor)
    language = ticket.language if ticket.language in LANGUAGES else (
        customer.language if customer.language in LANGUAGES else "ru")
    text, subject = q.strip(), ""
    if not text:
        first = tickets.first_customer_message(session, ticket_id)
        text = " ".join([ticket.subject, first.body_text if first else ""])
        subject = ticket.subject
    suggestions = kb.suggest_articles(session, text, actor=actor, language=language,
                                      subject=subject)
    values = kb.placeholder_values(session, ticket_id, actor=actor)
    canned_rows = sorted(kb.list_canned(session, actor=actor),
                         key=lambda row: (row.language != language, row.title, row.tone))
    canned_items = [(row, kb.fill_placeholders(row.body, values)) for row in canned_rows]
    context = {"ticket": ticket, "suggestions": suggestions, "canned": canned_items,
               "q": q, "base": _public_base(request), "language": language,
               "labels": LABELS}
    return render(request, "kb/_assist.html" if fragment else "kb/assist.html", context)


@router.get("/kb/suggest")
def suggest(request: Request, session: UISession, actor: StaffActor,
            q: Annotated[str, Query(max_length=500)] = "",
            language: Annotated[str, Query(max_length=2)] = "") -> JSONResponse:
    found = kb.suggest_articles(session, q, actor=actor,
                                language=language if language in LANGUAGES else None)
    return JSONResponse({"results": [
        {"id": s.article_id, "title": s.title, "url": s.url, "excerpt": s.excerpt,
         "language": s.language, "internal": s.is_internal, "score": s.hit.score}
        for s in found]})


@router.post("/tickets/{ticket_id}/messages/{message_id}/article")
def article_from_message(ticket_id: PathId, message_id: PathId, request: Request,
                         session: UISession, actor: StaffActor,
                         csrf_token: Csrf = "") -> Response:
    """"Make an article from this answer": a draft to edit, with the answer as its text."""
    check_csrf(request, csrf_token)
    article = kb.draft_from_message(session, ticket_id, message_id, actor=actor,
                                    clock=request_clock(request))
    session.commit()
    return redirect(f"/agent/kb/articles/{article.id}/edit")
