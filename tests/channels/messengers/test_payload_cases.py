"""Every shared real-world payload: what our parsers read from it matches the values stated in
cases.jsonl, and what the webhook does with it is the outcome we promise."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa
from tests.channels.messengers.conftest import (
    FIXTURES,
    TELEGRAM_SECRET,
    VK_CONFIRMATION,
    VK_SECRET,
    cases,
    wa_signature,
)
from tests.channels.messengers.fakes import VK_GROUP_ID

from zabota.channels.telegram.intake import parse_update
from zabota.channels.vk.intake import parse_event
from zabota.channels.whatsapp.intake import parse_item, split_payload
from zabota.tickets.models import Message, Ticket

CASES = cases()


def read(case: dict) -> dict:
    return json.loads((FIXTURES / case["file"]).read_text())


@pytest.mark.parametrize("case", CASES, ids=[c["file"].split("-")[0] for c in CASES])
def test_the_parser_reads_the_stated_values(case):
    data, expected = read(case), case["expected"]
    if case["platform"] == "telegram":
        update = parse_update(data)
        got = {"external_id": update.update_id, "sender_id": update.sender_id,
               "chat_id": update.chat_id, "text": update.text,
               "attachments": len(update.files), "is_status_update": False}
    elif case["platform"] == "vk":
        event = parse_event(data)
        got = {"external_id": event.event_id or event.message_id or None,
               "sender_id": event.sender_id, "chat_id": event.peer_id, "text": event.text,
               "attachments": len(event.attachments), "is_status_update": False}
    else:
        (envelope,) = split_payload(data)
        item = parse_item(envelope)
        got = {"external_id": item.id, "is_status_update": item.is_status_update}
        if not item.is_status_update:
            got.update(sender_id=item.sender, text=item.text, attachments=len(item.files))
    assert {key: got[key] for key in expected} == expected


# What the webhook does with each payload. "stored": a message on a ticket; "ignored":
# acknowledged, no ticket (groups, service updates, statuses, reactions); "confirmation":
# VK's code in the answer.
OUTCOMES = {
    "001": "ignored",  # a button press with no conversation open
    "003": "stored",  # /echo is a message like any other; only /start greets
    "005": "ignored", "007": "ignored", "009": "ignored",  # group chats
    "011": "ignored",  # my_chat_member
    "012": "stored", "015": "stored", "016": "stored",
    "018": "confirmation",
    "020": "ignored", "022": "ignored",  # message_allow, message_event
    "024": "ignored", "028": "ignored",  # chats (peer_id ≥ 2000000000)
    "026": "stored", "031": "stored",
    "032": "ignored",  # typing
    "033": "stored", "035": "stored", "037": "stored", "039": "stored", "041": "stored",
    "043": "stored", "044": "stored", "049": "stored", "060": "stored", "061": "stored",
    "047": "ignored",  # reaction
    "057": "ignored",  # system: number change
    "051": "ignored", "053": "ignored", "055": "ignored",  # statuses of no reply of ours
}


def test_every_case_has_an_outcome():
    assert sorted(OUTCOMES) == sorted(c["file"].split("-")[0] for c in CASES)


@pytest.mark.parametrize("case", CASES, ids=[c["file"].split("-")[0] for c in CASES])
def test_the_webhook_outcome(case, app_client, session, platforms, telegram_account, vk_account,
                             whatsapp_account):
    data, outcome = read(case), OUTCOMES[case["file"].split("-")[0]]
    if case["platform"] == "telegram":
        answer = app_client.post(
            f"/api/v1/channels/telegram/{telegram_account.id}/webhook", json=data,
            headers={"X-Telegram-Bot-Api-Secret-Token": TELEGRAM_SECRET})
        result = answer.json()["result"]
    elif case["platform"] == "vk":
        if "group_id" in data:
            data["group_id"] = VK_GROUP_ID
        for item in data.get("object", {}).get("message", {}).get("attachments") or []:
            for size in (item.get("photo") or {}).get("sizes", []):
                size["url"] = f"{platforms.base_url}/vk/files/gone.jpg"
        answer = app_client.post(f"/api/v1/channels/vk/{vk_account.id}/callback",
                                 json={**data, "secret": VK_SECRET})
        stored_now = session.scalar(sa.select(sa.func.count()).select_from(Message))
        assert answer.text in ("ok", VK_CONFIRMATION)
        result = ("confirmation" if answer.text == VK_CONFIRMATION else
                  "stored" if stored_now else "ignored")
    else:
        body = json.dumps(data).encode()
        answer = app_client.post(f"/api/v1/channels/whatsapp/{whatsapp_account.id}/webhook",
                                 content=body, headers={"X-Hub-Signature-256": wa_signature(body),
                                                        "Content-Type": "application/json"})
        result = answer.json()["result"]
    assert answer.status_code == 200, answer.text
    assert result == outcome
    tickets = session.scalar(sa.select(sa.func.count()).select_from(Ticket))
    assert tickets == (1 if outcome == "stored" else 0)
