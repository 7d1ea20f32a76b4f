"""One error hierarchy: a stable code for machines and a translated title for people."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, ClassVar, cast

from zabota.core.i18n import N_


class ZabotaError(Exception):
    status: ClassVar[int] = 400
    code: ClassVar[str] = "bad_request"
    title: ClassVar[str] = N_("The request cannot be processed")

    def __init__(self, detail: str | None = None, **data: object) -> None:
        super().__init__(detail or self.title)
        self.detail = detail
        self.data = data


class NotFound(ZabotaError):
    status, code, title = 404, "not_found", N_("Not found")


class Forbidden(ZabotaError):
    status, code, title = 403, "forbidden", N_("You are not allowed to do this")


class NotAuthenticated(ZabotaError):
    status, code, title = 401, "not_authenticated", N_("Sign in first")


class Conflict(ZabotaError):
    status, code, title = 409, "conflict", N_("The request conflicts with the current state")


class InvalidInput(ZabotaError):
    status, code, title = 422, "invalid_input", N_("Some fields are not valid")


class RateLimited(ZabotaError):
    status, code, title = 429, "rate_limited", N_("Too many requests, try again later")

    def __init__(self, retry_after: int) -> None:
        super().__init__(None)
        self.retry_after = retry_after


def field_error(field: str, message: str) -> InvalidInput:
    """A 422 naming the field, so a form can show the message next to it."""
    return InvalidInput(message, errors=[{"field": field, "message": message}])


@contextmanager
def field_named(field: str, *, was: str) -> Iterator[None]:
    """Report errors about the field `was` under `field`, the name the caller sent (an API
    parameter called differently from the column it sets)."""
    try:
        yield
    except ZabotaError as exc:
        for error in cast(list[dict[str, Any]], exc.data.get("errors") or []):
            if error.get("field") == was:
                error["field"] = field
        raise
