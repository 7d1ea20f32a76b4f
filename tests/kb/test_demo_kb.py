"""The demo help centre: at least 40 public articles in each language, translations linked,
and everyday questions find the article that answers them."""

from __future__ import annotations

import random

import pytest
import sqlalchemy as sa

from zabota.core.clock import FrozenClock
from zabota.identity.service import actor_for_user
from zabota.kb import search
from zabota.kb import service as kb
from zabota.kb.demo import load_demo_kb
from zabota.kb.models import Article, ArticleStatus, SearchLog, Visibility
from zabota.kb.search import Audience


@pytest.fixture
def demo(session, editor, frozen_clock):
    summary = load_demo_kb(session, actor=actor_for_user(editor),
                           clock=FrozenClock(frozen_clock.now()), rng=random.Random(1),
                           searches=40, tickets=10)
    return summary


def test_a_bilingual_help_centre_of_at_least_40_articles(session, demo):
    assert demo.startswith("86 articles in 10 categories")
    for language in ("ru", "en"):
        public = session.scalar(sa.select(sa.func.count()).select_from(Article).where(
            Article.language == language, Article.visibility == Visibility.PUBLIC,
            Article.status == ArticleStatus.PUBLISHED))
        assert public >= 40
    groups = session.execute(sa.select(Article.translation_group, sa.func.count())
                             .group_by(Article.translation_group)).all()
    assert all(count == 2 for _group, count in groups)
    assert session.scalar(sa.select(sa.func.count()).select_from(SearchLog)) == 40
    assert load_demo_kb(session, actor=None, clock=FrozenClock(  # type: ignore[arg-type]
        sa.func.now()), rng=random.Random(1)) == "knowledge base kept"


def test_every_article_is_found_by_its_title(session, demo):
    for article in session.scalars(sa.select(Article)):
        hits = search.search(session, article.title, language=article.language,
                             audience=Audience.STAFF, limit=3)
        assert hits and hits[0].article_id == article.id, (article.title, hits[:1])


@pytest.mark.parametrize(("question", "language", "expected"), [
    ("где мой заказ 12345?", "ru", "Где мой заказ? Как отследить заказ"),
    ("как вернуть товар", "ru", "Как вернуть товар"),
    ("хочу вернуть деньги за кроссовки", "ru", "Как вернуть товар"),
    ("когда придут деньги за возврат", "ru", "Когда вернутся деньги за возврат"),
    ("не проходит оплата", "ru", "Не проходит оплата картой"),
    ("деньги списали два раза", "ru",
     "Деньги списались, а заказ не оплачен, или списали дважды"),
    ("не приходит смс с кодом для входа", "ru", "Не приходит код для входа"),
    ("курьер так и не приехал", "ru", "Курьер не приехал или опаздывает"),
    ("сколько хранится посылка в постамате", "ru", "Сколько заказ хранится в пункте выдачи"),
    ("промокод не применяется", "ru", "Не применяется промокод"),
    ("where is my parcel", "en", "Where is my order? Tracking an order"),
    ("how do I get a refund", "en", "When will I get my refund"),
    ("my card is declined", "en", "My card payment fails"),
    ("the app keeps crashing", "en", "The app does not open or crashes"),
])
def test_everyday_questions_find_their_article(session, demo, question, language, expected):
    outcome = search.run_search(session, question, language=language,
                                audience=Audience.PUBLIC, limit=3)
    titles = [hit.title for hit in outcome.hits]
    assert expected in titles, titles


def test_internal_demo_articles_stay_internal(session, demo):
    hits = search.search(session, "компенсация за задержку доставки", language="ru",
                         audience=Audience.PUBLIC, limit=10)
    assert all(not hit.is_internal for hit in hits)
    staff = search.search(session, "компенсация за задержку доставки", language="ru",
                          audience=Audience.STAFF, limit=3)
    assert staff[0].title.startswith("Регламент")
    tree = kb.category_tree(session, audience=Audience.PUBLIC)
    assert {n.category.slug: n.articles for n in tree}["agents"] == 0
