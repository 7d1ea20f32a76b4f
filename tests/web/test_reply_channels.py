"""The agent answers on the channel the customer last wrote on, or picks another they have."""

from __future__ import annotations

import pytest

from tests.web.test_agent_ui import PASSWORD, csrf_of, login
from zabota.channels import outbound
from zabota.channels.inbound import Inbound, receive
from zabota.channels.models import OutboundDelivery
from zabota.identity.models import IdentityKind
from zabota.tickets.models import Channel, Message


@pytest.fixture
def both_ways(monkeypatch):
    monkeypatch.setitem(outbound._senders, Channel.TELEGRAM, lambda job, settings: "1")
    monkeypatch.setitem(outbound._senders, Channel.EMAIL, lambda job, settings: None)


def test_the_reply_channel_defaults_to_the_last_one_and_can_be_changed(
        app_client, session, make_team, make_agent, both_ways):
    team = make_team("Поддержка")
    agent = make_agent(teams=(team,), password=PASSWORD)
    got = receive(session, Inbound(
        channel=Channel.TELEGRAM, external_id="5:1", team_id=team.id, text="Где заказ?",
        identities=[(IdentityKind.TELEGRAM, "5"), (IdentityKind.EMAIL, "olga@example.org")]))
    session.commit()
    login(app_client, agent.email)
    page = app_client.get(f"/agent/tickets/{got.ticket_id}").text
    assert page.index('value="telegram"') < page.index('value="email"')
    response = app_client.post(f"/agent/tickets/{got.ticket_id}/reply", data={
        "text": "Ответим письмом", "channel": "email", "csrf_token": csrf_of(page)},
        follow_redirects=False)
    assert response.status_code == 303, response.text
    reply = session.query(Message).filter_by(ticket_id=got.ticket_id,
                                             direction="outbound").one()
    assert reply.channel == Channel.EMAIL
    delivery = outbound.plan(session, reply)
    assert (delivery.channel, delivery.recipient) == (Channel.EMAIL, "olga@example.org")
    session.commit()
    timeline = app_client.get(f"/agent/tickets/{got.ticket_id}/timeline").text
    assert "Отправляется" in timeline


def test_a_channel_the_customer_cannot_be_reached_on_is_refused(
        app_client, session, make_team, make_agent, both_ways):
    team = make_team("Поддержка")
    agent = make_agent(teams=(team,), password=PASSWORD)
    got = receive(session, Inbound(channel=Channel.TELEGRAM, external_id="6:1", team_id=team.id,
                                   identities=[(IdentityKind.TELEGRAM, "6")], text="Привет"))
    session.commit()
    login(app_client, agent.email)
    page = app_client.get(f"/agent/tickets/{got.ticket_id}").text
    response = app_client.post(f"/agent/tickets/{got.ticket_id}/reply", data={
        "text": "Текст ответа", "channel": "vk", "csrf_token": csrf_of(page)})
    assert response.status_code == 422
    assert "Текст ответа" in response.text and "нельзя связаться" in response.text
    assert session.query(OutboundDelivery).count() == 0
