"""The knowledge base: the only code that changes categories, articles, versions, ratings,
synonyms and canned responses. Services flush; the caller commits.

Who may do what: anyone (a visitor too) reads published public articles; staff read every
article; agents write drafts and send them to review (EDIT_KB); supervisors and admins
publish, unpublish and change published articles (PUBLISH_KB) and keep the category tree,
synonyms and canned responses (MANAGE_KB).
"""

from __future__ import annotations

import difflib
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import sqlalchemy as sa
import structlog
from sqlalchemy.orm import Session

from zabota.core import outbox
from zabota.core.clock import SYSTEM_CLOCK, Clock
from zabota.core.errors import Conflict, Forbidden, field_error
from zabota.core.i18n import LANGUAGES, _
from zabota.core.settings import Settings
from zabota.identity.permissions import Actor, Permission, require
from zabota.kb import content, errors, search
from zabota.kb.events import ArticlePublished, ArticleUnpublished
from zabota.kb.models import (
    Article,
    ArticleAttachment,
    ArticleFeedback,
    ArticleStatus,
    ArticleVersion,
    BodyFormat,
    CannedResponse,
    KbCategory,
    SynonymGroup,
    Tone,
    Visibility,
)
from zabota.kb.search import Audience, Hit
from zabota.tickets.attachments import store_attachment
from zabota.tickets.models import Attachment

log = structlog.get_logger()

MAX_TITLE = 300
MAX_BODY = 200_000
MAX_COMMENT = 2000
MAX_PHRASES = 20
MAX_PHRASE = 100
MAX_CANNED_BODY = 10_000
# Which workflow step needs which permission; everything else is refused.
TRANSITIONS: dict[tuple[ArticleStatus, ArticleStatus], Permission] = {
    (ArticleStatus.DRAFT, ArticleStatus.REVIEW): Permission.EDIT_KB,
    (ArticleStatus.REVIEW, ArticleStatus.DRAFT): Permission.EDIT_KB,
    (ArticleStatus.DRAFT, ArticleStatus.PUBLISHED): Permission.PUBLISH_KB,
    (ArticleStatus.REVIEW, ArticleStatus.PUBLISHED): Permission.PUBLISH_KB,
    (ArticleStatus.PUBLISHED, ArticleStatus.DRAFT): Permission.PUBLISH_KB,
}


MAX_INT = 2**31 - 1  # ids of categories, synonym groups, canned responses
MAX_BIGINT = 2**63 - 1  # ids of articles


def _is_staff(actor: Actor | None) -> bool:
    """Staff and the system itself (jobs, the CLI) read every article."""
    return actor is not None and (actor.is_staff or actor.kind == "system")


def audience_of(actor: Actor | None) -> Audience:
    return Audience.STAFF if _is_staff(actor) else Audience.PUBLIC


def _staff_id(actor: Actor) -> int | None:
    return actor.id if actor.is_staff else None


def _language(value: str, field: str = "language") -> str:
    if value not in LANGUAGES:
        raise field_error(field, _("Choose one of: {options}").format(
            options=", ".join(LANGUAGES)))
    return value


# --- categories ---------------------------------------------------------------------------


@dataclass(frozen=True)
class CategoryNode:
    category: KbCategory
    depth: int
    articles: int  # published articles the viewer may read, in this category alone


def list_categories(session: Session) -> list[KbCategory]:
    return list(session.scalars(sa.select(KbCategory)
                                .order_by(KbCategory.position, KbCategory.id)))


def category_tree(session: Session, *, language: str | None = None,
                  audience: Audience = Audience.PUBLIC) -> list[CategoryNode]:
    """Every category, depth-first in position order, with its count of readable articles."""
    categories = list_categories(session)
    counts_query = (sa.select(Article.category_id, sa.func.count())
                    .where(*search.visible_articles(audience)).group_by(Article.category_id))
    if language:
        counts_query = counts_query.where(Article.language == language)
    counts: dict[int | None, int] = {row[0]: int(row[1]) for row in session.execute(
        counts_query)}
    children: dict[int | None, list[KbCategory]] = {}
    for category in categories:
        children.setdefault(category.parent_id, []).append(category)
    out: list[CategoryNode] = []

    def walk(parent: int | None, depth: int) -> None:
        for category in children.get(parent, []):
            out.append(CategoryNode(category, depth, counts.get(category.id, 0)))
            walk(category.id, depth + 1)

    walk(None, 0)
    return out


def get_category(session: Session, category_id: int) -> KbCategory:
    category = session.get(KbCategory, category_id) if 0 < category_id <= MAX_INT else None
    if category is None:
        raise errors.CategoryNotFound()
    return category


def get_category_by_slug(session: Session, slug: str) -> KbCategory:
    category = session.scalar(sa.select(KbCategory).where(KbCategory.slug == slug))
    if category is None:
        raise errors.CategoryNotFound()
    return category


