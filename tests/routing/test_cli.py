"""`zabota ml` in a fresh installation: explain with rules, train from the tickets, the
registry, rollback."""

from __future__ import annotations

from tests.routing.test_triage import ACCOUNT, BILLING, DELIVERY
from tests.test_cli import fresh_env, run
from zabota.core.db import Database
from zabota.identity.models import IdentityKind
from zabota.identity.permissions import SYSTEM
from zabota.routing import service as routing
from zabota.routing.schemas import RuleActions, RuleConditions
from zabota.tickets import service as tickets
from zabota.tickets.models import Status


def test_the_ml_commands_on_a_fresh_installation(tmp_path):
    env = fresh_env(tmp_path)
    assert run(["migrate"], env).returncode == 0
    database = Database(f"sqlite:///{tmp_path / 'var' / 'zabota.db'}")
    with database.session_scope() as session:
        routing.create_category(session, actor=SYSTEM, key="billing", name_ru="Финансы")
        routing.create_category(session, actor=SYSTEM, key="delivery", name_ru="Доставка")
        routing.create_category(session, actor=SYSTEM, key="account", name_ru="Аккаунт")
        routing.create_rule(session, actor=SYSTEM, name="Сбой транзакции",
                            conditions=RuleConditions(phrases=["сбой транзакции"]),
                            actions=RuleActions(category="billing"))
        routing.update_routing_settings(session, actor=SYSTEM, confidence_threshold=0.5,
                                        repeat_days=7, min_training_rows=12,
                                        min_per_category=3)

    explained = run(["ml", "explain", "Срочно! Сбоем транзакций списали деньги"], env)
    cold = run(["ml", "train", "category"], env)

    assert explained.returncode == 0, explained.stderr
    assert "category: billing (rule: Сбой транзакции)" in explained.stdout
    assert "priority: high" in explained.stdout and "urgent_words +2" in explained.stdout
    assert cold.returncode == 1 and "Cold start" in cold.stderr

    with database.session_scope() as session:
        for category, texts in (("billing", BILLING), ("delivery", DELIVERY),
                                ("account", ACCOUNT)):
            for n, text in enumerate(texts):
                ticket = tickets.create_ticket(
                    session, actor=SYSTEM, subject="Вопрос", category=category,
                    message=tickets.NewMessage(text=text), customer_name="К",
                    customer_identities=[(IdentityKind.EMAIL, f"{category}{n}@example.org")])
                tickets.update_ticket(session, ticket.id, {"status": Status.SOLVED},
                                      actor=SYSTEM)
    trained = run(["ml", "train", "category"], env)
    listed = run(["ml", "models"], env)
    back = run(["ml", "rollback"], env)
    database.dispose()

    assert trained.returncode == 0, trained.stderr
    assert "Trained category-" in trained.stdout and "(active)" in trained.stdout
    assert "* category-" in listed.stdout
    assert "No model active: rules only." in back.stdout
