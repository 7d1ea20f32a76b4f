"""Honour Idempotency-Key on POST: a retried request gets the first response, nothing doubles."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from zabota.core import idempotency
from zabota.core.errors import field_error
from zabota.core.i18n import _
from zabota.identity.permissions import Actor

MAX_KEY = 255


def run_idempotent(
    request: Request, session: Session, actor: Actor, body: BaseModel,
    produce: Callable[[], tuple[int, dict[str, Any]]],
) -> JSONResponse:
    """Call `produce` (which changes state, uncommitted) once per key, then commit."""
    key = request.headers.get("idempotency-key")
    if key is None:
        status, payload = produce()
        session.commit()
        return JSONResponse(payload, status)
    if not 1 <= len(key) <= MAX_KEY:
        raise field_error("Idempotency-Key", _("The Idempotency-Key has 1 to 255 characters"))
    owner = f"{actor.kind}:{actor.id}"
    fingerprint = hashlib.sha256(
        f"{request.method} {request.url.path}\n{body.model_dump_json()}".encode()).hexdigest()
    stored = idempotency.find(session, owner, key, fingerprint)
    if stored is None:
        status, payload = produce()
        try:
            idempotency.remember(session, owner=owner, key=key, request_hash=fingerprint,
                                 status_code=status, response=payload)
            session.commit()
            return JSONResponse(payload, status)
        except IntegrityError:
            # A concurrent twin committed first: drop our work and answer as it did.
            session.rollback()
            stored = idempotency.find(session, owner, key, fingerprint)
            if stored is None:
                raise
    return JSONResponse(stored.response, stored.status_code,
                        headers={"Idempotent-Replayed": "true"})
