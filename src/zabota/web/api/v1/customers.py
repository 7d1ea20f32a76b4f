from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from zabota.identity import service
from zabota.identity.schemas import (
    CustomerCreate,
    CustomerMerge,
    CustomerOut,
    CustomerUpdate,
    IdentityIn,
    OrganizationCreate,
    OrganizationOut,
    OrganizationUpdate,
)
from zabota.web.deps import CurrentActor, PathId, QueryId, SessionDep, SmallPathId

router = APIRouter(tags=["customers"])


@router.get("/customers")
def list_customers(
    session: SessionDep, actor: CurrentActor,
    q: Annotated[str | None, Query(max_length=200)] = None,
    organization_id: QueryId = None, after_id: QueryId = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> list[CustomerOut]:
    """Customers in id order; pass the last id as `after_id` for the next page."""
    return [CustomerOut.model_validate(c) for c in service.list_customers(
        session, actor=actor, q=q, organization_id=organization_id, after_id=after_id,
        limit=limit)]


@router.post("/customers", status_code=201)
def create_customer(body: CustomerCreate, session: SessionDep, actor: CurrentActor) -> CustomerOut:
    fields = body.model_dump(include={"organization_id", "sees_organization_tickets", "language",
                                      "notes", "password"})
    customer = service.create_customer(session, actor=actor, identities=body.identity_pairs(),
                                       name=body.name, **fields)
    out = CustomerOut.model_validate(customer)
    session.commit()
    return out


@router.get("/customers/{customer_id}")
def get_customer(customer_id: PathId, session: SessionDep, actor: CurrentActor) -> CustomerOut:
    return CustomerOut.model_validate(service.get_customer(session, customer_id, actor=actor))


@router.patch("/customers/{customer_id}")
def update_customer(customer_id: PathId, body: CustomerUpdate, session: SessionDep,
                    actor: CurrentActor) -> CustomerOut:
    customer = service.update_customer(session, customer_id, actor=actor,
                                       **body.model_dump(exclude_unset=True))
    out = CustomerOut.model_validate(customer)
    session.commit()
    return out


@router.post("/customers/{customer_id}/identities", status_code=201)
def add_identity(customer_id: PathId, body: IdentityIn, session: SessionDep,
                 actor: CurrentActor) -> CustomerOut:
    customer = service.add_identity(session, customer_id, body.kind, body.value, actor=actor)
    out = CustomerOut.model_validate(customer)
    session.commit()
    return out


@router.post("/customers/{customer_id}/merge")
def merge_customers(customer_id: PathId, body: CustomerMerge, session: SessionDep,
                    actor: CurrentActor) -> CustomerOut:
    """Merge customer `source_id` into this one: its identities and tickets move here."""
    customer = service.merge_customers(session, body.source_id, customer_id, actor=actor)
    session.flush()
    session.refresh(customer)
    out = CustomerOut.model_validate(customer)
    session.commit()
    return out


@router.get("/organizations", tags=["organizations"])
def list_organizations(session: SessionDep, actor: CurrentActor) -> list[OrganizationOut]:
    return [OrganizationOut.model_validate(o)
            for o in service.list_organizations(session, actor=actor)]


@router.post("/organizations", status_code=201, tags=["organizations"])
def create_organization(body: OrganizationCreate, session: SessionDep,
                        actor: CurrentActor) -> OrganizationOut:
    org = service.create_organization(session, actor=actor, **body.model_dump())
    out = OrganizationOut.model_validate(org)
    session.commit()
    return out


@router.get("/organizations/{org_id}", tags=["organizations"])
def get_organization(org_id: SmallPathId, session: SessionDep,
                     actor: CurrentActor) -> OrganizationOut:
    return OrganizationOut.model_validate(service.get_organization(session, org_id, actor=actor))


@router.patch("/organizations/{org_id}", tags=["organizations"])
def update_organization(org_id: SmallPathId, body: OrganizationUpdate, session: SessionDep,
                        actor: CurrentActor) -> OrganizationOut:
    org = service.update_organization(session, org_id, actor=actor,
                                      **body.model_dump(exclude_unset=True))
    out = OrganizationOut.model_validate(org)
    session.commit()
    return out