def breadcrumbs(session: Session, category: KbCategory) -> list[KbCategory]:
    """The path from the root to the category, the category last."""
    path = [category]
    seen = {category.id}
    while path[0].parent_id is not None and path[0].parent_id not in seen:
        parent = session.get(KbCategory, path[0].parent_id)
        if parent is None:
            break
        seen.add(parent.id)
        path.insert(0, parent)
    return path


def subcategories(session: Session, category_id: int | None) -> list[KbCategory]:
    return list(session.scalars(sa.select(KbCategory).where(
        KbCategory.parent_id.is_(None) if category_id is None
        else KbCategory.parent_id == category_id)
        .order_by(KbCategory.position, KbCategory.id)))


# Words the help centre's own pages use after /help/{lang}/.
RESERVED_SLUGS = frozenset({"search", "solved", "suggest", "deflect", "files"})


def _check_slug(value: str, field: str = "slug") -> str:
    if not content.SLUG.match(value) or len(value) > content.MAX_SLUG:
        raise field_error(field, _("Use lower-case Latin letters, digits and dashes"))
    return value


MAX_CATEGORY_SLUG = 100  # kb_categories.slug


def _check_category_slug(value: str) -> str:
    if len(value) > MAX_CATEGORY_SLUG:
        raise field_error("slug", _("Enter at most {n} characters").format(n=MAX_CATEGORY_SLUG))
    if _check_slug(value) in RESERVED_SLUGS:
        raise field_error("slug", _("This address is taken by the help centre itself"))
    return value


def _check_parent(session: Session, category_id: int | None, parent_id: int | None) -> None:
    if parent_id is None:
        return
    parent = session.get(KbCategory, parent_id) if 0 < parent_id <= MAX_INT else None
    if parent is None:
        raise field_error("parent_id", _("Choose an existing category"))
    if category_id is not None and category_id in {c.id for c in breadcrumbs(session, parent)}:
        raise field_error("parent_id", _("A category cannot be placed inside itself"))


def create_category(
    session: Session, *, actor: Actor, name_ru: str, name_en: str = "", slug: str = "",
    description_ru: str = "", description_en: str = "", parent_id: int | None = None,
    position: int = 0, clock: Clock = SYSTEM_CLOCK,
) -> KbCategory:
    require(actor, Permission.MANAGE_KB)
    name_ru, name_en = name_ru.strip(), name_en.strip()
    if not name_ru:
        raise field_error("name_ru", _("This field is required"))
    made = content.slugify(name_en or name_ru)[:MAX_CATEGORY_SLUG].rstrip("-")
    slug = _check_category_slug(slug.strip() or made or "section")
    if session.scalar(sa.select(KbCategory.id).where(KbCategory.slug == slug)) is not None:
        raise field_error("slug", _("Another category already has this address"))
    _check_parent(session, None, parent_id)
    now = clock.now()
    category = KbCategory(slug=slug, name_ru=name_ru[:200], name_en=name_en[:200],
                          description_ru=description_ru.strip()[:500],
                          description_en=description_en.strip()[:500], parent_id=parent_id,
                          position=position, created_at=now, updated_at=now)
    session.add(category)
    session.flush()
    log.info("kb.category_created", category_id=category.id)
    return category


def update_category(session: Session, category_id: int, *, actor: Actor,
                    clock: Clock = SYSTEM_CLOCK, **changes: Any) -> KbCategory:
    """Change the given fields: name_ru, name_en, description_ru, description_en, slug,
    parent_id, position."""
    require(actor, Permission.MANAGE_KB)
    category = get_category(session, category_id)
    if "name_ru" in changes:
        if not str(changes["name_ru"]).strip():
            raise field_error("name_ru", _("This field is required"))
        category.name_ru = str(changes["name_ru"]).strip()[:200]
    for name in ("name_en", "description_ru", "description_en"):
        if name in changes:
            setattr(category, name, str(changes[name] or "").strip()[:500 if "desc" in name
                                                                      else 200])
    if "slug" in changes and changes["slug"] != category.slug:
        slug = _check_category_slug(str(changes["slug"]).strip())
        if session.scalar(sa.select(KbCategory.id).where(KbCategory.slug == slug,
                                                         KbCategory.id != category.id)):
            raise field_error("slug", _("Another category already has this address"))
        category.slug = slug
    if "parent_id" in changes:
        _check_parent(session, category.id, changes["parent_id"])
        category.parent_id = changes["parent_id"]
    if "position" in changes:
        category.position = int(changes["position"])
    category.updated_at = clock.now()
    session.flush()
    return category


def delete_category(session: Session, category_id: int, *, actor: Actor) -> None:
    require(actor, Permission.MANAGE_KB)
    category = get_category(session, category_id)
    if subcategories(session, category.id) or session.scalar(
            sa.select(Article.id).where(Article.category_id == category.id).limit(1)):
        raise Conflict(_("Move or delete its articles and subcategories first"))
    session.delete(category)
    session.flush()


