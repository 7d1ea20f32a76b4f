"""Articles, their workflow and versions, categories, ratings, synonyms and canned responses
through the service functions."""

from __future__ import annotations

from datetime import timedelta

import pytest

from zabota.core.errors import Conflict, Forbidden, InvalidInput
from zabota.identity.models import Role
from zabota.identity.service import actor_for_customer, actor_for_user
from zabota.kb import errors
from zabota.kb import service as kb
from zabota.kb.models import ArticleStatus, BodyFormat, Tone, Visibility
from zabota.tickets import service as tickets


@pytest.fixture
def people(make_agent, editor, make_customer):
    agent = make_agent(role=Role.AGENT)
    return {"agent": actor_for_user(agent), "editor": actor_for_user(editor),
            "customer": actor_for_customer(make_customer())}


def test_markdown_is_rendered_sanitised_and_kept_as_written(session, people, make_category):
    category = make_category()
    article = kb.create_article(
        session, actor=people["agent"], language="ru", category_id=category.id,
        title="  Как   оплатить  ", body="## Шаги\n\n1. Откройте **корзину**\n2. Нажмите "
        "[оплатить](https://shop.example/pay)\n\n<script>alert(1)</script>\n\n"
        "[плохая ссылка](javascript:alert(1))")
    assert article.title == "Как оплатить" and article.slug == "kak-oplatit"
    assert article.status == ArticleStatus.DRAFT and article.version == 1
    assert "<h2>Шаги</h2>" in article.body_html and "<strong>корзину</strong>" in article.body_html
    assert 'href="https://shop.example/pay"' in article.body_html
    assert "<script>" not in article.body_html and "href=\"javascript" not in article.body_html
    assert "&lt;script&gt;" in article.body_html  # raw HTML in Markdown is shown as text
    assert article.body_source.startswith("## Шаги")
    assert "Откройте корзину" in article.body_text
    html_article = kb.create_article(
        session, actor=people["agent"], language="ru", title="HTML",
        body='<p onclick="x()">Текст<img src="x" onerror="y()"></p><iframe src="e"></iframe>',
        body_format=BodyFormat.HTML)
    assert html_article.body_html == '<p>Текст<img src="x"></p>'


def test_workflow_draft_review_published_with_permissions(session, people, make_category):
    category = make_category()
    agent, editor = people["agent"], people["editor"]
    article = kb.create_article(session, actor=agent, title="Подарочные карты",
                                body="Карту можно купить на сайте.", language="ru")
    with pytest.raises(Forbidden):
        kb.set_status(session, article.id, ArticleStatus.PUBLISHED, actor=agent)
    kb.set_status(session, article.id, ArticleStatus.REVIEW, actor=agent)
    with pytest.raises(InvalidInput) as no_category:
        kb.set_status(session, article.id, ArticleStatus.PUBLISHED, actor=editor)
    assert no_category.value.data["errors"][0]["field"] == "category_id"
    kb.update_article(session, article.id, actor=agent, category_id=category.id)
    kb.set_status(session, article.id, ArticleStatus.PUBLISHED, actor=editor)
    assert article.status == ArticleStatus.PUBLISHED and article.published_at is not None
    with pytest.raises(Forbidden):  # a published text changes through an editor
        kb.update_article(session, article.id, actor=agent, body="Другой текст")
    with pytest.raises(errors.TransitionNotAllowed):
        kb.set_status(session, article.id, ArticleStatus.REVIEW, actor=editor)
    kb.set_status(session, article.id, ArticleStatus.PUBLISHED, actor=editor)  # no-op
    kb.set_status(session, article.id, ArticleStatus.DRAFT, actor=editor)
    assert article.status == ArticleStatus.DRAFT


def test_customers_never_create_or_edit(session, people):
    with pytest.raises(Forbidden):
        kb.create_article(session, actor=people["customer"], title="x", body="y",
                          language="ru")


def test_visibility_of_single_articles(session, people, make_article):
    public = make_article("Публичная", "Текст")
    internal = make_article("Внутренняя", "Текст", visibility=Visibility.INTERNAL)
    draft = make_article("Черновик", "Текст", status=ArticleStatus.DRAFT)
    for reader in (None, people["customer"]):
        assert kb.get_article_for(session, reader, public.id) is public
        for hidden in (internal, draft):
            with pytest.raises(errors.ArticleNotFound):
                kb.get_article_for(session, reader, hidden.id)
            with pytest.raises(errors.ArticleNotFound):
                kb.get_article_by_slug(session, reader, "ru", hidden.slug)
        listed = kb.list_articles(session, kb.ArticleFilter(), actor=reader)
        assert [a.id for a in listed] == [public.id]
    staff = kb.list_articles(session, kb.ArticleFilter(), actor=people["agent"])
    assert {a.id for a in staff} == {public.id, internal.id, draft.id}


