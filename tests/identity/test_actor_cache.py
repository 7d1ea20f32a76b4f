"""A process trusts a checked bearer token for a few seconds; changes made here end that."""

from datetime import UTC, datetime, timedelta

from zabota.core.clock import FrozenClock
from zabota.identity.actor_cache import MAX_ENTRIES, ActorCache
from zabota.identity.models import Role
from zabota.identity.permissions import Actor

ALICE = Actor(kind="user", id=1, name="Alice", token_id=7)


class Ticker:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_an_actor_is_kept_for_the_ttl_and_never_past_its_token():
    ticker, clock = Ticker(), FrozenClock(datetime(2026, 3, 2, 9, 0, tzinfo=UTC))
    cache = ActorCache(5, clock=clock, monotonic=ticker)
    cache.put("t1", ALICE, expires_at=None, generation=cache.generation)
    cache.put("t2", ALICE, expires_at=clock.now() + timedelta(seconds=2),
              generation=cache.generation)
    cache.put("t3", ALICE, expires_at=clock.now() - timedelta(seconds=1),
              generation=cache.generation)
    assert cache.get("t1") is ALICE and cache.get("t2") is ALICE and cache.get("t3") is None
    ticker.now += 3
    assert cache.get("t1") is ALICE and cache.get("t2") is None
    ticker.now += 3
    assert cache.get("t1") is None


def test_a_read_older_than_a_change_is_not_kept():
    cache = ActorCache(5)
    before = cache.generation
    cache.clear()  # a change committed while the actor was being read
    cache.put("t", ALICE, expires_at=None, generation=before)
    assert cache.get("t") is None
    off = ActorCache(0)  # 0 turns the cache off
    off.put("t", ALICE, expires_at=None, generation=off.generation)
    assert off.get("t") is None


def test_the_cache_is_bounded():
    cache = ActorCache(60)
    for n in range(MAX_ENTRIES + 1):
        cache.put(f"t{n}", ALICE, expires_at=None, generation=cache.generation)
    assert cache.get(f"t{MAX_ENTRIES}") is ALICE and cache.get("t0") is None


def test_moving_deactivating_and_signing_out_take_effect_at_once(
        app_client, session, make_agent, make_team, make_ticket, auth_headers):
    admin_user = make_agent(role=Role.ADMIN)
    admin = auth_headers(admin_user)
    first, second = make_team(), make_team()
    agent = make_agent(teams=(first,))
    ticket = make_ticket(team_id=second.id)
    session.commit()
    headers = auth_headers(agent)
    assert app_client.get(f"/api/v1/tickets/{ticket.id}", headers=headers).status_code == 404
    moved = app_client.patch(f"/api/v1/users/{agent.id}", headers=admin,
                             json={"team_ids": [second.id]})
    assert moved.status_code == 200
    assert app_client.get(f"/api/v1/tickets/{ticket.id}", headers=headers).status_code == 200
    deactivated = app_client.patch(f"/api/v1/users/{agent.id}", headers=admin,
                                   json={"is_active": False})
    assert deactivated.status_code == 200
    assert app_client.get("/api/v1/users/me", headers=headers).status_code == 401
    assert app_client.get("/api/v1/users/me", headers=admin).status_code == 200
    assert app_client.post("/api/v1/auth/logout", headers=admin).status_code == 204
    assert app_client.get("/api/v1/users/me", headers=admin).status_code == 401