# --- articles -----------------------------------------------------------------------------


def _readable(actor: Actor | None) -> list[sa.ColumnElement[bool]]:
    """The one filter every article read goes through."""
    return [] if _is_staff(actor) else search.visible_articles(Audience.PUBLIC)


def get_article_for(session: Session, actor: Actor | None, article_id: int, *,
                    for_update: bool = False) -> Article:
    """The article if the actor may read it; 404 otherwise, so drafts and internal articles
    do not reveal that they exist."""
    if not 0 < article_id <= MAX_BIGINT:
        raise errors.ArticleNotFound()
    query = sa.select(Article).where(Article.id == article_id, *_readable(actor))
    if for_update:
        query = query.with_for_update()
    article = session.scalar(query)
    if article is None:
        raise errors.ArticleNotFound()
    return article


def get_article_by_slug(session: Session, actor: Actor | None, language: str,
                        slug: str) -> Article:
    article = session.scalar(sa.select(Article).where(
        Article.language == language, Article.slug == slug, *_readable(actor)))
    if article is None:
        raise errors.ArticleNotFound()
    return article


@dataclass
class ArticleFilter:
    language: str | None = None
    category_id: int | None = None
    status: ArticleStatus | None = None
    visibility: Visibility | None = None
    q: str | None = None  # words of the title


def list_articles(session: Session, flt: ArticleFilter, *, actor: Actor | None,
                  limit: int = 50, offset: int = 0) -> list[Article]:
    """Articles the actor may read, the most recently changed first (in a category: in
    their position order)."""
    query = sa.select(Article).where(*_readable(actor))
    if flt.language:
        query = query.where(Article.language == flt.language)
    if flt.category_id is not None:
        query = query.where(Article.category_id == flt.category_id)
    if flt.status is not None:
        query = query.where(Article.status == flt.status)
    if flt.visibility is not None:
        query = query.where(Article.visibility == flt.visibility)
    for word in (flt.q or "").lower().split()[:8]:
        escaped = word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        query = query.where(sa.func.lower(Article.title).like(f"%{escaped}%", escape="\\"))
    order = ((Article.position, Article.title, Article.id) if flt.category_id is not None
             else (Article.updated_at.desc(), Article.id.desc()))
    return list(session.scalars(query.order_by(*order).limit(limit).offset(offset)))


def popular_articles(session: Session, *, language: str, limit: int = 6) -> list[Article]:
    """The most read published public articles of a language."""
    return list(session.scalars(sa.select(Article).where(
        Article.language == language, *search.visible_articles(Audience.PUBLIC))
        .order_by(Article.views.desc(), Article.id).limit(limit)))


def count_articles(session: Session, *, actor: Actor | None) -> dict[ArticleStatus, int]:
    rows = session.execute(sa.select(Article.status, sa.func.count())
                           .where(*_readable(actor)).group_by(Article.status))
    return {status: int(n) for status, n in rows}


def translations(session: Session, article: Article, *,
                 actor: Actor | None) -> dict[str, Article]:
    """The article and its readable versions in other languages, by language."""
    rows = session.scalars(sa.select(Article).where(
        Article.translation_group == article.translation_group, *_readable(actor)))
    return {row.language: row for row in rows}


def _unique_slug(session: Session, language: str, wanted: str, *,
                 article_id: int | None = None) -> str:
    base = wanted or "article"
    for n in range(1, 1000):
        slug = base if n == 1 else f"{base[:content.MAX_SLUG - 5]}-{n}"
        taken = session.scalar(sa.select(Article.id).where(
            Article.language == language, Article.slug == slug,
            Article.id != (article_id or 0)))
        if taken is None:
            return slug
    return f"{base[:content.MAX_SLUG - 33]}-{uuid.uuid4().hex}"


def _check_text(title: str, body: str) -> tuple[str, str]:
    title = " ".join(title.split())
    if not title:
        raise field_error("title", _("This field is required"))
    if len(title) > MAX_TITLE:
        raise field_error("title", _("Enter at most {n} characters").format(n=MAX_TITLE))
    if len(body) > MAX_BODY:
        raise field_error("body", _("Enter at most {n} characters").format(n=MAX_BODY))
    if not body.strip():
        raise field_error("body", _("Write the text of the article"))
    return title, body


def _check_category(session: Session, category_id: int | None) -> None:
    if category_id is not None and (not 0 < category_id <= MAX_INT
                                    or session.get(KbCategory, category_id) is None):
        raise field_error("category_id", _("Choose an existing category"))


def _record_version(session: Session, article: Article, *, actor: Actor, at: datetime,
                    note: str = "", restored_from: int | None = None) -> ArticleVersion:
    version = ArticleVersion(article_id=article.id, number=article.version,
                             title=article.title, body_source=article.body_source,
                             body_format=article.body_format, tags=list(article.tags),
                             author_id=_staff_id(actor), note=note.strip()[:200],
                             restored_from=restored_from, created_at=at)
    session.add(version)
    return version


