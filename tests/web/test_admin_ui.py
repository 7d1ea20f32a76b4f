"""The admin area in the browser's shoes: sign in, follow the pages, send the forms."""

from __future__ import annotations

import re

from tests.conftest import no_new_rows
from zabota.identity import service as identity
from zabota.identity.models import ApiToken, IdentityKind, Organization, Role, Team, User
from zabota.identity.permissions import SYSTEM
from zabota.tickets import service as tickets
from zabota.tickets.models import CustomFieldDef, Ticket

PASSWORD = "correct-horse-9"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
FORBIDDEN = "У вас нет прав на это действие"


def sign_in(client, email: str, password: str = PASSWORD) -> None:
    client.cookies.clear()
    response = client.post("/login", data={"email": email, "password": password},
                           follow_redirects=False)
    assert response.status_code == 303, response.text


def csrf_of(client, path: str) -> str:
    page = client.get(path)
    assert page.status_code == 200, page.text
    match = CSRF.search(page.text)
    assert match is not None
    return match.group(1)


def post(client, path: str, data: dict[str, object], *, form_page: str | None = None):
    token = csrf_of(client, form_page or path)
    return client.post(path, data={**data, "csrf_token": token}, follow_redirects=False)


def created_id(response, prefix: str) -> int:
    assert response.status_code == 303, response.text
    match = re.fullmatch(rf"{prefix}/(\d+)\?saved=1", response.headers["location"])
    assert match is not None, response.headers["location"]
    return int(match.group(1))


def test_admin_creates_a_team_and_an_agent_who_can_then_sign_in(client, session, admin):
    sign_in(client, admin.email)
    response = post(client, "/admin/teams/new", {"name": "Вторая линия",
                                                 "description": "Сложные вопросы",
                                                 "email": "second@example.com"})
    team_id = created_id(response, "/admin/teams")
    assert "Сохранено" in client.get(response.headers["location"]).text

    response = post(client, "/admin/users/new", {
        "email": "Nina@Example.com", "name": "Нина Новикова", "role": "agent",
        "password": "nina-password", "language": "ru", "capacity": "5",
        "team_ids": [str(team_id)],
        "skill_category": ["billing", ""], "skill_language": ["en", "ru"],
        "skill_level": ["4", "1"]})
    user_id = created_id(response, "/admin/users")
    page = client.get(response.headers["location"]).text
    assert 'value="nina@example.com"' in page and "Нина Новикова" in page

    session.expire_all()
    user = identity.get_user(session, user_id)
    assert (user.role, user.capacity, [t.name for t in user.teams]) == (
        Role.AGENT, 5, ["Вторая линия"])
    assert [(s.category, s.language, s.level) for s in user.skills] == [("billing", "en", 4)]
    team_page = client.get(f"/admin/teams/{team_id}").text
    assert re.search(rf'value="{user_id}" checked> Нина Новикова', team_page)
    assert "Нина Новикова" in client.get("/admin/users").text

    sign_in(client, "nina@example.com", "nina-password")
    assert client.get("/agent").status_code == 200


def test_a_refused_form_keeps_what_was_typed_and_explains_in_russian(client, session, admin):
    sign_in(client, admin.email)
    with no_new_rows(session, User):
        response = post(client, "/admin/users/new", {
            "email": "not-an-email", "name": "Пётр Первый", "role": "agent",
            "password": "secret-password", "capacity": "много",
            "skill_category": ["доставка"], "skill_language": ["ru"], "skill_level": ["9"]})
    assert response.status_code == 422
    page = response.text
    assert 'value="Пётр Первый"' in page and 'value="not-an-email"' in page
    assert 'value="много"' in page and 'value="доставка"' in page
    assert "secret-password" not in page  # a password is never sent back
    assert re.search(r'id="email"[^>]*aria-invalid="true" aria-describedby="email-error"', page)
    assert '<p class="field-error" id="email-error">Введите правильный адрес e-mail</p>' in page
    assert '<p class="field-error" id="capacity-error">Введите целое число</p>' in page
    assert 'id="skill-0-error">Число вне допустимого диапазона</p>' in page
    assert "Некоторые поля заполнены неверно" in page

    with no_new_rows(session, User):
        taken = post(client, "/admin/users/new", {"email": admin.email, "name": "Двойник",
                                                  "role": "agent"})
    assert taken.status_code == 409
    assert 'id="email-error">Этот адрес e-mail уже используется</p>' in taken.text


