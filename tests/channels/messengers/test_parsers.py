"""Parsers never crash: any JSON, and any real payload with a part removed or replaced, is read
or refused with `MalformedUpdate` (which quarantines it), never another exception."""

from __future__ import annotations

import contextlib
import copy
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError
from tests.channels.messengers.conftest import FIXTURES, cases

from zabota.channels import hooks
from zabota.channels.hooks import MalformedUpdate
from zabota.channels.phone.calls import CallIn
from zabota.channels.telegram.intake import parse_update
from zabota.channels.vk.intake import parse_event
from zabota.channels.whatsapp.intake import parse_item, split_payload

# Field names the parsers look for, so generated objects reach past the first check.
KEYS = ["update_id", "message", "edited_message", "callback_query", "chat", "id", "type",
        "from", "text", "caption", "photo", "document", "file_id", "file_size", "width",
        "reply_to_message", "message_id", "contact", "user_id", "phone_number", "location",
        "object", "group_id", "event_id", "peer_id", "from_id", "attachments", "sizes", "url",
        "conversation_message_id", "fwd_messages", "geo", "coordinates", "reply_message",
        "entry", "changes", "field", "value", "messages", "statuses", "metadata", "contacts",
        "wa_id", "profile", "image", "interactive", "context", "errors", "status", "system",
        "inline_keyboard", "reply_markup", "data", "doc", "title", "ext", "size"]

scalars = (st.none() | st.booleans() | st.integers(min_value=-2**63, max_value=2**63)
           | st.floats(allow_nan=False) | st.text(max_size=20))
json_values = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(
        st.sampled_from(KEYS) | st.text(max_size=8), children, max_size=6),
    max_leaves=40)
json_objects = st.dictionaries(st.sampled_from(KEYS), json_values, max_size=6)


def parse(platform: str, data: dict[str, Any]) -> object:
    if platform == "telegram":
        return parse_update(data)
    if platform == "vk":
        return parse_event(data)
    return [parse_item(envelope) for envelope in split_payload(data)]


def paths(value: Any, prefix: tuple = ()) -> list[tuple]:
    found = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, child in value.items():
            found += paths(child, (*prefix, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            found += paths(child, (*prefix, index))
    return found


def mutate(data: Any, path: tuple, replacement: Any, delete: bool) -> Any:
    data = copy.deepcopy(data)
    parent = data
    for step in path[:-1]:
        parent = parent[step]
    if delete:
        del parent[path[-1]]
    else:
        parent[path[-1]] = replacement
    return data


PAYLOADS = [(c["platform"], json.loads((FIXTURES / c["file"]).read_text())) for c in cases()]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(platform=st.sampled_from(["telegram", "vk", "whatsapp"]), data=json_objects)
def test_any_json_object_is_read_or_refused(platform, data):
    with contextlib.suppress(MalformedUpdate):
        parse(platform, data)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(choice=st.data(), replacement=json_values, delete=st.booleans())
def test_a_real_payload_with_a_part_broken_is_read_or_refused(choice, replacement, delete):
    platform, data = choice.draw(st.sampled_from(PAYLOADS))
    path = choice.draw(st.sampled_from(paths(data)))
    with contextlib.suppress(MalformedUpdate):
        parse(platform, mutate(data, path, replacement, delete))


@given(st.binary(max_size=200) | st.text(max_size=200).map(str.encode))
def test_any_body_is_a_json_object_or_a_malformed_payload(body):
    with contextlib.suppress(hooks.MalformedPayload):
        assert isinstance(hooks.json_object(body), dict)


@given(json_objects | st.fixed_dictionaries({
    "call_id": st.text(max_size=5), "status": st.sampled_from(["answered", "missed", "x"]),
    "started_at": st.sampled_from(["2026-03-02T09:00:00+03:00", "2026-03-02T09:00:00", "x"]),
    "caller_number": st.text(max_size=20)}))
def test_a_call_report_is_valid_or_gives_field_errors(data):
    try:
        CallIn.model_validate_json(json.dumps(data))
    except ValidationError as exc:
        assert all(error["loc"] for error in exc.errors()) or exc.errors()[0]["type"]


@pytest.mark.parametrize("text, limit", [("", 10), ("a" * 25, 10), ("word " * 30, 16),
                                          ("абзац\n\n" * 9, 20)])
def test_split_text_keeps_every_character_in_pieces_within_the_limit(text, limit):
    pieces = hooks.split_text(text, limit)
    assert all(0 < len(p) <= limit for p in pieces)
    assert "".join(pieces).replace(" ", "").replace("\n", "") == (
        text.replace(" ", "").replace("\n", ""))


ODD_VALUES = [None, "", "x", 0, -1, 7, 1.5, True, [], [1], ["x"], {}, {"id": "x"}, [{}]]


@pytest.mark.parametrize("index", range(len(PAYLOADS)))
def test_every_part_of_every_payload_broken_every_way_is_read_or_refused(index):
    """The exhaustive sibling of the property above: each path, each odd value, deleted."""
    platform, data = PAYLOADS[index]
    for path in paths(data):
        for replacement in [*ODD_VALUES, "delete"]:
            broken = mutate(data, path, replacement, replacement == "delete")
            try:
                parse(platform, broken)
            except MalformedUpdate:
                pass
            except Exception as exc:  # a crash: show where
                raise AssertionError(f"{path} = {replacement!r}: {exc!r}") from exc