def create_article(
    session: Session, *, actor: Actor, title: str, body: str, language: str,
    body_format: BodyFormat = BodyFormat.MARKDOWN, category_id: int | None = None,
    slug: str = "", tags: Sequence[str] = (), visibility: Visibility = Visibility.PUBLIC,
    status: ArticleStatus = ArticleStatus.DRAFT, translation_of: int | None = None,
    position: int = 0, clock: Clock = SYSTEM_CLOCK,
) -> Article:
    """A new article (version 1), a draft unless the author may publish."""
    require(actor, Permission.EDIT_KB)
    title, body = _check_text(title, body)
    language = _language(language)
    _check_category(session, category_id)
    group = uuid.uuid4().hex
    if translation_of is not None:
        original = get_article_for(session, actor, translation_of)
        if original.language == language:
            raise field_error("language", _("A translation needs another language"))
        if language in translations(session, original, actor=actor):
            raise field_error("language", _("This article already has a translation into "
                                            "this language"))
        group = original.translation_group
    if slug.strip():
        slug = _check_slug(slug.strip())
        if session.scalar(sa.select(Article.id).where(Article.language == language,
                                                      Article.slug == slug)) is not None:
            raise field_error("slug", _("Another article in this language has this address"))
    else:
        slug = _unique_slug(session, language, content.slugify(title))
    safe, plain = content.render(body, body_format)
    now = clock.now()
    article = Article(
        translation_group=group, category_id=category_id, language=language, slug=slug,
        title=title, body_source=body, body_format=body_format, body_html=safe,
        body_text=plain, tags=content.clean_tags(list(tags)), visibility=visibility,
        status=ArticleStatus.DRAFT, position=position, author_id=_staff_id(actor), version=1,
        created_at=now, updated_at=now,
    )
    session.add(article)
    session.flush()
    _record_version(session, article, actor=actor, at=now)
    search.index_article(session, article)
    if status != ArticleStatus.DRAFT:
        set_status(session, article.id, status, actor=actor, clock=clock)
    log.info("kb.article_created", article_id=article.id, language=language)
    return article


def update_article(
    session: Session, article_id: int, *, actor: Actor, expected_version: int | None = None,
    note: str = "", restored_from: int | None = None, clock: Clock = SYSTEM_CLOCK,
    **changes: Any,
) -> Article:
    """Save changes (title, body, body_format, tags, category_id, slug, visibility, position).
    A change of title, body or tags is a new version. With `expected_version`, a save over
    someone else's newer one is refused rather than lost."""
    require(actor, Permission.EDIT_KB)
    article = get_article_for(session, actor, article_id, for_update=True)
    if article.status == ArticleStatus.PUBLISHED and not actor.can(Permission.PUBLISH_KB):
        raise Forbidden(_("Only a supervisor or an administrator can change a published "
                          "article"))
    if expected_version is not None and expected_version != article.version:
        raise errors.EditConflict(_("Someone saved version {number} of this article after "
                                    "you opened it; your text is kept below, compare it with "
                                    "the history before saving again").format(
                                        number=article.version))
    title, body = _check_text(changes.get("title", article.title),
                              changes.get("body", article.body_source))
    body_format = BodyFormat(changes.get("body_format", article.body_format))
    tags = content.clean_tags(list(changes.get("tags", article.tags)))
    if "category_id" in changes:
        _check_category(session, changes["category_id"])
        if changes["category_id"] is None and article.status == ArticleStatus.PUBLISHED:
            raise field_error("category_id", _("A published article needs a category"))
        article.category_id = changes["category_id"]
    if "slug" in changes and changes["slug"] != article.slug:
        slug = _check_slug(str(changes["slug"]).strip())
        if session.scalar(sa.select(Article.id).where(
                Article.language == article.language, Article.slug == slug,
                Article.id != article.id)) is not None:
            raise field_error("slug", _("Another article in this language has this address"))
        article.slug = slug
    if "visibility" in changes:
        article.visibility = Visibility(changes["visibility"])
    if "position" in changes:
        article.position = int(changes["position"])
    now = clock.now()
    changed = (title, body, body_format, tags) != (
        article.title, article.body_source, article.body_format, list(article.tags))
    if changed:
        article.title, article.body_source, article.body_format = title, body, body_format
        article.tags = tags
        article.body_html, article.body_text = content.render(body, body_format)
        article.version += 1
        _record_version(session, article, actor=actor, at=now, note=note,
                        restored_from=restored_from)
    article.updated_at = now
    session.flush()
    search.index_article(session, article)
    return article