def test_editing_a_user_keeps_their_skills_and_deactivation_stops_sign_in(
        client, session, admin, make_agent):
    agent = make_agent(password=PASSWORD, skills=[("billing", "ru", 2)])
    session.commit()
    sign_in(client, admin.email)
    form = {"email": agent.email, "name": "Новое имя", "role": "supervisor", "language": "en",
            "capacity": "7", "presence": "away", "is_active": "true",
            "skill_category": ["billing", "returns"], "skill_language": ["ru", "ru"],
            "skill_level": ["3", "1"]}
    response = post(client, f"/admin/users/{agent.id}", form)
    assert created_id(response, "/admin/users") == agent.id
    session.expire_all()
    assert (agent.name, agent.role, agent.language, agent.presence.value) == (
        "Новое имя", Role.SUPERVISOR, "en", "away")
    assert sorted((s.category, s.level) for s in agent.skills) == [("billing", 3), ("returns", 1)]

    taken = post(client, f"/admin/users/{agent.id}", {**form, "email": admin.email})
    assert taken.status_code == 409
    assert 'id="email-error">Этот адрес e-mail уже используется</p>' in taken.text

    post(client, f"/admin/users/{agent.id}", {k: v for k, v in form.items() if k != "is_active"})
    session.expire_all()
    assert not agent.is_active
    refused = client.post("/login", data={"email": agent.email, "password": PASSWORD},
                          follow_redirects=False)
    assert refused.status_code == 401


def test_supervisor_sees_people_but_cannot_change_them(client, session, supervisor,
                                                       make_agent, make_team, make_customer):
    team = make_team("Поддержка")
    agent = make_agent(teams=(team,))
    customer = make_customer()
    session.commit()
    sign_in(client, supervisor.email)
    for path in ("/admin/users", f"/admin/users/{agent.id}", "/admin/teams",
                 f"/admin/teams/{team.id}", "/admin/customers", f"/admin/customers/{customer.id}",
                 "/admin/organizations", "/admin/fields"):
        assert client.get(path).status_code == 200, path
    user_page = client.get(f"/admin/users/{agent.id}").text
    assert '<fieldset class="bare" disabled>' in user_page and "Создать" not in user_page
    assert 'href="/admin/tokens"' not in user_page

    token = csrf_of(client, "/admin/users")
    with no_new_rows(session, User):
        created = client.post("/admin/users/new", data={
            "csrf_token": token, "email": "x@example.com", "name": "X", "role": "admin"})
    assert created.status_code == 403 and FORBIDDEN in created.text
    changed = client.post(f"/admin/teams/{team.id}", data={
        "csrf_token": token, "name": "Переименована"})
    assert changed.status_code == 403
    promoted = client.post(f"/admin/users/{supervisor.id}", data={
        "csrf_token": token, "email": supervisor.email, "name": "Я", "role": "admin",
        "is_active": "true"})
    assert promoted.status_code == 403
    for path in ("/admin/users/new", "/admin/teams/new", "/admin/tokens", "/admin/settings"):
        assert client.get(path).status_code == 403, path
    session.expire_all()
    assert (team.name, supervisor.role) == ("Поддержка", Role.SUPERVISOR)


def test_agents_and_customers_are_kept_out(client, session, make_agent, make_customer):
    agent = make_agent(password=PASSWORD)
    customer = make_customer(password=PASSWORD)
    session.commit()
    for person in (agent, customer):
        sign_in(client, str(person.email))
        page = client.get("/admin/users")
        assert page.status_code == 403 and FORBIDDEN in page.text
        assert client.get("/admin").status_code == 403
        with no_new_rows(session, Team):
            assert client.post("/admin/teams/new", data={"name": "Чужая"}).status_code == 403


