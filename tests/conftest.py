"""Test set-up: every database test runs on SQLite and on PostgreSQL, in a rolled-back
transaction. With CI=true a missing PostgreSQL fails the run instead of skipping."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

_TMP = Path(tempfile.mkdtemp(prefix="zabota-test-"))
os.environ.setdefault("ZABOTA_DATA_DIR", str(_TMP / "var"))
os.environ.pop("ZABOTA_DATABASE_URL", None)
os.environ.pop("ZABOTA_REDIS_URL", None)

import pytest  # noqa: E402
import sqlalchemy as sa  # noqa: E402
from fastapi.testclient import TestClient  # noqa: E402
from sqlalchemy.orm import Session, sessionmaker  # noqa: E402

from zabota.core.clock import FrozenClock  # noqa: E402
from zabota.core.db import Database  # noqa: E402
from zabota.core.migrate import upgrade  # noqa: E402
from zabota.core.settings import Settings  # noqa: E402
from zabota.identity import service as identity  # noqa: E402
from zabota.identity.models import Customer, IdentityKind, Role, Team, User  # noqa: E402
from zabota.identity.permissions import SYSTEM, Actor  # noqa: E402
from zabota.tickets import service as tickets  # noqa: E402
from zabota.tickets.models import Ticket  # noqa: E402
from zabota.web.app import create_app  # noqa: E402

PG_ADMIN_URL = os.environ.get("ZABOTA_TEST_PG_URL",
                              "postgresql+psycopg://postgres@127.0.0.1:5432/test")
IN_CI = os.environ.get("CI", "").lower() == "true"


def postgres_url(name: str) -> str:
    """A fresh database `name` on the test PostgreSQL server (skip, or fail in CI, if none)."""
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    except sa.exc.OperationalError as exc:
        if IN_CI:
            pytest.fail(f"PostgreSQL is required in CI and is not reachable: {exc}")
        pytest.skip("PostgreSQL not reachable (set CI=true to make this a failure)")
    finally:
        admin.dispose()
    return PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"


def _worker_suffix() -> str:
    return os.environ.get("PYTEST_XDIST_WORKER", "main")


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'zabota.db'}"
    else:
        url = postgres_url(f"zabota_test_{_worker_suffix()}")
    upgrade(url)
    return url


@pytest.fixture(scope="session")
def database(db_url: str) -> Iterator[Database]:
    db = Database(db_url)
    yield db
    db.dispose()


class TransactionalDatabase(Database):
    """The app's Database, with every session joined to the test's outer transaction."""

    def __init__(self, connection: sa.Connection) -> None:
        self.url = str(connection.engine.url)
        self.engine = connection.engine
        self.sessions = sessionmaker(bind=connection, expire_on_commit=False,
                                     join_transaction_mode="create_savepoint")
        self.read_sessions = self.nowait_sessions = self.sessions


@pytest.fixture
def connection(database: Database) -> Iterator[sa.Connection]:
    with database.engine.connect() as conn:
        outer = conn.begin()
        yield conn
        outer.rollback()


@pytest.fixture
def session(connection: sa.Connection) -> Iterator[Session]:
    with Session(bind=connection, expire_on_commit=False,
                 join_transaction_mode="create_savepoint") as s:
        yield s


@pytest.fixture
def frozen_clock() -> FrozenClock:
    return FrozenClock(datetime(2026, 3, 2, 9, 0, tzinfo=UTC))


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "var", secret_key="test-secret",
                    api_rate_limit_per_minute=100_000, login_rate_limit_per_minute=1000)


@pytest.fixture
def app_client(connection: sa.Connection, settings: Settings) -> Iterator[TestClient]:
    app = create_app(settings, TransactionalDatabase(connection))
    with TestClient(app, raise_server_exceptions=True) as client:
        yield client


@pytest.fixture
def make_team(session: Session) -> Callable[..., Team]:
    counter = iter(range(1, 10_000))

    def make(name: str | None = None, **kwargs: Any) -> Team:
        return identity.create_team(session, name=name or f"Team {next(counter)}", actor=SYSTEM,
                                    **kwargs)

    return make


@pytest.fixture
def make_agent(session: Session) -> Callable[..., User]:
    counter = iter(range(1, 10_000))

    def make(*, role: Role = Role.AGENT, teams: tuple[Team, ...] = (), **kwargs: Any) -> User:
        n = next(counter)
        return identity.create_user(session, email=f"agent{n}@example.com", name=f"Agent {n}",
                                    role=role, team_ids=[t.id for t in teams], actor=SYSTEM,
                                    **kwargs)

    return make


@pytest.fixture
def make_customer(session: Session) -> Callable[..., Customer]:
    counter = iter(range(1, 10_000))

    def make(email: str | None = None, **kwargs: Any) -> Customer:
        n = next(counter)
        return identity.find_or_create_customer(
            session, identities=[(IdentityKind.EMAIL, email or f"customer{n}@example.org")],
            name=kwargs.pop("name", f"Клиент {n}"), **kwargs)

    return make


@pytest.fixture
def make_ticket(session: Session, make_customer: Callable[..., Customer]) -> Callable[..., Ticket]:
    def make(*, customer: Customer | None = None, subject: str = "Не пришёл заказ",
             text: str = "Заказ 123 не доставлен", actor: Actor = SYSTEM,
             clock: FrozenClock | None = None, **kwargs: Any) -> Ticket:
        customer = customer or make_customer()
        extra = {"clock": clock} if clock is not None else {}
        return tickets.create_ticket(session, actor=actor, subject=subject,
                                     message=tickets.NewMessage(text=text),
                                     customer_id=customer.id, **kwargs, **extra)

    return make


def actor_of(person: User | Customer) -> Actor:
    if isinstance(person, User):
        return identity.actor_for_user(person)
    return identity.actor_for_customer(person)


@pytest.fixture
def auth_headers(session: Session) -> Callable[[User | Customer], dict[str, str]]:
    def headers(person: User | Customer) -> dict[str, str]:
        token = identity.issue_token_for(
            session, ttl=timedelta(hours=1),
            user_id=person.id if isinstance(person, User) else None,
            customer_id=person.id if isinstance(person, Customer) else None)
        session.commit()
        return {"Authorization": f"Bearer {token}"}

    return headers


@contextmanager
def no_new_rows(session: Session, model: type[Any]) -> Iterator[None]:
    before = session.scalar(sa.select(sa.func.count()).select_from(model))
    yield
    assert session.scalar(sa.select(sa.func.count()).select_from(model)) == before


REDIS_TEST_URL = os.environ.get("ZABOTA_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


@pytest.fixture
def redis_url() -> str:
    """A flushed Redis database for the test (skip, or fail in CI, if Redis is down)."""
    import redis

    client = redis.Redis.from_url(REDIS_TEST_URL)
    try:
        client.flushdb()
    except redis.exceptions.ConnectionError as exc:
        if IN_CI:
            pytest.fail(f"Redis is required in CI and is not reachable: {exc}")
        pytest.skip("Redis not reachable (set CI=true to make this a failure)")
    finally:
        client.close()
    return REDIS_TEST_URL


@pytest.fixture(params=["sqlite", "postgresql"])
def committed_db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A migrated database of its own, for tests whose data must really be committed."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'committed.db'}"
    else:
        url = postgres_url(f"zabota_test_committed_{_worker_suffix()}")
    upgrade(url)
    return url