def set_status(session: Session, article_id: int, status: ArticleStatus, *, actor: Actor,
               clock: Clock = SYSTEM_CLOCK) -> Article:
    """Move an article along draft → review → published (or back)."""
    require(actor, Permission.EDIT_KB)
    article = get_article_for(session, actor, article_id, for_update=True)
    if article.status == status:
        return article  # a repeated click changes nothing
    needed = TRANSITIONS.get((article.status, status))
    if needed is None:
        raise errors.TransitionNotAllowed()
    require(actor, needed)
    if status == ArticleStatus.PUBLISHED and article.category_id is None:
        raise field_error("category_id", _("Choose a category before publishing"))
    now = clock.now()
    previous = article.status
    article.status = status
    article.updated_at = now
    if status == ArticleStatus.PUBLISHED:
        article.published_at = now
        outbox.add(session, ArticlePublished(at=now, article_id=article.id,
                                             language=article.language,
                                             actor_id=_staff_id(actor)))
    elif previous == ArticleStatus.PUBLISHED:
        outbox.add(session, ArticleUnpublished(at=now, article_id=article.id,
                                               language=article.language,
                                               actor_id=_staff_id(actor)))
    session.flush()
    log.info("kb.article_status", article_id=article.id, status=status.value)
    return article


def delete_article(session: Session, article_id: int, *, actor: Actor) -> None:
    require(actor, Permission.MANAGE_KB)
    article = get_article_for(session, actor, article_id, for_update=True)
    search.unindex_article(session, article.id, article.language)
    session.delete(article)
    session.flush()


# --- versions -----------------------------------------------------------------------------


def list_versions(session: Session, article_id: int, *, actor: Actor) -> list[ArticleVersion]:
    require(actor, Permission.EDIT_KB)
    get_article_for(session, actor, article_id)
    return list(session.scalars(sa.select(ArticleVersion)
                                .where(ArticleVersion.article_id == article_id)
                                .order_by(ArticleVersion.number.desc())))


def get_version(session: Session, article_id: int, number: int, *,
                actor: Actor) -> ArticleVersion:
    require(actor, Permission.EDIT_KB)
    get_article_for(session, actor, article_id)
    version = session.scalar(sa.select(ArticleVersion).where(
        ArticleVersion.article_id == article_id, ArticleVersion.number == number)
    ) if 0 < number <= MAX_INT else None
    if version is None:
        raise errors.VersionNotFound()
    return version


@dataclass(frozen=True)
class DiffLine:
    kind: str  # "add", "remove", "same", "skip"
    text: str


def _version_lines(version: ArticleVersion) -> list[str]:
    tags = ", ".join(version.tags)
    return [f"# {version.title}", *([f"[{tags}]"] if tags else []), "",
            *version.body_source.splitlines()]


def diff_versions(session: Session, article_id: int, old: int, new: int, *,
                  actor: Actor) -> list[DiffLine]:
    """What changed from version `old` to `new`, line by line (title and tags first)."""
    before = get_version(session, article_id, old, actor=actor)
    after = get_version(session, article_id, new, actor=actor)
    lines = []
    for line in difflib.unified_diff(_version_lines(before), _version_lines(after),
                                     lineterm="", n=3):
        if line.startswith(("---", "+++")):
            continue
        if line.startswith("@@"):
            lines.append(DiffLine("skip", "…"))
        elif line.startswith("+"):
            lines.append(DiffLine("add", line[1:]))
        elif line.startswith("-"):
            lines.append(DiffLine("remove", line[1:]))
        else:
            lines.append(DiffLine("same", line[1:]))
    return lines


def restore_version(session: Session, article_id: int, number: int, *, actor: Actor,
                    clock: Clock = SYSTEM_CLOCK) -> Article:
    """Make an old version the current text again, as a new version (history stays whole)."""
    version = get_version(session, article_id, number, actor=actor)
    return update_article(session, article_id, actor=actor, clock=clock, title=version.title,
                          body=version.body_source, body_format=version.body_format,
                          tags=list(version.tags), restored_from=number)


# --- related and suggested articles ---------------------------------------------------------


def related_articles(session: Session, article: Article, *, audience: Audience,
                     limit: int = 5) -> list[Hit]:
    """Articles on the same subject: a search for the title and tags, others of the same
    category after them."""
    hits = search.run_search(session, " ".join([article.title, *article.tags]),
                             language=article.language, audience=audience, limit=limit,
                             min_score=0.25, exclude_ids=[article.id]).hits
    if len(hits) < limit and article.category_id is not None:
        taken = {article.id, *(h.article_id for h in hits)}
        siblings = list_articles(session, ArticleFilter(language=article.language,
                                                        category_id=article.category_id,
                                                        status=ArticleStatus.PUBLISHED),
                                 actor=None, limit=limit + len(taken))
        category = session.get(KbCategory, article.category_id)
        for row in siblings:
            if row.id in taken or len(hits) >= limit:
                continue
            if audience == Audience.PUBLIC and row.visibility != Visibility.PUBLIC:
                continue
            hits.append(Hit(article_id=row.id, title=row.title, score=0.0,
                            snippet=content.excerpt(row.body_text, 160),
                            url=search.article_url(row, category.slug if category else None),
                            language=row.language, category_id=row.category_id,
                            is_internal=row.visibility == Visibility.INTERNAL))
    return hits


