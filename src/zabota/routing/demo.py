"""Demo routing: the shop's categories mapped to its teams, a few phrase rules, and, once the
history is loaded, a category model trained on it, so a new demo ticket is triaged at once."""

from __future__ import annotations

from collections.abc import Mapping

import structlog
from sqlalchemy.orm import Session

from zabota.core.clock import SYSTEM_CLOCK, Clock
from zabota.core.db import Database
from zabota.identity.permissions import SYSTEM
from zabota.routing import service as routing
from zabota.routing.errors import NotEnoughTrainingData
from zabota.routing.schemas import RuleActions, RuleConditions
from zabota.tickets.models import Priority

log = structlog.get_logger()

# key: (Russian name, English name, team key)
CATEGORIES = {
    "billing": ("Оплата", "Billing", "billing"),
    "delivery": ("Доставка", "Delivery", "delivery"),
    "technical": ("Техническая проблема", "Technical issue", "technical"),
    "returns": ("Возврат", "Returns", "returns"),
    "account": ("Аккаунт", "Account", "technical"),
}
# name, phrases (matched by lemmas, so "сбоем транзакций" matches too), category, priority
RULES = (
    ("Сбой транзакции", ["сбой транзакции", "транзакция не прошла", "списали дважды",
                         "двойное списание", "payment failed", "charged twice"],
     "billing", Priority.HIGH),
    ("Возврат товара", ["вернуть товар", "возврат товара", "return an item", "send it back"],
     "returns", None),
    ("Курьер не приехал", ["курьер не приехал", "курьер не пришёл", "courier did not come"],
     "delivery", None),
)


def seed_routing(session: Session, team_ids: Mapping[str, int], *,
                 clock: Clock = SYSTEM_CLOCK) -> None:
    for key, (name_ru, name_en, team) in CATEGORIES.items():
        routing.create_category(session, actor=SYSTEM, key=key, name_ru=name_ru,
                                name_en=name_en, team_id=team_ids[team], skill=key,
                                clock=clock)
    for name, phrases, category, priority in RULES:
        routing.create_rule(session, actor=SYSTEM, name=name,
                            conditions=RuleConditions(phrases=phrases),
                            actions=RuleActions(category=category, priority=priority),
                            clock=clock)


def train_on_history(database: Database) -> str:
    """The first category model, from the demo's solved tickets (no write lock held while
    it learns, so a running server goes on taking requests)."""
    try:
        model = routing.train_in(database, actor=SYSTEM)
    except NotEnoughTrainingData as exc:
        log.info("demo.no_category_model", reason=str(exc))
        return "no category model (too little history)"
    return (f"category model {model.version} on {model.rows} tickets, macro-F1 "
            f"{float(model.metrics.get('macro_f1', 0.0)):.2f}")