def test_every_save_is_a_version_with_diff_and_restore(session, people, frozen_clock):
    agent = people["agent"]
    article = kb.create_article(session, actor=agent, title="Доставка", language="ru",
                                body="Первая строка\nВторая строка", clock=frozen_clock)
    frozen_clock.advance(timedelta(minutes=5))
    kb.update_article(session, article.id, actor=agent, body="Первая строка\nНовая строка",
                      tags=["курьер"], clock=frozen_clock)
    kb.update_article(session, article.id, actor=agent, position=3)  # no text change
    versions = kb.list_versions(session, article.id, actor=agent)
    assert [v.number for v in versions] == [2, 1]
    assert versions[0].author_id == agent.id and versions[0].created_at == frozen_clock.now()
    diff = kb.diff_versions(session, article.id, 1, 2, actor=agent)
    assert kb.DiffLine("remove", "Вторая строка") in diff
    assert kb.DiffLine("add", "Новая строка") in diff
    assert kb.DiffLine("add", "[курьер]") in diff
    restored = kb.restore_version(session, article.id, 1, actor=agent)
    assert restored.version == 3 and restored.body_source == "Первая строка\nВторая строка"
    assert restored.tags == [] and "Вторая строка" in restored.body_html
    latest = kb.list_versions(session, article.id, actor=agent)[0]
    assert latest.restored_from == 1
    with pytest.raises(errors.VersionNotFound):
        kb.diff_versions(session, article.id, 1, 9, actor=agent)


def test_a_stale_save_is_refused_not_lost(session, people):
    agent = people["agent"]
    article = kb.create_article(session, actor=agent, title="Самовывоз", body="Текст",
                                language="ru")
    kb.update_article(session, article.id, actor=agent, body="Текст коллеги",
                      expected_version=1)
    with pytest.raises(errors.EditConflict):
        kb.update_article(session, article.id, actor=agent, body="Мой текст",
                          expected_version=1)
    assert article.body_source == "Текст коллеги"


def test_bad_article_input_names_the_field(session, people, make_article):
    agent = people["agent"]
    cases = [
        ({"title": "  ", "body": "x"}, "title"),
        ({"title": "x" * 301, "body": "x"}, "title"),
        ({"title": "x", "body": "   "}, "body"),
        ({"title": "x", "body": "y", "language": "de"}, "language"),
        ({"title": "x", "body": "y", "slug": "Не слаг"}, "slug"),
        ({"title": "x", "body": "y", "category_id": 999_999}, "category_id"),
    ]
    for fields, field in cases:
        with pytest.raises(InvalidInput) as refused:
            kb.create_article(session, actor=agent, **{"language": "ru", **fields})
        assert refused.value.data["errors"][0]["field"] == field
    taken = make_article("Занято", "Текст")
    with pytest.raises(InvalidInput):
        kb.create_article(session, actor=agent, title="x", body="y", language="ru",
                          slug=taken.slug)
    same_title = kb.create_article(session, actor=agent, title="Занято", body="y",
                                   language="ru")
    assert same_title.slug == "zanyato-2"


def test_translations_are_linked_once_per_language(session, people, make_article):
    ru = make_article("Оплата", "Текст")
    en = kb.create_article(session, actor=people["agent"], title="Payment", body="Text",
                           language="en", translation_of=ru.id)
    assert en.translation_group == ru.translation_group
    assert set(kb.translations(session, ru, actor=people["agent"])) == {"ru", "en"}
    assert set(kb.translations(session, ru, actor=None)) == {"ru"}  # the draft is hidden
    for language in ("en", "ru"):
        with pytest.raises(InvalidInput):
            kb.create_article(session, actor=people["agent"], title="x", body="y",
                              language=language, translation_of=ru.id)


def test_category_tree_any_depth_without_cycles(session, people, make_category, make_article):
    editor = people["editor"]
    root = make_category("Заказы", slug="orders")
    child = make_category("Доставка", slug="delivery", parent_id=root.id)
    grandchild = make_category("Курьеры", slug="couriers", parent_id=child.id)
    make_article("Курьер опаздывает", "Текст", category_id=grandchild.id)
    tree = kb.category_tree(session, language="ru")
    assert [(n.category.slug, n.depth, n.articles) for n in tree] == [
        ("orders", 0, 0), ("delivery", 1, 0), ("couriers", 2, 1)]
    assert [c.slug for c in kb.breadcrumbs(session, grandchild)] == [
        "orders", "delivery", "couriers"]
    with pytest.raises(InvalidInput):
        kb.update_category(session, root.id, actor=editor, parent_id=grandchild.id)
    with pytest.raises(InvalidInput):
        make_category("Другие", slug="orders")
    with pytest.raises(Conflict):
        kb.delete_category(session, child.id, actor=editor)
    with pytest.raises(Forbidden):
        kb.create_category(session, actor=people["agent"], name_ru="Новый")


