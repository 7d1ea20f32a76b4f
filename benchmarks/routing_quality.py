"""How many new tickets triage sends to the right team without a person, on the demo data.

    python -m benchmarks.routing_quality                  # 4,000 demo tickets
    python -m benchmarks.routing_quality --tickets 600    # a smoke run

A fresh SQLite database gets the demo (its teams, categories, phrase rules and a history of
tickets told through the services; `zabota.demo`). The tickets are split by time: the
older 70 % are the history a model may learn from (their solved tickets' categories, as
`routing.service.training_data` reads them), the newer 30 % are triaged as if they had just
arrived, by `routing.service.decide` on subject + first customer message, twice:

* **rules only** — no category model (a new installation);
* **rules + model** — a category model trained on the older solved tickets, used above the
  installation's confidence threshold; below it the ticket waits in the triage view.

The right team of a ticket is the team of the category it had when agents were done with it
(the demo's misrouted tickets are transferred and recategorised on the way). Each new ticket
is counted once: routed to the right team with no person involved, routed to a wrong team
(someone must transfer it), or left for a person (no rule matched and the model was unsure or
absent). The demo's texts come from templates, so the model's figure flatters it; the
comparison, not the absolute number, is the point.
"""

from __future__ import annotations

import argparse
import logging
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa

from benchmarks.harness import command_line, machine_summary, migrate, sqlite_url
from zabota.core.db import Database
from zabota.core.logging import configure_logging
from zabota.demo import load_demo
from zabota.identity.models import Customer
from zabota.routing import classifier
from zabota.routing import service as routing
from zabota.routing.models import CategoryModel
from zabota.tickets.models import AuthorKind, Message, Status, Ticket

TRAIN_SHARE = 0.7


@dataclass(frozen=True)
class Case:
    ticket_id: int
    text: str
    channel: str
    customer_id: int
    right_team: int
    solved: bool
    category: str


@dataclass
class Tally:
    right: int = 0
    wrong: int = 0
    left: int = 0

    def add(self, decided: int | None, right: int) -> None:
        if decided is None:
            self.left += 1
        elif decided == right:
            self.right += 1
        else:
            self.wrong += 1

    def line(self, name: str) -> str:
        total = self.right + self.wrong + self.left
        return (f"{name:<16} right team without a person {self.right / total:6.1%}   "
                f"needed a transfer {self.wrong / total:6.1%}   "
                f"left for a person {self.left / total:6.1%}   (n={total})")


def cases(session: sa.orm.Session) -> list[Case]:
    teams = {c.key: c.team_id for c in routing.list_categories(session)}
    first = (sa.select(Message.ticket_id, sa.func.min(Message.id).label("message_id"))
             .where(Message.author_kind == AuthorKind.CUSTOMER).group_by(Message.ticket_id)
             .subquery())
    rows = session.execute(
        sa.select(Ticket.id, Ticket.subject, Message.body_text, Ticket.channel,
                  Ticket.customer_id, Ticket.category, Ticket.status)
        .join(first, first.c.ticket_id == Ticket.id)
        .join(Message, Message.id == first.c.message_id)
        .where(Ticket.category.is_not(None), Ticket.merged_into_id.is_(None))
        .order_by(Ticket.created_at, Ticket.id))
    return [Case(tid, f"{subject}\n{body}", channel.value, customer_id,
                 int(teams[category]), status in (Status.SOLVED, Status.CLOSED), category)
            for tid, subject, body, channel, customer_id, category, status in rows
            if teams.get(category) is not None]


def triage(session: sa.orm.Session, new: Sequence[Case]) -> Tally:
    tally = Tally()
    for case in new:
        decision = routing.decide(session, text=case.text, channel=case.channel,
                                  customer=session.get(Customer, case.customer_id))
        tally.add(decision.team_id, case.right_team)
    return tally


def run(tickets: int, workdir: Path) -> str:
    data_dir = workdir / "var"
    url = sqlite_url(workdir / "routing.db")
    migrate(url, data_dir)
    database = Database(url)
    started = time.perf_counter()
    load_demo(database, tickets=tickets, customers=max(100, tickets // 5), days=60,
              train_model=False)
    loaded = time.perf_counter() - started
    with database.sessions() as session:
        everything = cases(session)
        cut = int(len(everything) * TRAIN_SHARE)
        old, new = everything[:cut], everything[cut:]
        before = triage(session, new)
        history = [c for c in old if c.solved]
        trained = classifier.train_and_save(
            [c.text for c in history], [c.category for c in history], data_dir / "models",
            trained_at="benchmark")
        routing._register(session, trained, activate=True, clock=routing.SYSTEM_CLOCK)
        session.flush()
        model = session.scalar(sa.select(CategoryModel).where(CategoryModel.is_active))
        assert model is not None
        after = triage(session, new)
        version, macro_f1 = model.version, model.metrics["macro_f1"]
        threshold = routing.get_routing_settings(session).confidence_threshold
        session.rollback()
    sources = Counter(c.category for c in new)
    lines = [
        f"demo: {tickets} tickets loaded in {loaded:.0f} s; {len(old)} older tickets "
        f"({len(history)} solved, the model's history), {len(new)} newer ones triaged",
        f"categories of the newer tickets: {dict(sorted(sources.items()))}",
        f"model {version}: held-out macro-F1 {macro_f1}, confidence threshold {threshold}",
        before.line("rules only"),
        after.line("rules + model"),
    ]
    database.dispose()
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> str:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.routing_quality",
                                     description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tickets", type=int, default=4000, help="demo tickets to load")
    parser.add_argument("--workdir", type=Path, help="default: a temporary directory")
    args = parser.parse_args(argv)
    configure_logging()
    logging.disable(logging.INFO)
    with tempfile.TemporaryDirectory() as tmp:
        out = run(args.tickets, args.workdir or Path(tmp))
    report = "\n".join([command_line("benchmarks.routing_quality", argv), machine_summary(),
                        out])
    print(report)
    return report


if __name__ == "__main__":
    main()