def test_signed_out_visitor_is_sent_to_the_login_page(client):
    response = client.get("/admin/users", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=/admin/users"


def test_a_post_without_the_csrf_token_is_refused(client, session, admin):
    sign_in(client, admin.email)
    with no_new_rows(session, Team):
        response = client.post("/admin/teams/new", data={"name": "Без токена"})
        forged = client.post("/admin/teams/new", data={"name": "Подделка", "csrf_token": "x" * 32})
    assert response.status_code == forged.status_code == 403
    assert "Срок действия формы истёк" in response.text


def test_merge_a_duplicate_customer_found_by_e_mail(client, session, admin, make_customer,
                                                    make_ticket):
    kept = make_customer("olga@example.org", name="Ольга Иванова")
    duplicate = make_customer("olga.work@example.org", name="О. Иванова", notes="Звонит утром")
    ticket = make_ticket(customer=duplicate)
    session.commit()
    sign_in(client, admin.email)
    path = f"/admin/customers/{kept.id}"

    asked = post(client, f"{path}/merge", {"source": "OLGA.WORK@example.org"}, form_page=path)
    assert asked.status_code == 200
    assert "«О. Иванова» (#" in asked.text and "Это действие нельзя отменить" in asked.text
    session.expire_all()
    assert duplicate.merged_into_id is None  # nothing happens before the confirmation

    token = CSRF.search(asked.text).group(1)  # type: ignore[union-attr]
    done = client.post(f"{path}/merge", data={"csrf_token": token, "source": str(duplicate.id),
                                              "confirmed": "true"}, follow_redirects=False)
    assert done.headers["location"] == f"{path}?saved=1"
    session.expire_all()
    assert duplicate.merged_into_id == kept.id
    assert session.get(Ticket, ticket.id).customer_id == kept.id
    page = client.get(path).text
    assert "olga.work@example.org" in page and "Звонит утром" in page

    itself = post(client, f"{path}/merge", {"source": str(kept.id), "confirmed": "true"},
                  form_page=path)
    assert itself.status_code == 422
    assert "Запись нельзя объединить с самой собой" in itself.text
    unknown = post(client, f"{path}/merge", {"source": "nobody@example.org"}, form_page=path)
    assert unknown.status_code == 422
    assert 'value="nobody@example.org"' in unknown.text
    assert 'id="source-error">Нет клиента с таким адресом e-mail</p>' in unknown.text


def test_customer_list_search_cursor_contacts_and_profile(client, session, admin,
                                                          make_customer):
    org = identity.create_organization(session, name="ООО Ромашка", actor=SYSTEM)
    first = make_customer("anna@romashka.example", name="Anna Smirnova")
    for n in range(50):
        make_customer(f"bulk{n}@example.org")
    session.commit()
    sign_in(client, admin.email)

    found = client.get("/admin/customers", params={"q": "romashka"}).text
    assert "Anna Smirnova" in found and "bulk1@" not in found
    page_one = client.get("/admin/customers").text
    after = re.search(r"after=(\d+)", page_one)
    assert after is not None
    page_two = client.get(f"/admin/customers?after={after.group(1)}").text
    assert "bulk49@example.org" in page_two and "Anna Smirnova" not in page_two

    path = f"/admin/customers/{first.id}"
    added = post(client, f"{path}/identities", {"kind": "phone", "value": "8 (916) 123-45-67"},
                 form_page=path)
    assert added.status_code == 303
    bad = post(client, f"{path}/identities", {"kind": "phone", "value": "12"}, form_page=path)
    assert bad.status_code == 422
    assert re.search(r'id="identity-value"[^>]*value="12"[^>]*aria-invalid="true"', bad.text)
    saved = post(client, path, {"name": "Анна Смирнова", "organization_id": str(org.id),
                                "sees_organization_tickets": "true", "language": "ru",
                                "notes": "Предпочитает звонки"})
    assert saved.status_code == 303
    session.expire_all()
    assert (first.name, first.organization_id, first.sees_organization_tickets, first.notes) == (
        "Анна Смирнова", org.id, True, "Предпочитает звонки")
    assert ("phone", "+79161234567") in [(i.kind.value, i.value) for i in first.identities]


def test_organizations_are_created_and_edited(client, session, admin):
    sign_in(client, admin.email)
    refused = post(client, "/admin/organizations/new", {"name": "", "domain": "not a domain",
                                                         "sla_tier": "premium"})
    assert refused.status_code == 422
    assert 'id="name-error">Поле не может быть пустым</p>' in refused.text
    assert 'value="not a domain"' in refused.text
    response = post(client, "/admin/organizations/new", {
        "name": "АО Вектор", "domain": "vector.example", "sla_tier": "premium",
        "is_vip": "true"})
    org_id = created_id(response, "/admin/organizations")
    post(client, f"/admin/organizations/{org_id}", {"name": "АО Вектор", "domain": "",
                                                     "sla_tier": "enterprise"})
    session.expire_all()
    org = session.get(Organization, org_id)
    assert org is not None
    assert (org.domain, org.sla_tier, org.is_vip) == (None, "enterprise", False)
    assert "АО Вектор" in client.get("/admin/organizations").text


def test_custom_fields_are_listed_and_created(client, session, admin):
    sign_in(client, admin.email)
    with no_new_rows(session, CustomFieldDef):
        refused = post(client, "/admin/fields", {"key": "delivery_slot", "label": "Окно",
                                                 "type": "select", "options": ""})
    assert refused.status_code == 422
    assert 'id="options-error">У поля-списка должен быть хотя бы один вариант</p>' in refused.text
    assert 'value="delivery_slot"' in refused.text
    response = post(client, "/admin/fields", {
        "key": "delivery_slot", "label": "Окно доставки", "label_en": "Delivery slot",
        "type": "select", "options": "Утро\n\nВечер\n"})
    assert response.headers["location"] == "/admin/fields?saved=1"
    [field] = tickets.list_field_defs(session)
    assert (field.key, field.label_en, field.options) == ("delivery_slot", "Delivery slot",
                                                           ["Утро", "Вечер"])
    assert "Окно доставки" in client.get("/admin/fields").text


def test_token_is_shown_once_works_and_stops_after_revocation(client, session, admin,
                                                              make_agent):
    robot = make_agent()
    session.commit()
    sign_in(client, admin.email)
    with no_new_rows(session, ApiToken):
        past = post(client, "/admin/tokens", {"user_id": str(robot.id), "name": "CRM",
                                              "expires": "2000-01-01"})
    assert past.status_code == 422 and 'id="expires-error">' in past.text

    issued = post(client, "/admin/tokens", {"user_id": str(robot.id), "name": "CRM",
                                            "expires": ""})
    assert issued.status_code == 200
    assert issued.headers["cache-control"] == "no-store"
    assert f"действует от имени пользователя {robot.name}" in issued.text
    token = re.search(r'id="token-value"[^>]*value="(zbt_[^"]+)"', issued.text)
    assert token is not None
    bearer = {"Authorization": f"Bearer {token.group(1)}", "Accept": "application/json"}
    assert client.get("/api/v1/users/me", headers=bearer).json()["id"] == robot.id

    listing = client.get("/admin/tokens").text
    assert "CRM" in listing and token.group(1) not in listing  # only the prefix is kept
    [row] = identity.list_personal_tokens(session, actor=SYSTEM)
    revoked = post(client, f"/admin/tokens/{row.id}/revoke", {}, form_page="/admin/tokens")
    assert revoked.headers["location"] == "/admin/tokens?saved=1"
    assert client.get("/api/v1/users/me", headers=bearer).status_code == 401
    assert "Отозван" in client.get("/admin/tokens").text


def test_general_settings_show_current_values_and_environment_ones(client, admin):
    sign_in(client, admin.email)
    page = client.get("/admin/settings").text
    assert "<option selected>Europe/Moscow</option>" in page
    assert "ZABOTA_DEFAULT_LANGUAGE" in page
    assert "переменных окружения" in page


def test_customer_identity_kinds_render_in_english_too(client, session, admin, make_customer):
    customer = make_customer()
    identity.add_identity(session, customer.id, IdentityKind.TELEGRAM, "4242", actor=SYSTEM)
    session.commit()
    sign_in(client, admin.email)
    page = client.get(f"/admin/customers/{customer.id}",
                      headers={"Accept-Language": "en"}).text
    assert "Merge a duplicate into this customer" in page and "Telegram" in page


def test_general_settings_change_the_name_languages_and_zone(client, session, admin,
                                                              supervisor):
    sign_in(client, admin.email)
    bad = post(client, "/admin/settings", {"company_name": "", "logo_url": "javascript:x",
                                           "languages": [], "timezone": "Mars/Olympus"})
    assert bad.status_code == 422
    assert "Введите от 1 до 120 символов" in bad.text
    saved = post(client, "/admin/settings", {
        "company_name": "ООО «Ромашка»", "logo_url": "https://example.org/logo.png",
        "languages": ["ru"], "timezone": "Asia/Yekaterinburg"})
    assert saved.status_code == 303
    page = client.get("/agent").text
    assert "ООО «Ромашка»" in page and 'src="https://example.org/logo.png"' in page
    assert "/lang/en" not in page and "/lang/ru" in page
    sign_in(client, supervisor.email)
    refused = post(client, "/admin/settings", {"company_name": "X", "languages": ["ru"],
                                               "timezone": "UTC"}, form_page="/admin")
    assert refused.status_code == 403
