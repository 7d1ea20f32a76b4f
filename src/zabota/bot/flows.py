"""Guided flows: short scripted conversations an admin defines as data, such as "order status:
ask the order number → ask the shop's HTTP endpoint → answer with the status".

A flow is JSON validated here (`FlowDefinition`): the phrases that start it, per language,
and its steps — `ask` (fill a slot from what the customer writes, matched by a regular
expression; the message that started the flow counts, so "где мой заказ 12345?" needs no
question), `http` (GET or POST a configured URL; slot values are URL-encoded into it; the
JSON answer is kept under a name) and `answer` (a reply with `{slot}` and `{response.field}`
placeholders) or `handoff` (end the flow by handing the conversation to a person of a team,
with the collected slots in an internal note). A failing endpoint hands the conversation to
a person too. The call runs while
the customer's message is being stored, so keep its timeout short. Templates are filled by
plain name lookup, never `str.format`, so a definition cannot reach into Python objects.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal
from urllib.parse import quote

import httpx
from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic_core import PydanticCustomError

from zabota.bot.answer import asks_for_human, normalise

Texts = dict[Literal["ru", "en"], Annotated[str, Field(min_length=1, max_length=2000)]]
_NAME = r"^[a-z][a-z0-9_]{0,39}$"
_PLACEHOLDER = re.compile(r"\{([a-z][a-z0-9_]*(?:\.[a-zA-Z0-9_]+)*)\}")


class _Step(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AskStep(_Step):
    kind: Literal["ask"]
    slot: Annotated[str, Field(pattern=_NAME)]
    prompt: Texts
    pattern: Annotated[str, Field(min_length=1, max_length=200)]

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, value: str) -> str:
        try:
            re.compile(value)
        except re.error as exc:
            raise PydanticCustomError("regex_invalid", "not a regular expression: {error}",
                                      {"error": str(exc)}) from None
        return value


class HttpStep(_Step):
    kind: Literal["http"]
    url: Annotated[str, Field(pattern=r"^https?://", max_length=500)]
    method: Literal["GET", "POST"] = "GET"
    timeout: Annotated[float, Field(gt=0, le=10)] = 5.0
    save_as: Annotated[str, Field(pattern=_NAME)] = "response"


class AnswerStep(_Step):
    kind: Literal["answer"]
    text: Texts


class HandoffStep(_Step):
    """End the flow: the conversation goes to a person of the team (by its name), with the
    slots collected so far in an internal note; optionally tell the customer first."""

    kind: Literal["handoff"]
    team: Annotated[str, Field(min_length=1, max_length=120)]
    category: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_.-]{0,99}$")] | None = None
    text: Texts | None = None


Step = Annotated[AskStep | HttpStep | AnswerStep | HandoffStep, Field(discriminator="kind")]


class FlowDefinition(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, Field(pattern=_NAME)]
    triggers: dict[Literal["ru", "en"], list[Annotated[str, Field(min_length=2,
                                                                  max_length=100)]]]
    steps: Annotated[list[Step], Field(min_length=1, max_length=20)]


@dataclass
class FlowState:
    """Where a conversation is in a flow: the next step and what was collected."""

    name: str
    version: int
    step: int = 0
    values: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class FlowReply:
    text: str
    state: FlowState
    is_done: bool = False
    is_failed: bool = False  # the endpoint failed: hand the conversation to a person
    handoff: HandoffStep | None = None  # the flow ended by handing over to this team


@dataclass(frozen=True)
class Traced:
    """One step as it ran, for the admin's dry run of a flow."""

    step: int  # 1-based, as the admin counts them
    kind: str
    detail: dict[str, Any]


def triggered(definition: FlowDefinition, text: str, language: str) -> bool:
    words = f" {normalise(text)} "
    phrases = definition.triggers.get("ru" if language == "ru" else "en", [])
    return any(f" {normalise(p)} " in words for p in phrases)


