"""Knowledge-base fixtures: categories and articles made through the real service."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy.orm import Session

from zabota.identity.models import Role, User
from zabota.identity.service import actor_for_user
from zabota.kb import service as kb
from zabota.kb.models import Article, ArticleStatus, KbCategory, Visibility


@pytest.fixture
def editor(make_agent: Callable[..., User]) -> User:
    """A supervisor: may publish and manage the knowledge base."""
    return make_agent(role=Role.SUPERVISOR)


@pytest.fixture
def make_category(session: Session, editor: User) -> Callable[..., KbCategory]:
    counter = iter(range(1, 10_000))

    def make(name: str | None = None, **kwargs: Any) -> KbCategory:
        n = next(counter)
        return kb.create_category(session, actor=actor_for_user(editor),
                                  name_ru=name or f"Раздел {n}",
                                  name_en=kwargs.pop("name_en", f"Section {n}"),
                                  slug=kwargs.pop("slug", f"section-{n}"), **kwargs)

    return make


@pytest.fixture
def make_article(session: Session, editor: User,
                 make_category: Callable[..., KbCategory]) -> Callable[..., Article]:
    default: list[KbCategory] = []

    def make(title: str, body: str, *, language: str = "ru",
             status: ArticleStatus = ArticleStatus.PUBLISHED,
             visibility: Visibility = Visibility.PUBLIC, **kwargs: Any) -> Article:
        if "category_id" not in kwargs:
            if not default:
                default.append(make_category())
            kwargs["category_id"] = default[0].id
        return kb.create_article(session, actor=actor_for_user(editor), title=title,
                                 body=body, language=language, status=status,
                                 visibility=visibility, **kwargs)

    return make
