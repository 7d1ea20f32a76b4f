"""One person on Telegram and WhatsApp: once an agent links (or merges) them, one customer with
one timeline, and each answer leaves on the channel it answers."""

from __future__ import annotations

import json

import sqlalchemy as sa
from tests.channels.messengers.conftest import TELEGRAM_SECRET, payload, wa_signature
from tests.channels.messengers.fakes import WA_PHONE_NUMBER_ID

from zabota.channels.models import DeliveryStatus
from zabota.identity.models import Role
from zabota.tickets.models import Channel, Ticket


def telegram(client, account, update):
    answer = client.post(f"/api/v1/channels/telegram/{account.id}/webhook", json=update,
                         headers={"X-Telegram-Bot-Api-Secret-Token": TELEGRAM_SECRET})
    assert answer.status_code == 200, answer.text
    return answer.json()


def whatsapp(client, account, notification):
    body = json.dumps(notification).encode()
    answer = client.post(f"/api/v1/channels/whatsapp/{account.id}/webhook", content=body,
                         headers={"X-Hub-Signature-256": wa_signature(body),
                                  "Content-Type": "application/json"})
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_linked_identities_give_one_customer_and_one_timeline(
        app_client, session, platforms, telegram_account, whatsapp_account, make_agent,
        auth_headers, deliver):
    agent = make_agent(role=Role.ADMIN)
    auth = auth_headers(agent)
    by_telegram = telegram(app_client, telegram_account, payload("015-telegram-text"))
    customer_id = session.get(Ticket, by_telegram["ticket_id"]).customer_id

    linked = app_client.post(f"/api/v1/customers/{customer_id}/identities", headers=auth,
                             json={"kind": "whatsapp", "value": "+972 98 765 4321"})
    assert linked.status_code == 201, linked.text
    by_whatsapp = whatsapp(app_client, whatsapp_account, payload("039-whatsapp-forwarded"))

    assert session.get(Ticket, by_whatsapp["ticket_id"]).customer_id == customer_id
    timeline = app_client.get("/api/v1/tickets", headers=auth,
                              params={"customer_id": customer_id}).json()["items"]
    assert sorted((t["channel"], t["id"]) for t in timeline) == sorted([
        ("telegram", by_telegram["ticket_id"]), ("whatsapp", by_whatsapp["ticket_id"])])

    answers = {}
    for channel, ticket_id in (("telegram", by_telegram["ticket_id"]),
                               ("whatsapp", by_whatsapp["ticket_id"])):
        reply = app_client.post(f"/api/v1/tickets/{ticket_id}/messages", headers=auth,
                                json={"text": f"Ответ в {channel}"})
        answers[channel] = deliver(reply.json()["id"])
    assert {c: (d.channel, d.status) for c, d in answers.items()} == {
        "telegram": (Channel.TELEGRAM, DeliveryStatus.SENT),
        "whatsapp": (Channel.WHATSAPP, DeliveryStatus.SENT)}
    assert [c.params["text"] for c in platforms.calls_to("telegram", "sendMessage")] == [
        "Ответ в telegram"]
    (sent,) = platforms.calls_to("graph", f"POST {WA_PHONE_NUMBER_ID}/messages")
    assert (sent.params["to"], sent.params["text"]["body"]) == ("972987654321", "Ответ в whatsapp")


def test_customers_merged_after_the_fact_share_the_timeline_and_what_comes_next(
        app_client, session, telegram_account, whatsapp_account, make_agent, auth_headers):
    auth = auth_headers(make_agent(role=Role.ADMIN))
    first = telegram(app_client, telegram_account, payload("015-telegram-text"))
    second = whatsapp(app_client, whatsapp_account, payload("039-whatsapp-forwarded"))
    keep = session.get(Ticket, first["ticket_id"]).customer_id
    gone = session.get(Ticket, second["ticket_id"]).customer_id
    assert keep != gone  # nothing tells us yet that they are one person

    merged = app_client.post(f"/api/v1/customers/{keep}/merge", headers=auth,
                             json={"source_id": gone})
    assert merged.status_code == 200, merged.text
    again = whatsapp(app_client, whatsapp_account,
                     _with_id(payload("049-whatsapp-reply-context"), "wamid.after-merge"))

    session.expire_all()
    owners = set(session.scalars(sa.select(Ticket.customer_id).where(
        Ticket.id.in_([first["ticket_id"], second["ticket_id"], again["ticket_id"]]))))
    assert owners == {keep}
    assert again["ticket_id"] == second["ticket_id"]  # the open WhatsApp conversation


def _with_id(notification, wamid):
    notification["entry"][0]["changes"][0]["value"]["messages"][0]["id"] = wamid
    return notification