@dataclass(frozen=True)
class Suggestion:
    """An article for an agent's reply, in the customer's language where a translation is
    published."""

    hit: Hit
    article_id: int  # the article to send: the translation, when there is one
    title: str
    url: str
    excerpt: str
    language: str
    is_internal: bool


# A whole ticket (greeting, order numbers, signature) matches its article's terms less
# densely than a question does: the right article scored 0.27-0.34 on the demo's tickets,
# under the 0.35 a typed question needs, while their subjects alone scored 0.47-1.0.
TICKET_TEXT_MIN_SCORE = 0.2


def suggest_articles(session: Session, text: str, *, actor: Actor, language: str | None,
                     limit: int = 5, subject: str = "") -> list[Suggestion]:
    """Articles answering a ticket's text (agents see internal ones too, marked). With the
    ticket's `subject`, matches of the subject come first and the whole text (subject and
    first message) is searched with a lower bar."""
    audience = audience_of(actor)
    hits = []
    if subject.strip():
        hits = search.run_search(session, subject, language=None, audience=audience,
                                 limit=limit * 2, min_score=0.35).hits
    hits += search.run_search(session, text, language=None, audience=audience, limit=limit * 2,
                              min_score=TICKET_TEXT_MIN_SCORE if subject else 0.35).hits
    if language:
        # The customer's language first (a stable sort: subject matches stay ahead); an
        # article in another one is offered in theirs.
        hits = sorted(hits, key=lambda h: h.language != language)
    out: list[Suggestion] = []
    seen: set[int] = set()
    for hit in hits:
        article = session.get(Article, hit.article_id)
        if article is None:
            continue
        chosen = article
        if language and article.language != language:
            other = translations(session, article, actor=actor).get(language)
            if other is not None and other.status == ArticleStatus.PUBLISHED:
                chosen = other
        if chosen.id in seen:
            continue
        seen.add(chosen.id)
        category = session.get(KbCategory, chosen.category_id) if chosen.category_id else None
        out.append(Suggestion(hit=hit, article_id=chosen.id, title=chosen.title,
                              url=search.article_url(chosen, category.slug if category
                                                     else None),
                              excerpt=content.excerpt(chosen.body_text, 400),
                              language=chosen.language,
                              is_internal=chosen.visibility == Visibility.INTERNAL))
        if len(out) >= limit:
            break
    return out


def draft_from_message(session: Session, ticket_id: int, message_id: int, *, actor: Actor,
                       clock: Clock = SYSTEM_CLOCK) -> Article:
    """An agent's good answer as a draft article: the ticket's subject as its title."""
    from zabota.tickets import service as tickets

    require(actor, Permission.EDIT_KB)
    ticket = tickets.get_ticket_for(session, actor, ticket_id)
    message = next((m for m in tickets.list_messages(session, ticket_id, actor=actor)
                    if m.id == message_id), None)
    if message is None or message.author_kind.value not in ("agent", "bot"):
        raise errors.ArticleNotFound(_("Only an answer of an agent can become an article"))
    language = ticket.language if ticket.language in LANGUAGES else actor.language
    return create_article(session, actor=actor, title=ticket.subject or _("New article"),
                          body=_escape_markdown(message.body_text), language=language,
                          visibility=Visibility.PUBLIC, clock=clock)


_MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]<>#|])")


def _escape_markdown(text: str) -> str:
    # A customer-facing answer is plain text; it must read the same once rendered.
    return _MARKDOWN_SPECIAL.sub(r"\\\1", text)


# --- ratings --------------------------------------------------------------------------------


def rate_article(
    session: Session, article_id: int, *, is_helpful: bool, actor: Actor | None,
    visitor_id: str | None, comment: str = "", clock: Clock = SYSTEM_CLOCK,
) -> ArticleFeedback:
    """Record "was this helpful?"; the same visitor's second vote replaces the first."""
    article = get_article_for(session, actor, article_id, for_update=True)
    if len(comment) > MAX_COMMENT:
        raise field_error("comment", _("Enter at most {n} characters").format(n=MAX_COMMENT))
    customer_id = actor.id if actor is not None and actor.is_customer else None
    now = clock.now()
    previous = None
    if visitor_id or customer_id:
        who = (ArticleFeedback.customer_id == customer_id if customer_id
               else ArticleFeedback.visitor_id == visitor_id)
        previous = session.scalar(sa.select(ArticleFeedback).where(
            ArticleFeedback.article_id == article.id, who))
    if previous is not None:
        _count_vote(article, previous.is_helpful, -1)
        previous.is_helpful = is_helpful
        previous.comment = comment.strip() or previous.comment
        previous.updated_at = now
        feedback = previous
    else:
        feedback = ArticleFeedback(article_id=article.id, is_helpful=is_helpful,
                                   comment=comment.strip(), visitor_id=visitor_id,
                                   customer_id=customer_id, created_at=now, updated_at=now)
        session.add(feedback)
    _count_vote(article, is_helpful, +1)
    session.flush()
    return feedback


