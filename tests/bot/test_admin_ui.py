"""The bot's admin pages in the browser's shoes: FAQ pairs, the flow editor with readable
errors, versions and restore, the dry run against a local shop, and the review of turns."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa

from tests.bot.test_flows import order_status, shop  # noqa: F401 - the shop fixture
from tests.web.test_admin_ui import PASSWORD, post, sign_in
from zabota.bot import service as bot
from zabota.bot.models import BotFaq, BotFlow, BotTurn
from zabota.bot.schemas import FaqIn
from zabota.channels.chat import service as chat
from zabota.identity.models import Role
from zabota.identity.permissions import SYSTEM
from zabota.tickets.models import Ticket

FORBIDDEN = "У вас нет прав на это действие"


@pytest.fixture
def client(app_client):
    app_client.headers.update({"Accept": "text/html", "Accept-Language": "ru-RU,ru;q=0.9"})
    return app_client


@pytest.fixture
def admin(session, make_agent):
    user = make_agent(role=Role.ADMIN, password=PASSWORD)
    session.commit()
    return user


def _english(client):
    client.headers["Accept-Language"] = "en"


PAGES = ("/admin/bot/faq", "/admin/bot/faq/new", "/admin/bot/flows", "/admin/bot/flows/new",
         "/admin/bot/turns")


def test_agents_cannot_reach_the_bot_pages_supervisors_can(client, session, make_agent):
    agent = make_agent(role=Role.AGENT, password=PASSWORD)
    supervisor = make_agent(role=Role.SUPERVISOR, password=PASSWORD)
    pair = bot.save_faq(session, FaqIn(language="ru", question="Вы работаете в выходные?",
                                       answer="Да"), actor=SYSTEM)
    bot.save_flow(session, order_status("http://127.0.0.1:9"))
    session.commit()

    sign_in(client, agent.email)
    for path in (*PAGES, f"/admin/bot/faq/{pair.id}", "/admin/bot/flows/order_status",
                 "/admin/bot/flows/order_status/versions/1"):
        page = client.get(path)
        assert page.status_code == 403 and FORBIDDEN in page.text, path
    assert client.post(f"/admin/bot/faq/{pair.id}/delete",
                       data={"csrf_token": "x"}).status_code == 403
    assert session.get(BotFaq, pair.id) is not None

    sign_in(client, supervisor.email)
    for path in PAGES:
        assert client.get(path).status_code == 200, path
    assert 'href="/admin/bot/faq"' in client.get("/admin/users").text  # in the navigation


def test_admin_creates_edits_and_deletes_a_faq_pair(client, session, admin):
    sign_in(client, admin.email)

    created = post(client, "/admin/bot/faq/new", {
        "language": "ru", "question": "Вы работаете в выходные?",
        "alternatives": "Работаете в субботу\n\nЧасы работы", "answer": "Да, каждый день.",
        "article_slug": "", "is_active": "true"})

    assert created.status_code == 303
    pair = session.scalars(sa.select(BotFaq)).one()
    assert pair.alternatives == ["Работаете в субботу", "Часы работы"] and pair.is_active
    listing = client.get("/admin/bot/faq").text
    assert "Вы работаете в выходные?" in listing and "Сохранено" in client.get(
        "/admin/bot/faq?saved=1").text
    edited = post(client, f"/admin/bot/faq/{pair.id}", {
        "language": "ru", "question": "Вы работаете по выходным?", "alternatives": "",
        "answer": "Да.", "article_slug": ""})
    assert edited.status_code == 303
    session.refresh(pair)
    assert (pair.question, pair.alternatives, pair.is_active) == (
        "Вы работаете по выходным?", [], False)
    deleted = post(client, f"/admin/bot/faq/{pair.id}/delete", {}, form_page="/admin/bot/faq")
    assert deleted.status_code == 303
    assert session.scalar(sa.select(sa.func.count()).select_from(BotFaq)) == 0


@pytest.mark.parametrize(("field", "value", "message"), [
    ("question", "", "Введите не менее 3 символов"),
    ("answer", "", "Поле не может быть пустым"),
    ("language", "de", "Выберите одно из"),
    ("article_slug", "no-such-article", 'id="article-slug-error"'),
    ("alternatives", "ok\nx", "Введите не менее 3 символов"),
    ("question", "я" * 301, "Введите не более 300 символов"),
])
def test_bad_faq_input_is_shown_next_to_the_field(client, session, admin, field, value,
                                                  message):
    sign_in(client, admin.email)
    form = {"language": "ru", "question": "Вы работаете в выходные?", "alternatives": "",
            "answer": "Да", "article_slug": "", field: value}

    refused = post(client, "/admin/bot/faq/new", form)

    assert refused.status_code == 422
    assert message in refused.text
    assert f'id="{field.replace("_", "-")}-error"' in refused.text
    assert session.scalar(sa.select(sa.func.count()).select_from(BotFaq)) == 0


def test_a_faq_form_with_a_stale_token_or_an_unknown_pair_is_refused(client, session, admin):
    sign_in(client, admin.email)
    stale = client.post("/admin/bot/faq/new", data={"question": "Вопрос?", "answer": "Да",
                                                    "language": "ru", "csrf_token": "stale"})
    assert stale.status_code == 403
    assert client.get("/admin/bot/faq/999999").status_code == 404
    assert client.get("/admin/bot/flows/no_such_flow").status_code == 404


def _definition(shop_url: str, **changes: object) -> str:
    return json.dumps({**order_status(shop_url), **changes}, ensure_ascii=False, indent=2)


def test_flow_errors_name_the_line_and_the_field_in_russian(client, session, admin, shop):  # noqa: F811
    sign_in(client, admin.email)
    broken = order_status(shop)
    broken["steps"][0]["pattern"] = "(unclosed"
    broken["steps"][1]["url"] = "ftp://shop"
    broken["steps"][2]["colour"] = "red"
    text = json.dumps(broken, ensure_ascii=False, indent=2)
    line_of = {key: n for n, line in enumerate(text.splitlines(), 1)
               for key in ("pattern", "url", "colour") if f'"{key}"' in line}

    refused = post(client, "/admin/bot/flows/new", {"definition": text},
                   form_page="/admin/bot/flows/new")

    assert refused.status_code == 422
    assert session.scalar(sa.select(sa.func.count()).select_from(BotFlow)) == 0
    page = refused.text
    assert "Неизвестное поле" in page  # an existing translation
    for key in ("pattern", "url", "colour"):
        assert f"{line_of[key]} · <code>" in page, key  # the line of the mistake
    assert "<code>шаг 1, pattern</code>" in page or "<code>step 1, pattern</code>" in page
    assert "unterminated subpattern" in page  # the regular expression's own complaint
    assert "(unclosed" in page  # what was typed is kept
    assert 'aria-invalid="true"' in page


def test_flow_errors_in_english_and_bad_json(client, session, admin, make_team, shop):  # noqa: F811
    _english(client)
    sign_in(client, admin.email)
    no_kind = order_status(shop)
    no_kind["steps"].append({"kind": "teleport"})
    no_kind["triggers"]["de"] = ["wo ist"]
    no_team = order_status(shop)
    no_team["steps"].append({"kind": "handoff", "team": "Nobody"})

    refused = post(client, "/admin/bot/flows/new",
                   {"definition": json.dumps(no_kind, indent=2)},
                   form_page="/admin/bot/flows/new")
    teamless = post(client, "/admin/bot/flows/new",
                    {"definition": json.dumps(no_team, indent=2)},
                    form_page="/admin/bot/flows/new")
    not_json = post(client, "/admin/bot/flows/new", {"definition": '{\n  "name": "x",\n}'},
                    form_page="/admin/bot/flows/new")
    empty = post(client, "/admin/bot/flows/new", {"definition": "[]"},
                 form_page="/admin/bot/flows/new")

    assert refused.status_code == 422 and teamless.status_code == 422
    assert "There is no team named «Nobody»" in teamless.text
    assert "<code>step 4, team</code>" in teamless.text
    assert "Unknown kind of step «teleport»" in refused.text
    assert "Use the languages ru and en" in refused.text
    assert not_json.status_code == 422 and "Line 3" in not_json.text
    assert "This is not valid JSON here" in not_json.text
    assert empty.status_code == 422 and "Expected a JSON object" in empty.text


def test_saving_adds_versions_and_an_old_one_can_be_restored(client, session, admin, shop):  # noqa: F811
    sign_in(client, admin.email)
    created = post(client, "/admin/bot/flows/new", {"definition": _definition(shop)},
                   form_page="/admin/bot/flows/new")
    assert created.status_code == 303
    assert created.headers["location"] == "/admin/bot/flows/order_status?saved=1"
    changed = order_status(shop)
    changed["triggers"]["ru"].append("когда привезут")
    second = post(client, "/admin/bot/flows/order_status",
                  {"definition": json.dumps(changed, ensure_ascii=False)},
                  form_page="/admin/bot/flows/order_status")
    renamed = post(client, "/admin/bot/flows/order_status",
                   {"definition": _definition(shop, name="other")},
                   form_page="/admin/bot/flows/order_status")
    duplicate = post(client, "/admin/bot/flows/new", {"definition": _definition(shop)},
                     form_page="/admin/bot/flows/new")

    assert second.status_code == 303
    assert renamed.status_code == 422 and duplicate.status_code == 422
    old = client.get("/admin/bot/flows/order_status/versions/1")
    assert old.status_code == 200 and "когда привезут" not in old.text
    restored = post(client, "/admin/bot/flows/order_status/versions/1/restore", {},
                    form_page="/admin/bot/flows/order_status/versions/1")
    assert restored.status_code == 303
    rows = session.scalars(sa.select(BotFlow).order_by(BotFlow.version)).all()
    assert [(r.version, r.is_active) for r in rows] == [(1, False), (2, False), (3, True)]
    assert rows[2].definition == rows[0].definition
    editor = client.get("/admin/bot/flows/order_status").text
    assert "/admin/bot/flows/order_status/versions/2" in editor
    off = post(client, "/admin/bot/flows/order_status/off", {},
               form_page="/admin/bot/flows/order_status")
    assert off.status_code == 303
    assert not session.scalar(sa.select(sa.func.count()).select_from(BotFlow).where(
        BotFlow.is_active))
    assert client.get("/admin/bot/flows/order_status/versions/9").status_code == 404


def test_the_dry_run_calls_the_shop_and_stores_nothing(client, session, admin, make_team,
                                                       shop):  # noqa: F811
    returns = make_team("Возвраты")
    bot.save_flow(session, order_status(shop))
    session.commit()
    tickets_before = session.scalar(sa.select(sa.func.count()).select_from(Ticket))
    sign_in(client, admin.email)

    ran = post(client, "/admin/bot/flows/order_status/test",
               {"version": "1", "language": "ru", "messages": "где мой заказ?\n12345"},
               form_page="/admin/bot/flows/order_status")
    failed = post(client, "/admin/bot/flows/order_status/test",
                  {"version": "1", "language": "ru", "messages": "где мой заказ 99999"},
                  form_page="/admin/bot/flows/order_status")
    bad = post(client, "/admin/bot/flows/order_status/test",
               {"version": "7", "language": "xx", "messages": " "},
               form_page="/admin/bot/flows/order_status")

    assert ran.status_code == 200
    assert "Напишите номер заказа" in ran.text
    assert "Заказ 12345: передан в доставку" in ran.text
    assert f"GET {shop}/orders/12345" in ran.text
    assert "передан в доставку" in ran.text
    assert failed.status_code == 200 and "HTTP 500" in failed.text
    assert bad.status_code == 422
    for control in ("test-version-error", "test-language-error", "test-messages-error"):
        assert f'id="{control}"' in bad.text
    assert session.scalar(sa.select(sa.func.count()).select_from(Ticket)) == tickets_before
    assert session.scalar(sa.select(sa.func.count()).select_from(BotTurn)) == 0
    assert returns.id  # the hand-off's team exists for the next test flow


def test_the_dry_run_shows_a_handoff(client, session, admin, make_team):
    make_team("Возвраты")
    from tests.bot.test_handoff import RETURNS

    bot.save_flow(session, RETURNS)
    session.commit()
    sign_in(client, admin.email)

    ran = post(client, "/admin/bot/flows/return_request/test",
               {"version": "1", "language": "ru",
                "messages": "хочу вернуть товар, заказ 4242\nне подошёл размер"},
               form_page="/admin/bot/flows/return_request")

    assert ran.status_code == 200
    assert "Причина?" in ran.text and "Возвраты" in ran.text
    assert "&#34;order&#34;: &#34;4242&#34;" in ran.text or '"order": "4242"' in ran.text


def test_the_review_lists_turns_with_their_decision_and_ticket(
        client, session, settings, admin, make_team, help_centre, chat_bot):
    bot.save_faq(session, FaqIn(language="ru", question="Можно ли вернуть товар в выходные?",
                                answer="Да, пункты выдачи работают."), actor=SYSTEM)
    team = make_team("Чат")
    stored = []
    for n, (visitor, text) in enumerate((("a", "можно вернуть товар в выходные?"),
                                         ("b", "где мой заказ 12345?"),
                                         ("c", "позовите оператора"))):
        stored.append(chat.store_visitor_message(session, chat.IncomingMessage(
            visitor_id=f"review-{visitor}", client_id=f"v{n}", text=text, language="ru",
            widget=chat.Widget(str(team.id), team.id)), settings=settings))
    session.commit()
    sign_in(client, admin.email)

    everything = client.get("/admin/bot/turns").text
    handed = client.get("/admin/bot/turns?decision=handed_off").text
    nonsense = client.get("/admin/bot/turns?decision=nonsense")

    assert "Можно ли вернуть товар в выходные?" in everything  # the FAQ pair used
    assert help_centre.tracking.title in everything  # the article used
    assert f'href="/agent/tickets/{stored[0].ticket_id}"' in everything
    assert "позовите оператора" in handed and "где мой заказ" not in handed
    assert nonsense.status_code == 200  # an unknown filter shows everything
    assert client.get("/admin/bot/turns?before=abc").status_code == 422
