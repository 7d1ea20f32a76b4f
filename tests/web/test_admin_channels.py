"""Channel accounts, their connection test, the quarantine and undelivered replies, as an
admin sees them."""

from __future__ import annotations

import pytest

from tests.web.test_admin_ui import post, sign_in
from zabota.channels import outbound
from zabota.channels import service as channels
from zabota.channels.inbound import Inbound, receive
from zabota.channels.models import ChannelAccount, DeliveryStatus, QuarantineStatus
from zabota.identity.models import IdentityKind, Role
from zabota.identity.permissions import SYSTEM
from zabota.tickets import service as tickets
from zabota.tickets.models import Channel


def test_admin_adds_a_telegram_bot_and_secrets_are_never_shown(client, session, admin,
                                                               make_team):
    team = make_team("Доставка")
    session.commit()
    sign_in(client, admin.email)
    response = post(client, "/admin/channels/new/telegram", {
        "name": "Бот магазина", "address": "@shop_bot", "team_id": str(team.id),
        "enabled": "true", "config.token": "123:SECRET", "config.secret_token": "hook-secret"})
    assert response.status_code == 303, response.text
    account = session.query(ChannelAccount).one()
    assert (account.kind, account.team_id, account.config["token"]) == (
        Channel.TELEGRAM, team.id, "123:SECRET")
    page = client.get(f"/admin/channels/{account.id}")
    assert "123:SECRET" not in page.text and "Сохранено. Оставьте пустым" in page.text
    # Saving again without retyping the secrets keeps them.
    response = post(client, f"/admin/channels/{account.id}", {
        "name": "Бот магазина 2", "team_id": "", "enabled": "true"})
    assert response.status_code == 303, response.text
    session.refresh(account)
    assert (account.name, account.config["token"]) == ("Бот магазина 2", "123:SECRET")
    overview = client.get("/admin/channels")
    assert "Бот магазина 2" in overview.text and f"/api/v1/channels/telegram/{account.id}/" in (
        overview.text)


def test_a_bad_channel_form_explains_every_field_and_keeps_the_input(client, session, admin):
    sign_in(client, admin.email)
    response = post(client, "/admin/channels/new/vk", {
        "name": "", "config.group_id": "abc", "config.confirmation": "x1y2",
        "config.api_base_url": "ftp://nope"}, form_page="/admin/channels/new/vk")
    assert response.status_code == 422
    assert "Введите целое число" in response.text and "x1y2" in response.text
    assert "Обязательное поле" in response.text or "обязательно" in response.text.lower()
    assert session.query(ChannelAccount).count() == 0


def test_the_connection_test_reports_and_records_the_health(client, session, admin):
    account = channels.create_account(session, actor=SYSTEM, kind=Channel.PHONE, name="АТС",
                                      config={"api_key": "k"})
    session.commit()

    def failing(_account):
        raise ConnectionError("connection refused")

    previous = channels._tests.get(Channel.PHONE)
    channels.register_connection_test(Channel.PHONE)(failing)
    try:
        sign_in(client, admin.email)
        response = post(client, f"/admin/channels/{account.id}/test", {},
                        form_page=f"/admin/channels/{account.id}")
        assert "connection refused" in response.text
        session.refresh(account)
        assert "connection refused" in account.last_error
    finally:
        if previous is None:
            channels._tests.pop(Channel.PHONE, None)
        else:
            channels._tests[Channel.PHONE] = previous


def test_quarantined_items_are_listed_and_can_be_dismissed(client, session, admin):
    row = channels.quarantine(session, channel=Channel.TELEGRAM, payload=b'{"update_id": oops',
                              reason="invalid JSON", external_id="upd-1")
    session.commit()
    sign_in(client, admin.email)
    page = client.get("/admin/channels/quarantine")
    assert "invalid JSON" in page.text and "update_id" in page.text
    response = post(client, f"/admin/channels/quarantine/{row.id}/dismiss", {},
                    form_page="/admin/channels/quarantine")
    assert response.status_code == 303
    session.refresh(row)
    assert row.status == QuarantineStatus.DISMISSED
    assert "Отклонено" in client.get(response.headers["location"]).text  # the signed notice
    forged = client.get("/admin/channels/quarantine",
                        params={"message": "Ваш пароль истёк, зайдите на evil.example"})
    assert "evil.example" not in forged.text


def test_dead_replies_are_listed_and_sent_again(client, session, admin, make_agent,
                                                monkeypatch):
    monkeypatch.setitem(outbound._senders, Channel.TELEGRAM, lambda job, _settings: "1")
    got = receive(session, Inbound(channel=Channel.TELEGRAM, external_id="1:1",
                                   identities=[(IdentityKind.TELEGRAM, "1")], text="Привет"))
    agent = make_agent(role=Role.ADMIN)
    from tests.conftest import actor_of

    reply = tickets.add_message(session, got.ticket_id, tickets.NewMessage(text="Здравствуйте"),
                                actor=actor_of(agent))
    delivery = outbound.plan(session, reply)
    outbound.record_result(session, delivery.id, error=PermissionError("bot blocked"),
                           permanent=True)
    session.commit()
    queued: list[int] = []
    monkeypatch.setattr(outbound, "enqueue", queued.append)
    sign_in(client, admin.email)
    page = client.get("/admin/channels/deliveries")
    assert "bot blocked" in page.text
    response = post(client, "/admin/channels/deliveries/replay", {"ids": [delivery.id]},
                    form_page="/admin/channels/deliveries")
    assert response.status_code == 303
    session.refresh(delivery)
    assert delivery.status == DeliveryStatus.PENDING and queued == [delivery.id]


@pytest.mark.parametrize("path", ["/admin/channels", "/admin/channels/new/email"])
def test_agents_cannot_open_channel_settings(client, session, make_agent, path):
    agent = make_agent(role=Role.AGENT, password="correct-horse-9")
    session.commit()
    sign_in(client, agent.email)
    assert client.get(path).status_code == 403
