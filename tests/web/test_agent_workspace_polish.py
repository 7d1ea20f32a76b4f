"""What an exploratory test of the running workspace found missing: a history in words, search
by ticket number and customer address, the person's own language at sign-in, forms that
refuse what would do harm, and HTML (not JSON) for a bad address in the browser."""

from __future__ import annotations

import pytest

from tests.conftest import actor_of
from tests.web.test_agent_ui import PASSWORD, csrf_of, login
from zabota.identity import service as identity
from zabota.identity.models import IdentityKind, Role
from zabota.routing.models import RoutingRule
from zabota.tickets import service as tickets
from zabota.tickets.models import Priority, Status


@pytest.fixture
def desk(session, make_team, make_agent, make_ticket):
    billing, delivery = make_team("Финансы"), make_team("Доставка")
    agent = make_agent(teams=(billing, delivery), password=PASSWORD, language="ru")
    colleague = make_agent(teams=(billing,))
    agent.name, colleague.name = "Анна Смирнова", "Олег Петров"
    olga = identity.find_or_create_customer(session, name="Ольга Иванова", identities=[
        (IdentityKind.EMAIL, "olga@example.org"), (IdentityKind.PHONE, "+79161234567")])
    ticket = make_ticket(customer=olga, team_id=billing.id, subject="Двойное списание")
    other = make_ticket(team_id=billing.id, subject="Другое обращение")
    session.commit()
    return {"agent": agent, "colleague": colleague, "billing": billing, "delivery": delivery,
            "olga": olga, "ticket": ticket, "other": other}


def test_the_history_reads_as_sentences_with_names(app_client, desk, session):
    agent, ticket = desk["agent"], desk["ticket"]
    actor = actor_of(agent)
    tickets.update_ticket(session, ticket.id, {"status": Status.OPEN, "priority": Priority.HIGH,
                                               "assignee_id": desk["colleague"].id},
                          actor=actor)
    tickets.transfer_ticket(session, ticket.id, actor=actor, team_id=desk["delivery"].id,
                            reason="Вопрос о доставке")
    session.commit()
    login(app_client, agent.email)
    page = app_client.get(f"/agent/tickets/{ticket.id}").text
    history = page[page.index("История"):]
    assert "Zabota</strong>: Создал(а) обращение (API)" in history
    assert "Анна Смирнова</strong>: Статус: новое → открыто" in history
    assert "Приоритет: обычный → высокий" in history
    assert "Назначил(а) на Олег Петров" in history
    assert "Команда: Финансы → Доставка" in history and "(Вопрос о доставке)" in history
    assert "status_changed" not in history and "team_id" not in history


@pytest.mark.parametrize("query", ["{number}", "#{number}", "olga@example.org",
                                   "OLGA@example.org", "+7 916 123-45-67", "89161234567"])
def test_tickets_are_found_by_their_number_or_the_customers_address(
        app_client, desk, query):
    login(app_client, desk["agent"].email)
    q = query.format(number=desk["ticket"].id)
    page = app_client.get("/agent", params={"view": "open", "q": q}).text
    assert "Двойное списание" in page, q
    assert "Другое обращение" not in page
    api = app_client.get("/api/v1/tickets", params={"q": q},
                         headers={"Authorization": f"Bearer {_token(app_client, desk)}"})
    assert [t["id"] for t in api.json()["items"]] == [desk["ticket"].id]


def _token(client, desk) -> str:
    response = client.post("/api/v1/auth/token", json={"email": desk["agent"].email,
                                                       "password": PASSWORD})
    return response.json()["access_token"]


def test_a_number_does_not_reveal_a_ticket_the_agent_may_not_see(
        app_client, session, desk, make_agent, make_ticket, make_team):
    outsider = make_agent(teams=(make_team("Возвраты"),), password=PASSWORD)
    session.commit()
    login(app_client, outsider.email)
    page = app_client.get("/agent", params={"view": "open", "q": f"#{desk['ticket'].id}"}).text
    assert "Двойное списание" not in page


def test_sign_in_switches_to_the_persons_own_language(app_client, session, make_agent):
    english = make_agent(password=PASSWORD, language="en")
    session.commit()
    app_client.headers["Accept-Language"] = "ru-RU,ru;q=0.9"
    response = login(app_client, english.email)
    assert "zabota_lang=en" in response.headers["set-cookie"]
    page = app_client.get("/agent")
    assert "Inbox" in page.text or "Search tickets" in page.text


