"""Guided flows: validated data; the order-status flow asks for the number when it is
missing, asks the shop's endpoint (a local HTTP server here) and answers with the status."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import sqlalchemy as sa
from pydantic import ValidationError

from zabota.bot import service as bot
from zabota.bot.models import Decision
from zabota.channels.chat import service as chat
from zabota.identity import service as identity
from zabota.tickets.models import AuthorKind, Message, TicketEvent


class Shop(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        number = self.path.rsplit("/", 1)[-1]
        if number == "99999":
            self.send_response(500)
            self.end_headers()
            return
        body = json.dumps({"status": "передан в доставку", "number": number}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def shop() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Shop)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def order_status(shop_url: str) -> dict:
    return {
        "name": "order_status",
        "triggers": {"ru": ["где мой заказ", "статус заказа"], "en": ["where is my order"]},
        "steps": [
            {"kind": "ask", "slot": "order", "pattern": r"\b(\d{4,10})\b",
             "prompt": {"ru": "Напишите номер заказа", "en": "What is the order number?"}},
            {"kind": "http", "url": shop_url + "/orders/{order}", "timeout": 3},
            {"kind": "answer", "text": {"ru": "Заказ {order}: {response.status}",
                                        "en": "Order {order}: {response.status}"}},
        ],
    }


def _says(session, settings, team, text, *, n):
    return chat.store_visitor_message(session, chat.IncomingMessage(
        visitor_id="visitor-flow", client_id=f"f{n}", text=text, language="ru",
        widget=chat.Widget(str(team.id), team.id)), settings=settings)


def _bot_texts(session, ticket_id):
    return list(session.scalars(sa.select(Message.body_text).where(
        Message.ticket_id == ticket_id, Message.author_kind == AuthorKind.BOT)
        .order_by(Message.id)))


def test_the_order_number_in_the_question_goes_straight_to_the_shop(
        session, settings, make_team, shop, chat_bot):
    bot.save_flow(session, order_status(shop))
    team = make_team("Чат")

    stored = _says(session, settings, team, "где мой заказ 12345?", n=1)

    assert stored.answered
    assert _bot_texts(session, stored.ticket_id) == ["Заказ 12345: передан в доставку"]
    turn = bot.turns(session, stored.ticket_id)[0]
    assert turn.decision == Decision.FLOW_STEP and turn.data["flow"]["done"] is True


def test_the_flow_asks_for_the_number_then_answers(session, settings, make_team, shop,
                                                  chat_bot):
    bot.save_flow(session, order_status(shop))
    team = make_team("Чат")

    asked = _says(session, settings, team, "Где мой заказ?", n=1)
    told = _says(session, settings, team, "номер 777001", n=2)

    assert asked.answered and told.answered
    assert _bot_texts(session, asked.ticket_id) == ["Напишите номер заказа",
                                                    "Заказ 777001: передан в доставку"]


def test_a_failing_shop_endpoint_hands_the_chat_to_agents(session, settings, make_team,
                                                         make_agent, shop, chat_bot):
    bot.save_flow(session, order_status(shop))
    team = make_team("Чат")
    agent = identity.actor_for_user(make_agent(teams=(team,)))

    stored = _says(session, settings, team, "где мой заказ 99999", n=1)

    assert not stored.answered
    assert [w.ticket_id for w in chat.waiting_chats(session, actor=agent)] == [stored.ticket_id]
    event = session.scalar(sa.select(TicketEvent).where(
        TicketEvent.ticket_id == stored.ticket_id, TicketEvent.kind == "bot_handoff"))
    assert event.data["reason"] == "flow_failed"


def test_flows_are_validated_and_versioned(session, shop):
    broken = order_status(shop)
    broken["steps"][0]["pattern"] = "(unclosed"
    with pytest.raises(ValidationError) as refused:
        bot.save_flow(session, broken)
    assert "not a regular expression" in str(refused.value)

    first = bot.save_flow(session, order_status(shop))
    second = bot.save_flow(session, order_status(shop))

    assert (first.version, second.version) == (1, 2)
    assert (first.is_active, second.is_active) == (False, True)


def test_the_demo_shop_answers_its_flow_and_the_demo_flow_is_valid(session, app_client):
    from zabota.bot import demo
    from zabota.bot.models import BotFlow

    status = app_client.get("/chat/demo/orders/12345").json()
    assert status["number"] == "12345" and status["status"] and status["status_en"]
    assert app_client.get("/chat/demo/orders/abc").status_code == 404  # no such order number
    demo.seed_flows(session)
    flow = session.scalars(sa.select(BotFlow).where(BotFlow.is_active)).one()
    assert flow.name == "order_status"
    assert flow.definition["steps"][1]["url"].endswith("/chat/demo/orders/{order}")


def test_the_dry_run_hands_over_on_a_request_for_a_person_as_the_live_bot_does(shop):
    from zabota.bot import flows

    definition = flows.FlowDefinition.model_validate(order_status(shop))
    run = flows.dry_run(definition, ["Где мой заказ?", "не знаю", "оператор"], language="ru")

    assert [t.asked_for_person for t in run.turns] == [False, False, True]
    assert run.turns[-1].is_done
