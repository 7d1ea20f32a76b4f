"""The category model's life: trained from solved tickets, corrected by agents, retrained
with the corrections, rolled back; a cold start refuses to train."""

from __future__ import annotations

import pytest

from tests.routing.conftest import deliver, solve, triaged
from tests.routing.test_triage import small_installation, solved_history
from zabota.identity import service as identity
from zabota.identity.permissions import SYSTEM
from zabota.routing import errors
from zabota.routing import service as routing
from zabota.routing.models import RoutingCorrection
from zabota.tickets import service as tickets


def test_a_cold_start_refuses_to_train(session, desk, make_ticket, tmp_path):
    small_installation(session, threshold=0.5)
    solve(session, make_ticket(text="Списали деньги", category="billing"))

    with pytest.raises(errors.NotEnoughTrainingData) as refused:
        routing.train_category_model(session, actor=SYSTEM, directory=tmp_path)
    assert refused.value.data["rows"] == 0  # one ticket is below min_per_category
    assert routing.list_models(session) == []


def test_an_agents_correction_is_recorded_and_feeds_the_next_training(
        session, desk, make_ticket, make_agent, tmp_path):
    small_installation(session, threshold=0.3)
    solved_history(session, make_ticket)
    model = routing.train_category_model(session, actor=SYSTEM, directory=tmp_path)
    agent = make_agent(teams=(desk.finance, desk.delivery))
    text = "Курьер списал деньги дважды при доставке"
    ticket = triaged(session, make_ticket, subject="Доставка", text=text)
    predicted = ticket.category
    assert predicted is not None
    confirmed = "delivery" if predicted != "delivery" else "billing"

    tickets.update_ticket(session, ticket.id, {"category": confirmed},
                          actor=identity.actor_for_user(agent))
    deliver(session)
    deliver(session)  # a second delivery run records nothing twice

    corrections = session.query(RoutingCorrection).all()
    assert [(c.ticket_id, c.field, c.predicted, c.confirmed, c.source, c.by_user_id,
             c.model_version) for c in corrections] == [
        (ticket.id, "category", predicted, confirmed, "model", agent.id, model.version)]
    assert routing.routing_accuracy(session) == {"automatic": 1, "corrected": 1,
                                                 "accuracy": 0.0}
    solve(session, ticket)
    data = routing.training_data(session)
    assert (f"Доставка\n{text}", confirmed) in zip(data.texts, data.labels, strict=True)


def test_a_transfer_after_triage_is_a_team_correction(session, desk, make_ticket, make_agent,
                                                      phrase_rule):
    phrase_rule("Сбой транзакции", ["сбой транзакции"], category="billing")
    lead = make_agent(teams=(desk.finance,))
    ticket = triaged(session, make_ticket, text="Сбой транзакции у курьера")

    tickets.transfer_ticket(session, ticket.id, actor=identity.actor_for_user(lead),
                            reason="Это доставка", team_id=desk.delivery.id)
    deliver(session)

    correction = session.query(RoutingCorrection).one()
    assert (correction.field, correction.predicted, correction.confirmed, correction.source) == (
        "team_id", str(desk.finance.id), str(desk.delivery.id), "category")


def test_a_model_can_be_rolled_back_and_triage_follows(session, desk, make_ticket, tmp_path):
    small_installation(session, threshold=0.0)
    solved_history(session, make_ticket)
    first = routing.train_category_model(session, actor=SYSTEM, directory=tmp_path)
    for text in ("Оплата не прошла второй раз", "Списание без заказа", "Платёж завис"):
        solve(session, make_ticket(subject="Оплата", text=text, category="billing"))
    second = routing.train_category_model(session, actor=SYSTEM, directory=tmp_path)
    assert second.version != first.version
    assert [m.version for m in routing.list_models(session) if m.is_active] == [second.version]

    back = routing.rollback_model(session, actor=SYSTEM)

    assert back is not None and back.version == first.version
    ticket = triaged(session, make_ticket, text="Курьер не привёз заказ")
    assert routing.get_triage(session, ticket.id).model_version == first.version
    assert routing.rollback_model(session, actor=SYSTEM) is None  # rules only now
    later = triaged(session, make_ticket, text="Курьер не привёз заказ")
    assert routing.get_triage(session, later.id).explanation["category"]["cold_start"]
    routing.activate_model(session, second.version, actor=SYSTEM)
    assert [m.version for m in routing.list_models(session) if m.is_active] == [second.version]


def test_an_altered_artefact_is_refused_and_triage_falls_back_to_rules(
        session, desk, make_ticket, tmp_path):
    small_installation(session, threshold=0.0)
    solved_history(session, make_ticket)
    model = routing.train_category_model(session, actor=SYSTEM, directory=tmp_path)
    with open(model.artefact_path, "ab") as artefact:
        artefact.write(b"tampered")

    ticket = triaged(session, make_ticket, text="Курьер не привёз заказ")

    assert routing.get_triage(session, ticket.id).category_source == "none"