def _count_vote(article: Article, is_helpful: bool, delta: int) -> None:
    if is_helpful:
        article.helpful_yes = max(0, article.helpful_yes + delta)
    else:
        article.helpful_no = max(0, article.helpful_no + delta)


def list_feedback(session: Session, article_id: int, *, actor: Actor,
                  limit: int = 50) -> list[ArticleFeedback]:
    require(actor, Permission.EDIT_KB)
    return list(session.scalars(sa.select(ArticleFeedback)
                                .where(ArticleFeedback.article_id == article_id)
                                .order_by(ArticleFeedback.updated_at.desc()).limit(limit)))


# --- synonyms -------------------------------------------------------------------------------


def _clean_phrases(phrases: Sequence[str]) -> list[str]:
    seen: dict[str, None] = {}
    for phrase in phrases:
        cleaned = " ".join(phrase.lower().split())
        if len(cleaned) > MAX_PHRASE:
            raise field_error("phrases", _("Each phrase may have at most {n} characters")
                              .format(n=MAX_PHRASE))
        if cleaned:
            seen.setdefault(cleaned, None)
    if len(seen) < 2:
        raise field_error("phrases", _("Give at least two phrases that mean the same"))
    if len(seen) > MAX_PHRASES:
        raise field_error("phrases", _("At most {n} items").format(n=MAX_PHRASES))
    if not all(search.query_terms(p) for p in seen):
        raise field_error("phrases", _("Each phrase needs at least one word"))
    return list(seen)


def list_synonym_groups(session: Session) -> list[SynonymGroup]:
    return list(session.scalars(sa.select(SynonymGroup)
                                .order_by(SynonymGroup.language, SynonymGroup.id)))


def get_synonym_group(session: Session, group_id: int) -> SynonymGroup:
    group = session.get(SynonymGroup, group_id) if 0 < group_id <= MAX_INT else None
    if group is None:
        raise errors.SynonymGroupNotFound()
    return group


def create_synonym_group(session: Session, *, actor: Actor, language: str,
                         phrases: Sequence[str], clock: Clock = SYSTEM_CLOCK) -> SynonymGroup:
    require(actor, Permission.MANAGE_KB)
    now = clock.now()
    group = SynonymGroup(language=_language(language), phrases=_clean_phrases(phrases),
                         created_at=now, updated_at=now)
    session.add(group)
    session.flush()
    return group


def update_synonym_group(session: Session, group_id: int, *, actor: Actor, language: str,
                         phrases: Sequence[str], clock: Clock = SYSTEM_CLOCK) -> SynonymGroup:
    require(actor, Permission.MANAGE_KB)
    group = get_synonym_group(session, group_id)
    group.language = _language(language)
    group.phrases = _clean_phrases(phrases)
    group.updated_at = clock.now()
    session.flush()
    return group


def delete_synonym_group(session: Session, group_id: int, *, actor: Actor) -> None:
    require(actor, Permission.MANAGE_KB)
    session.delete(get_synonym_group(session, group_id))
    session.flush()


# --- canned responses -----------------------------------------------------------------------

PLACEHOLDER = re.compile(r"\{\{\s*([a-z_]+\.[a-z_]+)\s*\}\}")
PLACEHOLDERS = ("customer.first_name", "customer.name", "ticket.number", "ticket.subject",
                "agent.name", "agent.first_name")


def list_canned(session: Session, *, actor: Actor, language: str | None = None,
                include_inactive: bool = False) -> list[CannedResponse]:
    require(actor, Permission.WORK_TICKETS)
    query = sa.select(CannedResponse)
    if not include_inactive:
        query = query.where(CannedResponse.is_active.is_(True))
    if language:
        query = query.where(CannedResponse.language == language)
    return list(session.scalars(query.order_by(CannedResponse.title, CannedResponse.language,
                                               CannedResponse.tone)))


def get_canned(session: Session, canned_id: int, *, actor: Actor) -> CannedResponse:
    require(actor, Permission.WORK_TICKETS)
    row = session.get(CannedResponse, canned_id) if 0 < canned_id <= MAX_INT else None
    if row is None:
        raise errors.CannedResponseNotFound()
    return row