def test_a_phrase_rule_needs_a_phrase(app_client, session, make_agent):
    admin = make_agent(role=Role.ADMIN, password=PASSWORD, language="ru")
    session.commit()
    login(app_client, admin.email)
    form = app_client.get("/admin/routing/rules")
    response = app_client.post("/admin/routing/rules", data={
        "name": "Всё подряд", "phrases": "  \n ", "category": "delivery",
        "csrf_token": csrf_of(form.text)})
    assert response.status_code == 422
    assert "Введите хотя бы одну фразу, по одной в строке" in response.text
    assert "Всё подряд" in response.text  # what was typed stays
    no_action = app_client.post("/admin/routing/rules", data={
        "name": "Без действия", "phrases": "возврат", "csrf_token": csrf_of(form.text)})
    assert no_action.status_code == 422
    assert "Выберите, что делает правило" in no_action.text
    assert "Value error" not in no_action.text
    assert session.query(RoutingRule).count() == 0


def test_a_bad_address_in_the_browser_is_an_html_page(app_client, desk):
    login(app_client, desk["agent"].email)
    response = app_client.get("/agent", params={"q": "x" * 201},
                              headers={"Accept": "text/html"})
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("text/html")
    assert "Введите не более 200 символов" in response.text
    assert 'maxlength="200"' in app_client.get("/agent").text


def test_number_inputs_carry_their_limits(app_client, session, make_agent):
    admin = make_agent(role=Role.ADMIN, password=PASSWORD)
    session.commit()
    login(app_client, admin.email)
    page = app_client.get(f"/admin/users/{admin.id}").text
    assert 'min="0" max="1000"' in page and "&quot;" not in page.split('name="capacity"')[1][:80]


def test_ticket_actions_say_they_are_done(app_client, desk, session):
    agent, ticket = desk["agent"], desk["ticket"]
    login(app_client, agent.email)
    token = csrf_of(app_client.get(f"/agent/tickets/{ticket.id}").text)
    saved = app_client.post(f"/agent/tickets/{ticket.id}/update", data={
        "status": "open", "priority": "high", "csrf_token": token}, follow_redirects=True)
    assert f"Обращение #{ticket.id}: сохранено" in saved.text
    # Transferred out of every team the agent is in: the inbox says where it went.
    outside = desk["colleague"]
    session.refresh(outside)
    moved = app_client.post(f"/agent/tickets/{desk['other'].id}/transfer", data={
        "team_id": str(_team_outside(session, desk)), "reason": "Не наш вопрос",
        "csrf_token": token}, follow_redirects=True)
    assert moved.url.path == "/agent"
    assert f"Обращение #{desk['other'].id}: передано" in moved.text
    forged = app_client.get("/agent", params={"done": "<script>", "done_ticket": 1})
    assert "<script>" not in forged.text


def _team_outside(session, desk) -> int:
    from zabota.identity import service as people
    from zabota.identity.permissions import SYSTEM

    team = people.create_team(session, name="Возвраты", actor=SYSTEM)
    session.commit()
    return team.id


def test_channels_and_contacts_are_named_in_the_pages_language(app_client, desk):
    login(app_client, desk["agent"].email)
    inbox = app_client.get("/agent").text
    assert ">Веб-чат</option>" in inbox and ">chat</option>" not in inbox
    page = app_client.get(f"/agent/tickets/{desk['ticket'].id}").text
    assert "<li>Телефон: +79161234567</li>" in page and "<li>phone:" not in page


def test_an_empty_sign_in_form_asks_for_both_fields(app_client):
    app_client.headers["Accept-Language"] = "ru"
    response = app_client.post("/login", data={"email": " ", "password": ""})
    assert response.status_code == 422
    assert "Введите e-mail и пароль" in response.text
    assert "Неверный" not in response.text


