"""Routing API: the triage preview, categories, rules, assignment modes and category models."""

from __future__ import annotations

from dataclasses import asdict

from fastapi import APIRouter, Response

from zabota.routing import service
from zabota.routing.schemas import (
    CategoryCreate,
    CategoryOut,
    CategoryUpdate,
    ModelOut,
    PreviewIn,
    PreviewOut,
    RoutingSettingsIn,
    RoutingSettingsOut,
    RuleCreate,
    RuleOut,
    RuleUpdate,
    TeamModeIn,
)
from zabota.web.deps import CurrentActor, SessionDep, SmallPathId

triage = APIRouter(prefix="/triage", tags=["routing"])
router = APIRouter(prefix="/routing", tags=["routing"])


@triage.post("/preview")
def preview(body: PreviewIn, session: SessionDep, actor: CurrentActor) -> PreviewOut:
    """What triage would decide for a text (language, category, sentiment, priority and the
    reasons), without creating a ticket."""
    return PreviewOut.model_validate(service.preview(
        session, actor=actor, text=body.text, subject=body.subject, channel=body.channel,
        customer_id=body.customer_id))


@router.get("/categories")
def list_categories(session: SessionDep, actor: CurrentActor) -> list[CategoryOut]:
    return [CategoryOut.model_validate(c) for c in service.categories_for(session, actor=actor)]


@router.post("/categories", status_code=201)
def create_category(body: CategoryCreate, session: SessionDep,
                    actor: CurrentActor) -> CategoryOut:
    category = service.create_category(session, actor=actor, **body.model_dump())
    out = CategoryOut.model_validate(category)
    session.commit()
    return out


@router.patch("/categories/{category_id}")
def update_category(category_id: SmallPathId, body: CategoryUpdate, session: SessionDep,
                    actor: CurrentActor) -> CategoryOut:
    category = service.update_category(session, category_id, actor=actor,
                                       **body.model_dump(exclude_unset=True))
    out = CategoryOut.model_validate(category)
    session.commit()
    return out


@router.delete("/categories/{category_id}", status_code=204)
def delete_category(category_id: SmallPathId, session: SessionDep, actor: CurrentActor) -> Response:
    service.delete_category(session, category_id, actor=actor)
    session.commit()
    return Response(status_code=204)


@router.get("/rules")
def list_rules(session: SessionDep, actor: CurrentActor) -> list[RuleOut]:
    return [RuleOut.model_validate(r) for r in service.rules_for(session, actor=actor)]


@router.post("/rules", status_code=201)
def create_rule(body: RuleCreate, session: SessionDep, actor: CurrentActor) -> RuleOut:
    rule = service.create_rule(session, actor=actor, name=body.name,
                               conditions=body.conditions, actions=body.actions,
                               position=body.position, is_enabled=body.is_enabled,
                               is_continue=body.is_continue)
    out = RuleOut.model_validate(rule)
    session.commit()
    return out


@router.patch("/rules/{rule_id}")
def update_rule(rule_id: SmallPathId, body: RuleUpdate, session: SessionDep,
                actor: CurrentActor) -> RuleOut:
    changes = {name: getattr(body, name) for name in body.model_fields_set}
    rule = service.update_rule(session, rule_id, actor=actor, **changes)
    out = RuleOut.model_validate(rule)
    session.commit()
    return out


@router.delete("/rules/{rule_id}", status_code=204)
def delete_rule(rule_id: SmallPathId, session: SessionDep, actor: CurrentActor) -> Response:
    service.delete_rule(session, rule_id, actor=actor)
    session.commit()
    return Response(status_code=204)


@router.put("/teams/{team_id}/mode")
def set_team_mode(team_id: SmallPathId, body: TeamModeIn, session: SessionDep,
                  actor: CurrentActor) -> TeamModeIn:
    row = service.set_team_mode(session, team_id, body.mode, actor=actor)
    out = TeamModeIn(mode=row.mode)
    session.commit()
    return out


@router.get("/settings")
def get_settings(session: SessionDep, actor: CurrentActor) -> RoutingSettingsOut:
    return RoutingSettingsOut(**asdict(service.routing_settings_for(session, actor=actor)))


@router.put("/settings")
def update_settings(body: RoutingSettingsIn, session: SessionDep,
                    actor: CurrentActor) -> RoutingSettingsOut:
    """Change the settings sent; those left out keep their values."""
    chosen = service.update_routing_settings(session, actor=actor,
                                             **body.model_dump(exclude_unset=True))
    session.commit()
    return RoutingSettingsOut(**asdict(chosen))


@router.get("/models")
def list_models(session: SessionDep, actor: CurrentActor) -> list[ModelOut]:
    return [ModelOut.model_validate(m) for m in service.models_for(session, actor=actor)]


@router.post("/models/{version}/activate")
def activate_model(version: str, session: SessionDep, actor: CurrentActor) -> ModelOut:
    model = service.activate_model(session, version, actor=actor)
    out = ModelOut.model_validate(model)
    session.commit()
    return out


@router.post("/models/rollback")
def rollback_model(session: SessionDep, actor: CurrentActor) -> ModelOut | None:
    """Activate the model trained before the active one; null: rules only now."""
    model = service.rollback_model(session, actor=actor)
    out = ModelOut.model_validate(model) if model is not None else None
    session.commit()
    return out


@router.post("/models/train", status_code=202)
def train_model(session: SessionDep, actor: CurrentActor) -> dict[str, str]:
    """Queue a retraining on the solved tickets (it takes up to a few minutes)."""
    service.request_training(session, actor=actor)
    return {"status": "queued"}
