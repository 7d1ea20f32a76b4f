"""The agent workspace over HTTP: views, filters, bulk changes, exports, forms that keep input."""

from __future__ import annotations

import io
import re

import pytest
from openpyxl import load_workbook

from zabota.identity import service as identity
from zabota.identity.models import Role
from zabota.tickets.models import Priority, Status

PASSWORD = "agent-password"


def login(client, email):
    response = client.post("/login", data={"email": email, "password": PASSWORD},
                           follow_redirects=False)
    assert response.status_code == 303, response.text
    return response


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([0-9a-f]+)"', html)
    assert found
    return found.group(1)


@pytest.fixture
def desk(session, make_team, make_agent, make_ticket):
    team = make_team("Финансы")
    agent = make_agent(teams=(team,), password=PASSWORD, language="ru")
    other = make_agent(role=Role.AGENT)
    mine = make_ticket(team_id=team.id, assignee_id=agent.id, subject="=HYPERLINK(1) Возврат",
                       priority=Priority.HIGH)
    queued = make_ticket(team_id=team.id, subject="Двойное списание")
    hidden = make_ticket(subject="Чужое обращение")
    session.commit()
    return {"agent": agent, "other": other, "team": team, "mine": mine, "queued": queued,
            "hidden": hidden}


def test_views_counts_and_filters(app_client, desk):
    login(app_client, desk["agent"].email)
    page = app_client.get("/agent").text
    assert "=HYPERLINK(1) Возврат" in page and "Двойное списание" not in page
    unassigned = app_client.get("/agent", params={"view": "unassigned"}).text
    assert "Двойное списание" in unassigned and "Чужое обращение" not in unassigned
    filtered = app_client.get("/agent", params={"view": "open", "priority": "high"}).text
    assert "Возврат" in filtered and "Двойное списание" not in filtered
    bad = app_client.get("/agent", params={"view": "open", "created_from": "32.13.2026"})
    assert bad.status_code == 200 and "Некоторые значения фильтра заданы неверно" in bad.text


def test_bulk_update_and_its_summary(app_client, desk, session):
    login(app_client, desk["agent"].email)
    token = csrf_of(app_client.get("/agent").text)
    response = app_client.post("/agent/bulk", data={
        "ids": [desk["mine"].id, desk["queued"].id, desk["hidden"].id],
        "status": "pending", "add_tag": "массово", "csrf_token": token,
        "back": "/agent?view=open"}, follow_redirects=True)
    assert "Обновлено: 2, без изменений: 1" in response.text
    session.expire_all()
    assert desk["queued"].status == Status.PENDING and desk["queued"].tags == ["массово"]
    assert desk["hidden"].status == Status.NEW
    refused = app_client.post("/agent/bulk", data={"ids": [desk["mine"].id],
                                                   "status": "closed"})
    assert refused.status_code == 403  # no CSRF token


def test_exports_are_the_visible_tickets_with_formulas_defused(app_client, desk):
    login(app_client, desk["agent"].email)
    csv_text = app_client.get("/agent/export.csv", params={"view": "open"}).text
    lines = csv_text.lstrip("\ufeff").splitlines()
    assert lines[0].startswith("Номер,Тема,Статус")
    assert len(lines) == 3 and "Чужое обращение" not in csv_text
    assert "'=HYPERLINK(1) Возврат" in csv_text
    xlsx = app_client.get("/agent/export.xlsx", params={"view": "open"})
    sheet = load_workbook(io.BytesIO(xlsx.content)).active
    subjects = {row[1] for row in sheet.iter_rows(min_row=2, values_only=True)}
    assert subjects == {"'=HYPERLINK(1) Возврат", "Двойное списание"}


def test_reply_form_keeps_the_text_when_refused(app_client, desk, session):
    login(app_client, desk["agent"].email)
    ticket = desk["queued"]
    page = app_client.get(f"/agent/tickets/{ticket.id}").text
    response = app_client.post(f"/agent/tickets/{ticket.id}/reply", data={
        "text": "Черновик ответа", "status": "closed", "csrf_token": csrf_of(page)})
    assert response.status_code == 409
    assert "Черновик ответа" in response.text
    assert "не может перейти" in response.text
    empty = app_client.post(f"/agent/tickets/{ticket.id}/reply", data={
        "text": " ", "internal": "true", "status": "pending", "csrf_token": csrf_of(page)})
    assert empty.status_code == 422
    assert '<option value="pending" selected>' in empty.text  # the chosen status stays
    assert 'name="internal" value="true" checked' in empty.text


def test_agent_cannot_open_tickets_outside_their_teams(app_client, desk):
    login(app_client, desk["agent"].email)
    response = app_client.get(f"/agent/tickets/{desk['hidden'].id}",
                              headers={"Accept": "text/html"})
    assert response.status_code == 404 and "Обращение не найдено" in response.text


def test_pages_need_a_login_and_customers_stay_in_the_portal(app_client, desk, make_customer,
                                                             session):
    first = app_client.get("/agent", follow_redirects=False)
    assert first.status_code == 303 and first.headers["location"] == "/login?next=/agent"
    customer = make_customer("c@example.org", password=PASSWORD)
    session.commit()
    login(app_client, customer.email)
    assert app_client.get("/agent", headers={"Accept": "text/html"}).status_code == 403
    assert identity.get_customer(session, customer.id, actor=identity.actor_for_customer(
        customer)).id == customer.id