def _check_canned(session: Session, title: str, body: str, language: str, tone: Tone,
                  canned_id: int | None) -> tuple[str, str]:
    title = " ".join(title.split())
    if not title:
        raise field_error("title", _("This field is required"))
    if len(title) > 200:
        raise field_error("title", _("Enter at most {n} characters").format(n=200))
    if not body.strip():
        raise field_error("body", _("This field is required"))
    if len(body) > MAX_CANNED_BODY:
        raise field_error("body", _("Enter at most {n} characters").format(n=MAX_CANNED_BODY))
    unknown = sorted({name for name in PLACEHOLDER.findall(body) if name not in PLACEHOLDERS})
    if unknown:
        raise field_error("body", _("Unknown placeholder {name}; use one of: {options}").format(
            name="{{" + unknown[0] + "}}",
            options=", ".join("{{" + p + "}}" for p in PLACEHOLDERS)))
    _language(language)
    taken = session.scalar(sa.select(CannedResponse.id).where(
        CannedResponse.title == title, CannedResponse.language == language,
        CannedResponse.tone == tone, CannedResponse.id != (canned_id or 0)))
    if taken is not None:
        raise field_error("title", _("A response with this title, language and tone exists"))
    return title, body.strip()


def create_canned(session: Session, *, actor: Actor, title: str, body: str, language: str,
                  tone: Tone = Tone.FORMAL, clock: Clock = SYSTEM_CLOCK) -> CannedResponse:
    require(actor, Permission.MANAGE_KB)
    title, body = _check_canned(session, title, body, language, tone, None)
    now = clock.now()
    row = CannedResponse(title=title, body=body, language=language, tone=tone,
                         created_by_id=_staff_id(actor), created_at=now, updated_at=now)
    session.add(row)
    session.flush()
    return row


def update_canned(session: Session, canned_id: int, *, actor: Actor, title: str, body: str,
                  language: str, tone: Tone, is_active: bool = True,
                  clock: Clock = SYSTEM_CLOCK) -> CannedResponse:
    require(actor, Permission.MANAGE_KB)
    row = get_canned(session, canned_id, actor=actor)
    row.title, row.body = _check_canned(session, title, body, language, tone, row.id)
    row.language, row.tone, row.is_active = language, tone, is_active
    row.updated_at = clock.now()
    session.flush()
    return row


def delete_canned(session: Session, canned_id: int, *, actor: Actor) -> None:
    require(actor, Permission.MANAGE_KB)
    session.delete(get_canned(session, canned_id, actor=actor))
    session.flush()


def fill_placeholders(body: str, values: dict[str, str]) -> str:
    """The template with each known placeholder replaced; unknown ones are left visible."""
    return PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), body)


def placeholder_values(session: Session, ticket_id: int, *, actor: Actor) -> dict[str, str]:
    """What the placeholders stand for in one ticket, for the agent who answers it."""
    from zabota.identity import service as identity
    from zabota.tickets import service as tickets

    ticket = tickets.get_ticket_for(session, actor, ticket_id)
    customer = identity.get_customer(session, ticket.customer_id, actor=actor)
    name = (customer.name or "").strip()
    agent_name = actor.name.strip()
    return {
        "customer.name": name, "customer.first_name": name.split()[0] if name else "",
        "ticket.number": str(ticket.number), "ticket.subject": ticket.subject,
        "agent.name": agent_name, "agent.first_name": agent_name.split()[0] if agent_name
        else "",
    }


# --- files of articles ----------------------------------------------------------------------


def store_article_file(session: Session, article_id: int, *, actor: Actor, filename: str,
                       content_type: str | None, data: bytes, settings: Settings,
                       clock: Clock = SYSTEM_CLOCK) -> Attachment:
    """Keep an image or document for an article; its Markdown link is /help/files/{id}/…"""
    require(actor, Permission.EDIT_KB)
    article = get_article_for(session, actor, article_id)
    row = store_attachment(session, actor=actor, filename=filename, content_type=content_type,
                           data=data, settings=settings, clock=clock)
    session.add(ArticleAttachment(attachment_id=row.id, article_id=article.id))
    session.flush()
    return row


def article_files(session: Session, article_id: int) -> list[Attachment]:
    return list(session.scalars(
        sa.select(Attachment).join(ArticleAttachment,
                                   ArticleAttachment.attachment_id == Attachment.id)
        .where(ArticleAttachment.article_id == article_id).order_by(Attachment.id)))


def file_url(row: Attachment) -> str:
    return f"/help/files/{row.id}/{quote(row.filename)}"


def get_article_file(session: Session, actor: Actor | None, attachment_id: int,
                     settings: Settings) -> tuple[Attachment, Path]:
    """A file of an article the actor may read (staff: any; others: published public)."""
    if not 0 < attachment_id <= MAX_BIGINT:
        raise errors.ArticleNotFound()
    link = session.get(ArticleAttachment, attachment_id)
    row = session.get(Attachment, attachment_id)
    if link is None or row is None:
        raise errors.ArticleNotFound()
    get_article_for(session, actor, link.article_id)
    return row, settings.attachments_path / row.storage_key