def advance(definition: FlowDefinition, state: FlowState, text: str, *, language: str,
            client: httpx.Client | None = None,
            trace: list[Traced] | None = None) -> FlowReply:
    """Run the flow from its current step with the customer's message until it needs the
    customer again or ends; `trace` collects what each step did."""
    lang: Literal["ru", "en"] = "ru" if language == "ru" else "en"
    state = FlowState(state.name, state.version, state.step, dict(state.values))
    pending = text  # a message fills at most the first unanswered question
    log = trace if trace is not None else []
    while state.step < len(definition.steps):
        step = definition.steps[state.step]
        number = state.step + 1
        if isinstance(step, AskStep):
            found = re.search(step.pattern, pending) if pending else None
            if found is None:
                prompt = _text(step.prompt, lang, state.values)
                log.append(Traced(number, step.kind, {"slot": step.slot, "asked": prompt}))
                return FlowReply(prompt, state)
            state.values[step.slot] = found.group(1) if found.re.groups else found.group(0)
            log.append(Traced(number, step.kind, {"slot": step.slot,
                                                  "value": state.values[step.slot]}))
            pending = ""
        elif isinstance(step, HttpStep):
            url = _url(step, state.values)
            try:
                state.values[step.save_as] = _call(step, url, state.values, client)
            except (httpx.HTTPError, ValueError) as exc:
                log.append(Traced(number, step.kind, {"method": step.method, "url": url,
                                                      "error": _failure(exc)}))
                return FlowReply("", state, is_done=True, is_failed=True)
            log.append(Traced(number, step.kind, {"method": step.method, "url": url,
                                                  "saved_as": step.save_as,
                                                  "response": state.values[step.save_as]}))
        elif isinstance(step, HandoffStep):
            state.step += 1
            told = _text(step.text, lang, state.values) if step.text else ""
            log.append(Traced(number, step.kind, {"team": step.team, "category": step.category,
                                                  "told": told, "values": slots(state)}))
            return FlowReply(told, state, is_done=True, handoff=step)
        else:
            state.step += 1
            said = _text(step.text, lang, state.values)
            log.append(Traced(number, step.kind, {"said": said}))
            return FlowReply(said, state, is_done=state.step >= len(definition.steps))
        state.step += 1
    return FlowReply("", state, is_done=True)


def slots(state: FlowState) -> dict[str, str]:
    """What the customer told the flow (not the endpoints' answers)."""
    return {k: str(v) for k, v in state.values.items() if isinstance(v, str | int | float)}


@dataclass(frozen=True)
class DryTurn:
    message: str
    reply: str
    steps: list[Traced]
    is_done: bool
    is_failed: bool
    handoff: HandoffStep | None
    asked_for_person: bool = False  # "оператор": the bot hands over before the flow


@dataclass(frozen=True)
class DryRun:
    started: bool  # a trigger phrase of the flow is in the first message
    turns: list[DryTurn]


def dry_run(definition: FlowDefinition, messages: list[str], *, language: str,
            client: httpx.Client | None = None) -> DryRun:
    """The flow's replies to the customer's messages, one after the other, as the bot would
    give them; HTTP steps are really called, nothing is stored."""
    state = FlowState(definition.name, 0)
    turns = []
    for message in messages:
        if asks_for_human(message):  # live, this is checked before the flow, on every message
            turns.append(DryTurn(message, "", [], True, False, None, asked_for_person=True))
            break
        trace: list[Traced] = []
        reply = advance(definition, state, message, language=language, client=client,
                        trace=trace)
        turns.append(DryTurn(message, reply.text, trace, reply.is_done, reply.is_failed,
                             reply.handoff))
        state = reply.state
        if reply.is_done:
            break
    started = bool(messages) and triggered(definition, messages[0], language)
    return DryRun(started, turns)


def _failure(exc: Exception) -> str:
    if isinstance(exc, httpx.HTTPStatusError):
        return f"HTTP {exc.response.status_code}"
    if isinstance(exc, ValueError) and not isinstance(exc, httpx.HTTPError):
        return "not JSON"
    return type(exc).__name__


def _url(step: HttpStep, values: dict[str, Any]) -> str:
    return _PLACEHOLDER.sub(lambda m: quote(str(_lookup(values, m.group(1))), safe=""),
                            step.url)


def _call(step: HttpStep, url: str, values: dict[str, Any],
          client: httpx.Client | None) -> Any:
    own = client is None
    http = client or httpx.Client()
    try:
        plain = {k: v for k, v in values.items() if isinstance(v, str)}
        response = (http.get(url, timeout=step.timeout) if step.method == "GET"
                    else http.post(url, json=plain, timeout=step.timeout))
        response.raise_for_status()
        return response.json()
    finally:
        if own:
            http.close()


def _lookup(values: dict[str, Any], path: str) -> Any:
    current: Any = values
    for part in path.split("."):
        if not isinstance(current, dict) or part not in current:
            return ""
        current = current[part]
    return current if isinstance(current, str | int | float) else ""


def _text(texts: dict[Literal["ru", "en"], str], language: Literal["ru", "en"],
          values: dict[str, Any]) -> str:
    template = texts.get(language) or next(iter(texts.values()))
    return _PLACEHOLDER.sub(lambda m: str(_lookup(values, m.group(1))), template)
