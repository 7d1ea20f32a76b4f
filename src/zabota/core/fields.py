"""Field rules shared by the API shapes of every part."""

from __future__ import annotations

from typing import Annotated, Any

import email_validator
from pydantic import BeforeValidator, Field, field_validator, model_validator

# The largest id a client may send: SQLite's and PostgreSQL's BIGINT. Beyond it the database
# refuses the number itself (an error 500) instead of finding nothing (a clear 404 or 422).
MAX_ROW_ID = 2**63 - 1
MAX_STAFF_ID = 2**31 - 1  # INTEGER keys: teams, users


def not_a_bool(value: Any) -> Any:
    """For ids: JSON `true` is no team number 1 (pydantic would take it as one)."""
    if isinstance(value, bool):
        raise ValueError("not_a_number")
    return value


# Ids a client sends in a body, bounded by their columns.
RowId = Annotated[int, BeforeValidator(not_a_bool), Field(ge=1, le=MAX_ROW_ID)]  # BIGINT keys
StaffId = Annotated[int, BeforeValidator(not_a_bool), Field(ge=1, le=MAX_STAFF_ID)]  # INTEGER


def drop_nul(text: str) -> str:
    """The text without NUL characters: PostgreSQL cannot store them in text, and SQLite's
    C API cuts strings at them."""
    return text.replace("\x00", "") if "\x00" in text else text


def _without_nul(value: Any) -> Any:
    if isinstance(value, str):
        return drop_nul(value)
    if isinstance(value, dict):
        return {key: _without_nul(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_without_nul(item) for item in value]
    return value


def _drop_nul(cls: type, data: Any) -> Any:
    return _without_nul(data)


def without_nul() -> Any:
    """For the `In` shape of each part: NUL characters are dropped from everything a client
    sends (PostgreSQL cannot store them in text, SQLite's C API cuts strings at them)."""
    return model_validator(mode="before")(_drop_nul)


def _not_null(value: Any) -> Any:
    if value is None:
        raise ValueError("not_null")
    return value


def not_null(*names: str) -> Any:
    """For a PATCH shape: omitting these fields leaves them alone, but an explicit `null`
    (which would mean "clear it") is refused, as the columns cannot be empty."""
    return field_validator(*names)(_not_null)


# Self-hosted installations live on company networks: `.local` (the default admin's
# admin@zabota.local among them) is a real address there. email-validator refuses the
# special-use domains unless they are taken off its list, which it documents for this.
if "local" in email_validator.SPECIAL_USE_DOMAIN_NAMES:
    email_validator.SPECIAL_USE_DOMAIN_NAMES.remove("local")