@pytest.mark.parametrize(("body", "field", "message"), [
    ('{"subject": "s", "message": {"text": "x"}, "customer": {"email": "a@b.ru"},'
     ' "priority": "asap"}', "priority",
     "Выберите одно из: 'low', 'normal', 'high', 'urgent'"),
    ('{"subject": "s", "message": {"text": "x"', "body",
     "Тело запроса не является корректным JSON"),
    ('{"subject": "\\ud800", "message": {"text": "x"}, "customer": {"email": "a@b.ru"}}',
     "subject", "Введите текст"),
])
def test_validation_messages_are_whole_russian_sentences(app_client, desk, body, field,
                                                          message):
    headers = {"Authorization": f"Bearer {_token(app_client, desk)}",
               "Content-Type": "application/json", "Accept-Language": "ru"}
    response = app_client.post("/api/v1/tickets", content=body.encode(), headers=headers)
    assert response.status_code == 422
    errors = {e["field"]: e["message"] for e in response.json()["errors"]}
    assert errors.get(field) == message, errors


def test_destructive_buttons_ask_first(app_client, session, make_agent):
    from zabota.identity.permissions import SYSTEM

    admin = make_agent(role=Role.ADMIN, password=PASSWORD, language="ru")
    identity.create_personal_token(session, user_id=admin.id, name="CRM", expires_at=None,
                                   actor=SYSTEM)
    session.commit()
    login(app_client, admin.email)
    page = app_client.get("/admin/tokens").text
    assert 'data-confirm="Отозвать токен? Программы, которые им пользуются' in page
    assert 'onsubmit="return confirm(this.dataset.confirm)"' in page


def test_an_admin_edits_a_custom_field_in_the_browser(app_client, session, make_agent):
    from zabota.identity.permissions import SYSTEM
    from zabota.tickets.models import CustomFieldDef, FieldType

    admin = make_agent(role=Role.ADMIN, password=PASSWORD, language="ru")
    row = tickets.create_field_def(session, actor=SYSTEM, key="order_number",
                                   label="Номер закза", type=FieldType.TEXT)
    session.commit()
    login(app_client, admin.email)
    page = app_client.get(f"/admin/fields/{row.id}")
    assert "Поле order_number" in page.text and 'value="Номер закза"' in page.text
    empty = app_client.post(f"/admin/fields/{row.id}", data={
        "label": "", "is_active": "true", "csrf_token": csrf_of(page.text)})
    assert empty.status_code == 422 and "Поле не может быть пустым" in empty.text
    saved = app_client.post(f"/admin/fields/{row.id}", data={
        "label": "Номер заказа", "label_en": "Order number", "csrf_token": csrf_of(page.text)},
        follow_redirects=False)
    assert saved.status_code == 303
    session.expire_all()
    stored = session.get(CustomFieldDef, row.id)
    assert (stored.label, stored.label_en, stored.is_active) == (
        "Номер заказа", "Order number", False)  # the box was not ticked: switched off


def test_an_admin_edits_a_phrase_rule_in_place(app_client, session, make_agent):
    from zabota.identity.permissions import SYSTEM
    from zabota.routing import service as routing
    from zabota.routing.schemas import RuleActions, RuleConditions

    admin = make_agent(role=Role.ADMIN, password=PASSWORD, language="ru")
    routing.create_category(session, actor=SYSTEM, key="returns", name_ru="Возвраты")
    first = routing.create_rule(session, actor=SYSTEM, name="Возврат",
                                conditions=RuleConditions(phrases=["вернуть тавар"],
                                                          languages=["ru"]),
                                actions=RuleActions(category="returns", assignee_id=admin.id))
    second = routing.create_rule(session, actor=SYSTEM, name="Второе",
                                 conditions=RuleConditions(phrases=["счёт"]),
                                 actions=RuleActions(priority="high"))
    session.commit()
    login(app_client, admin.email)
    page = app_client.get("/admin/routing/rules", params={"edit": first.id})
    assert "Изменить правило «Возврат»" in page.text and "вернуть тавар" in page.text
    saved = app_client.post(f"/admin/routing/rules/{first.id}", data={
        "name": "Возврат товара", "phrases": "вернуть товар\nоформить возврат",
        "category": "returns", "csrf_token": csrf_of(page.text)}, follow_redirects=False)
    assert saved.status_code == 303, saved.text
    session.expire_all()
    rule = routing.get_rule(session, first.id)
    assert rule.name == "Возврат товара"
    assert rule.conditions == {"phrases": ["вернуть товар", "оформить возврат"],
                               "languages": ["ru"]}  # the box-less condition stays
    assert rule.actions["assignee_id"] == admin.id and rule.actions["category"] == "returns"
    assert [r.id for r in routing.list_rules(session)] == [first.id, second.id]  # same place