def test_saved_views_updated_markers_and_presence(app_client, desk, make_agent, session):
    login(app_client, desk["agent"].email)
    inbox = app_client.get("/agent", params={"view": "open", "priority": "high"}).text
    saved = app_client.post("/agent/views", data={
        "name": "Срочные", "params": "view=open&priority=high", "csrf_token": csrf_of(inbox)})
    assert saved.status_code == 200 and "Срочные" in saved.text
    empty = app_client.post("/agent/views", data={"name": " ", "params": "view=open",
                                                  "csrf_token": csrf_of(inbox)})
    assert empty.status_code == 422 and "Обязательное поле" in empty.text

    assert 'class="dot"' in app_client.get("/agent").text  # never opened: marked
    page = app_client.get(f"/agent/tickets/{desk['mine'].id}").text
    assert 'class="dot"' not in app_client.get("/agent").text

    token = csrf_of(page)
    alone = app_client.post(f"/agent/tickets/{desk['mine'].id}/presence",
                            data={"state": "viewing", "csrf_token": token}).json()
    assert alone == {"others": []}
    board = app_client.app.state.presence
    board.beat(desk["mine"].id, desk["other"].id, "Коллега", "replying")
    both = app_client.post(f"/agent/tickets/{desk['mine'].id}/presence",
                           data={"state": "viewing", "csrf_token": token}).json()
    assert both == {"others": [{"name": "Коллега", "state": "replying"}]}
    hidden = app_client.post(f"/agent/tickets/{desk['hidden'].id}/presence",
                             data={"state": "viewing", "csrf_token": token},
                             headers={"Accept": "text/html"})
    assert hidden.status_code == 404


def test_reply_with_attachment_and_customer_notes(app_client, desk, settings, session):
    login(app_client, desk["agent"].email)
    ticket = desk["mine"]
    token = csrf_of(app_client.get(f"/agent/tickets/{ticket.id}").text)
    sent = app_client.post(f"/agent/tickets/{ticket.id}/reply",
                           data={"text": "Акт во вложении", "csrf_token": token},
                           files={"files": ("акт.pdf", b"%PDF-1.4", "application/pdf")})
    assert sent.status_code == 200
    link = re.search(r'href="(/files/\d+)">акт.pdf', sent.text)
    assert link and app_client.get(link.group(1)).content == b"%PDF-1.4"
    too_big = app_client.post(f"/agent/tickets/{ticket.id}/reply",
                              data={"text": "Большой файл", "csrf_token": token},
                              files={"files": ("x.exe", b"MZ", "application/x-msdownload")})
    assert too_big.status_code == 422 and "Большой файл" in too_big.text
    notes = app_client.post(f"/agent/customers/{ticket.customer_id}/notes", data={
        "notes": "Предпочитает звонки", "back": f"/agent/tickets/{ticket.id}",
        "csrf_token": token})
    assert "Предпочитает звонки" in notes.text


def test_escalate_merge_and_custom_fields_from_the_ticket_page(app_client, desk, session,
                                                               make_team, make_ticket):
    from zabota.identity.permissions import SYSTEM
    from zabota.tickets import service as tickets
    from zabota.tickets.models import FieldType

    experts = make_team("Эксперты")
    desk["team"].escalation_team_id = experts.id
    tickets.create_field_def(session, actor=SYSTEM, key="order", label="Заказ",
                             type=FieldType.NUMBER)
    duplicate = make_ticket(team_id=desk["team"].id, subject="Дубль", text="Повторное письмо")
    session.commit()
    login(app_client, desk["agent"].email)
    ticket = desk["queued"]
    page = app_client.get(f"/agent/tickets/{ticket.id}").text
    token = csrf_of(page)
    bad = app_client.post(f"/agent/tickets/{ticket.id}/fields",
                          data={"cf_order": "много", "csrf_token": token})
    assert bad.status_code == 422 and "Введите число" in bad.text and 'value="много"' in bad.text
    ok = app_client.post(f"/agent/tickets/{ticket.id}/fields",
                         data={"cf_order": "5521", "csrf_token": token})
    assert ok.status_code == 200 and 'value="5521"' in ok.text
    merged = app_client.post(f"/agent/tickets/{ticket.id}/merge",
                             data={"source_id": f"#{duplicate.id}", "csrf_token": token})
    assert "Повторное письмо" in merged.text
    wrong = app_client.post(f"/agent/tickets/{ticket.id}/merge",
                            data={"source_id": "abc", "csrf_token": token})
    assert wrong.status_code == 400 and "Введите номер обращения" in wrong.text
    up = app_client.post(f"/agent/tickets/{ticket.id}/escalate",
                         data={"reason": "нужен эксперт", "csrf_token": token})
    assert up.status_code == 200  # the agent is not in Experts: back to the inbox
    session.expire_all()
    assert (ticket.team_id, ticket.escalation_level) == (experts.id, 1)
    assert ticket.custom_fields == {"order": 5521}
