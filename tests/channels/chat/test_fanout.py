"""Several server processes: the visitor on one, the agent on another, Redis between them."""

from __future__ import annotations

import asyncio

from fastapi.testclient import TestClient

from tests.channels.chat.conftest import PASSWORD, hello, receive_until, send
from zabota.channels.chat.hub import Inbox, MemoryHub, RedisHub
from zabota.core.db import Database
from zabota.web.app import create_app

FETCH = {"X-Requested-With": "fetch"}


def test_a_chat_crosses_server_processes_through_redis(committed_site, settings, redis_url):
    shared = settings.model_copy(update={"redis_url": redis_url})
    first, second = Database(committed_site.database.url), Database(committed_site.database.url)
    team = str(committed_site.team_id)
    try:
        with TestClient(create_app(shared, first)) as one, \
                TestClient(create_app(shared, second)) as two:
            two.post("/login", data={"email": committed_site.agent_email,
                                     "password": PASSWORD})
            csrf = _csrf(two)
            with two.websocket_connect("/agent/chats/live") as agent, \
                    one.websocket_connect("/chat/ws") as visitor:
                assert agent.receive_json()["type"] == "ready"
                welcome = hello(visitor, team=team)
                assert welcome["agents_online"] is True  # presence is shared too

                sent = send(visitor, "x1", "Добрый день, вопрос по доставке")["message"]
                heard = receive_until(agent, "desk")
                assert heard["message"]["id"] == sent["id"]

                two.post(f"/agent/chats/{sent['ticket']}/accept", headers=FETCH,
                         data={"csrf_token": csrf}).raise_for_status()
                assert receive_until(visitor, "status")["agent"] == "Ирина"
                agent.send_json({"type": "watch", "tickets": [sent["ticket"]]})
                assert receive_until(agent, "watching")["online"] == {str(sent["ticket"]): True}

                visitor.send_json({"type": "typing", "on": True})
                assert receive_until(agent, "typing")["on"] is True
                two.post(f"/agent/chats/{sent['ticket']}/messages", headers=FETCH,
                         data={"csrf_token": csrf, "text": "Посылка уже в пути"}
                         ).raise_for_status()
                answer = receive_until(visitor, "message")["message"]
                assert (answer["author"], answer["text"]) == ("agent", "Посылка уже в пути")

                hub = two.app.state.chat_hub
                visitor_topic = f"visitor:{welcome['token'].split('.')[0]}"
                assert hub.publish(visitor_topic, {"type": "pong", "agents_online": True}) == 1
                assert receive_until(visitor, "pong")["type"] == "pong"
            # The visitor has gone from every process: nobody hears its channel now.
            assert hub.publish(visitor_topic, {"type": "pong"}) == 0
    finally:
        first.dispose()
        second.dispose()


def _csrf(client) -> str:
    import re

    return re.search(r'data-csrf="([0-9a-f]+)"', client.get("/agent/chats").text).group(1)


def test_a_hub_hands_frames_to_every_local_listener_and_drops_a_stalled_one(redis_url):
    async def scenario(hub) -> tuple[int, list[dict], bool]:
        quick, stalled = Inbox(), Inbox(limit=2)
        await hub.subscribe("ticket:1", quick)
        await hub.subscribe("ticket:1", stalled)
        heard = 0
        for n in range(3):
            heard = await hub.apublish("ticket:1", {"type": "typing", "n": n})
        frames = [await asyncio.wait_for(quick.queue.get(), 2) for _ in range(3)]
        for _ in range(3):
            await asyncio.wait_for(stalled.queue.get(), 2)
        await hub.unsubscribe("ticket:1", quick)
        await hub.unsubscribe("ticket:1", stalled)
        await hub.close()
        return heard, frames, stalled.overflowed

    memory = asyncio.run(scenario(MemoryHub()))
    redis = asyncio.run(scenario(RedisHub(redis_url)))
    assert memory == (2, [{"type": "typing", "n": n} for n in range(3)], True)
    assert redis == (1, [{"type": "typing", "n": n} for n in range(3)], True)