def test_helpful_votes_one_per_visitor(session, people, make_article):
    article = make_article("Статья", "Текст")
    kb.rate_article(session, article.id, is_helpful=False, actor=None, visitor_id="v1")
    kb.rate_article(session, article.id, is_helpful=True, actor=None, visitor_id="v1",
                    comment="Теперь понятно")
    kb.rate_article(session, article.id, is_helpful=False, actor=people["customer"],
                    visitor_id="v2", comment="Не помогло")
    assert (article.helpful_yes, article.helpful_no) == (1, 1)
    comments = {f.comment for f in kb.list_feedback(session, article.id, actor=people["agent"])}
    assert comments == {"Теперь понятно", "Не помогло"}
    hidden = make_article("Внутренняя", "Текст", visibility=Visibility.INTERNAL)
    with pytest.raises(errors.ArticleNotFound):
        kb.rate_article(session, hidden.id, is_helpful=True, actor=None, visitor_id="v1")
    with pytest.raises(InvalidInput):
        kb.rate_article(session, article.id, is_helpful=True, actor=None, visitor_id="v3",
                        comment="x" * 2001)


def test_synonym_groups_are_validated(session, people):
    editor = people["editor"]
    group = kb.create_synonym_group(session, actor=editor, language="ru",
                                    phrases=["Возврат", " вернуть  деньги ", "возврат", ""])
    assert group.phrases == ["возврат", "вернуть деньги"]
    for phrases in (["один"], ["a" * 101, "b"], ["!!!", "?"]):
        with pytest.raises(InvalidInput):
            kb.create_synonym_group(session, actor=editor, language="ru", phrases=phrases)
    with pytest.raises(Forbidden):
        kb.create_synonym_group(session, actor=people["agent"], language="ru",
                                phrases=["a b", "c"])


def test_canned_responses_fill_placeholders(session, people, make_customer, make_agent):
    editor = people["editor"]
    friendly = kb.create_canned(
        session, actor=editor, title="Заказ в пути", language="ru", tone=Tone.FRIENDLY,
        body="{{customer.first_name}}, привет! Заказ по обращению #{{ ticket.number }} "
             "уже едет. {{agent.first_name}}")
    kb.create_canned(session, actor=editor, title="Заказ в пути", language="ru",
                     tone=Tone.FORMAL, body="Уважаемый(ая) {{customer.name}}, ...")
    with pytest.raises(InvalidInput) as unknown:
        kb.create_canned(session, actor=editor, title="Ошибка", language="ru",
                         body="Привет, {{customer.phone}}")
    assert "{{customer.phone}}" in unknown.value.detail
    with pytest.raises(InvalidInput):  # same title, language and tone
        kb.create_canned(session, actor=editor, title="Заказ в пути", language="ru",
                         tone=Tone.FRIENDLY, body="x")
    agent = make_agent(language="ru")
    customer = make_customer(name="Ольга Смирнова")
    ticket = tickets.create_ticket(session, actor=actor_for_user(agent), subject="Где заказ",
                                   message=tickets.NewMessage(text="Где мой заказ?"),
                                   customer_id=customer.id, assignee_id=agent.id)
    values = kb.placeholder_values(session, ticket.id, actor=actor_for_user(agent))
    text = kb.fill_placeholders(friendly.body, values)
    assert text == f"Ольга, привет! Заказ по обращению #{ticket.number} уже едет. Agent"
    assert [c.tone for c in kb.list_canned(session, actor=people["agent"])] == [
        Tone.FORMAL, Tone.FRIENDLY]
    with pytest.raises(Forbidden):
        kb.list_canned(session, actor=people["customer"])


def test_an_agent_answer_becomes_a_draft(session, people, make_agent, make_ticket):
    agent = make_agent(role=Role.SUPERVISOR)
    actor = actor_for_user(agent)
    ticket = make_ticket(subject="Как сменить адрес доставки", language="ru")
    answer = tickets.add_message(session, ticket.id, tickets.NewMessage(
        text="Откройте заказ и нажмите *Изменить адрес*."), actor=actor)
    article = kb.draft_from_message(session, ticket.id, answer.id, actor=actor)
    assert article.status == ArticleStatus.DRAFT and article.title == ticket.subject
    assert "*Изменить адрес*" in article.body_text  # plain text stays plain
    first = tickets.list_messages(session, ticket.id, actor=actor)[0]
    with pytest.raises(errors.ArticleNotFound):  # the customer's message is not an answer
        kb.draft_from_message(session, ticket.id, first.id, actor=actor)


def test_a_ticket_page_finds_the_article_through_a_chatty_first_message(session, make_article):
    from zabota.identity.permissions import SYSTEM

    broken = make_article("Товар оказался бракованным",
                          "Если товар сломался или пришёл с браком, оформите возврат или "
                          "обмен в личном кабинете: приложите фото дефекта.")
    make_article("Способы оплаты", "Картой, через СБП или наличными курьеру.")
    subject = "Возврат бракованного товара"
    text = (f"{subject} Доброе утро!\n\nКупил «Блендер Philips» 22 августа, через неделю "
            "он перестал включаться. Заказ 4156057, чек сохранил. Что делать?\n\n"
            "С уважением, Игорь Петров, +7 916 123-45-67")

    shown = kb.suggest_articles(session, text, actor=SYSTEM, language="ru", subject=subject)

    assert [s.article_id for s in shown][:1] == [broken.id]
