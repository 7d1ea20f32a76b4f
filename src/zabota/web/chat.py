"""Web chat over HTTP and WebSocket: the widget's visitors, the demo shop, the agents' chats page.

Visitor protocol (`/chat/ws`, JSON text frames). The widget opens with
`{"type": "hello", "token"?, "team", "lang", "after", "email"?, "name"?, "page"?}` and is
answered `welcome` (its signed visitor token, whether agents are online, the transcript or
the messages after `after`, limits). Then:

- `{"type": "message", "id": <client id>, "text", "files": [upload tokens]}` → `ack` with the
  stored message. The id makes a re-sent message a duplicate, so the widget re-sends until
  acknowledged;
- `{"type": "typing", "on": bool}`, `{"type": "email", "email"}` → `email_saved`,
  `{"type": "sync", "after": id}` → `history`, `{"type": "ping"}` → `pong`.

The server sends `message` (agent or bot replies), `typing`, `status` (an agent accepted or
finished the chat) and `error` frames: `{"type": "error", "code", "message" (in the visitor's
language), "id"? (the message it is about), "retry": bool, "retry_after"?, "fatal": bool}`.
A bad frame gets an error and the connection stays; only an unknown widget or a forbidden
site closes it.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import gc
import time
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Annotated, Any, TypeVar
from urllib.parse import urlsplit

import orjson
import sqlalchemy as sa
import structlog
from fastapi import (
    APIRouter,
    FastAPI,
    File,
    Form,
    Query,
    Request,
    UploadFile,
    WebSocket,
)
from fastapi import Path as PathParam
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from pydantic import BaseModel, ConfigDict, EmailStr, Field, TypeAdapter, ValidationError
from sqlalchemy.orm import Session
from starlette.websockets import WebSocketDisconnect

from zabota.channels.chat import errors as chat_errors
from zabota.channels.chat import live
from zabota.channels.chat import service as chat
from zabota.channels.chat.hub import OVERFLOW, ChatHub, Frame, Inbox, make_hub
from zabota.channels.models import ChannelAccount
from zabota.core.db import Database
from zabota.core.errors import RateLimited, ZabotaError
from zabota.core.i18n import _, pick_language, set_language
from zabota.core.presence import PresenceBoard
from zabota.core.ratelimit import MemoryRateLimiter, RedisRateLimiter
from zabota.core.settings import Settings
from zabota.identity import errors as identity_errors
from zabota.identity import service as identity
from zabota.identity.permissions import Actor
from zabota.tickets.models import Channel
from zabota.web import problems
from zabota.web.deps import PathId, SettingsDep
from zabota.web.ui.common import (
    SESSION_COOKIE,
    StaffActor,
    UISession,
    check_csrf,
    redirect,
    render,
    store_uploads,
    templates,
)

log = structlog.get_logger()
T = TypeVar("T")

HEARTBEAT_SECONDS = 10.0
TYPING_INTERVAL = 1.0
MAX_WATCHED = 30
CORS = {"Access-Control-Allow-Origin": "*", "Access-Control-Allow-Methods": "POST, OPTIONS",
        "Access-Control-Allow-Headers": "Content-Type"}
_email = TypeAdapter(EmailStr)


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings: Settings = app.state.settings
    hub = make_hub(settings.redis_url)
    app.state.chat_hub = hub
    # SQLite has one writer at a time, and a writer that finds the lock taken sleeps in
    # steps of up to 100 ms: the visitors' messages queue here instead, in order and
    # without those sleeps. PostgreSQL writes them side by side.
    sqlite = app.state.database.url.startswith("sqlite")
    app.state.chat_writer = ThreadPoolExecutor(max_workers=1 if sqlite else 8,
                                               thread_name_prefix="chat-writer")
    live.configure(hub, settings)
    _freeze_startup_objects()
    try:
        yield
    finally:
        if live.current()[0] is hub:
            live.configure(None)
        app.state.chat_writer.shutdown(wait=True)
        await hub.close()


router = APIRouter(lifespan=lifespan, include_in_schema=False)
_frozen = False


def _freeze_startup_objects() -> None:
    """Keep what the imports made (the ML stack is large) out of the garbage collector's full
    passes: with it, one pass stalled every live chat by 300 ms (benchmarks/chat.py).
    Objects made later are collected as usual; done once a process."""
    global _frozen
    if not _frozen:
        _frozen = True
        gc.collect()
        gc.freeze()


def _hub(app: Any) -> ChatHub:
    hub: ChatHub | None = getattr(app.state, "chat_hub", None)
    return hub if hub is not None else live.current()[0]


def _language(value: str | None, fallback: str) -> str:
    code = (value or "").strip().lower()[:2]
    return code if code in ("ru", "en") else fallback


async def _in_thread(fn: Callable[[], T]) -> T:
    return await asyncio.to_thread(fn)


async def _in_writer(app: Any, fn: Callable[[], T]) -> T:
    """Run a write of the chat on the app's chat writer threads (see `lifespan`)."""
    writer: ThreadPoolExecutor | None = getattr(app.state, "chat_writer", None)
    if writer is None:
        return await asyncio.to_thread(fn)
    context = contextvars.copy_context()  # the visitor's language travels with the work
    return await asyncio.get_running_loop().run_in_executor(writer, context.run, fn)


def _error(code: str, message: str, *, message_id: str | None = None, retry: bool = False,
           retry_after: int | None = None, fatal: bool = False,
           fields: list[dict[str, str]] | None = None) -> Frame:
    frame: Frame = {"type": "error", "code": code, "message": message, "retry": retry,
                    "fatal": fatal}
    if message_id is not None:
        frame["id"] = message_id
    if retry_after is not None:
        frame["retry_after"] = retry_after
    if fields:
        frame["errors"] = fields
    return frame


def _validation_frame(exc: ValidationError, message_id: str | None) -> Frame:
    fields = [{"field": ".".join(str(p) for p in e.get("loc", ())) or "frame",
               "message": problems.field_message(dict(e))} for e in exc.errors()]
    text = "; ".join(f"{f['field']}: {f['message']}" for f in fields)
    return _error("invalid_frame", _("The message is not valid: {problems}").format(
        problems=text), message_id=message_id, fields=fields)


# --- the visitor's WebSocket ----------------------------------------------------------------


class HelloIn(BaseModel):
    model_config = ConfigDict(extra="ignore")

    token: str | None = Field(default=None, max_length=200)
    team: str = Field(default="", max_length=100)
    lang: str = Field(default="", max_length=16)
    after: int = Field(default=0, ge=0, le=2**62)
    email: str | None = Field(default=None, max_length=254)
    name: str | None = Field(default=None, max_length=200)
    page: str | None = Field(default=None, max_length=2000)


class MessageIn(BaseModel):
    model_config = ConfigDict(extra="ignore")

    id: str = Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")
    text: str = ""
    files: list[str] = Field(default_factory=list, max_length=50)


class TypingIn(BaseModel):
    model_config = ConfigDict(extra="ignore")

    on: bool = True


class EmailIn(BaseModel):
    model_config = ConfigDict(extra="ignore")

    email: str = Field(max_length=254)


class SyncIn(BaseModel):
    model_config = ConfigDict(extra="ignore")

    after: int = Field(default=0, ge=0, le=2**62)


class VisitorConnection:
    """One widget connection: frames in, frames out through one writer, nothing lost."""

    def __init__(self, websocket: WebSocket) -> None:
        app = websocket.app
        self.ws = websocket
        self.settings: Settings = app.state.settings
        self.database: Database = app.state.database
        self.board: PresenceBoard = app.state.presence
        self.limiter: MemoryRateLimiter | RedisRateLimiter = app.state.rate_limiter
        self.hub = _hub(app)
        self.inbox = Inbox()
        self.topics: set[str] = set()
        self.language = _language(None, pick_language(
            websocket.headers.get("accept-language"), self.settings.default_language))
        self.visitor_id: str | None = None
        self.widget = chat.Widget()
        self.email: str | None = None
        self.name: str | None = None
        self.page: str | None = None
        self.ticket_id: int | None = None
        self.closing = False
        self.typing_at = 0.0

    async def run(self) -> None:
        set_language(self.language)
        writer = asyncio.create_task(self._write())
        try:
            await self._read()
        except WebSocketDisconnect:
            pass
        finally:
            writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await writer
            for topic in list(self.topics):
                await self.hub.unsubscribe(topic, self.inbox)
            await self._tell_presence()

    def send(self, frame: Frame) -> None:
        self.inbox.put(frame)

    async def _write(self) -> None:
        while True:
            frame = await self.inbox.queue.get()
            if frame is OVERFLOW:
                await self.ws.close(code=1013)  # "try again later": the widget reconnects
                return
            await self.ws.send_text(orjson.dumps(frame).decode())

    async def _read(self) -> None:
        handlers = {"hello": self.hello, "message": self.message, "typing": self.typing,
                    "email": self.leave_email, "sync": self.sync, "ping": self.ping}
        while not self.closing:
            received = await self.ws.receive()
            if received["type"] == "websocket.disconnect":
                return
            text = received.get("text")
            if text is None:
                self.send(_error("binary_frame", _("Send text frames with JSON")))
                continue
            if len(text) > self.settings.chat_max_frame_bytes or len(
                    text.encode()) > self.settings.chat_max_frame_bytes:
                self.send(_error("frame_too_large", _(
                    "The message is too large: at most {limit} KB").format(
                    limit=self.settings.chat_max_frame_bytes // 1024)))
                continue
            try:
                data = orjson.loads(text)
            except orjson.JSONDecodeError:
                self.send(_error("bad_json", _("The message is not valid JSON")))
                continue
            if not isinstance(data, dict) or not isinstance(data.get("type"), str):
                self.send(_error("bad_frame", _("Each message needs a “type”")))
                continue
            handler = handlers.get(data["type"])
            if handler is None:
                self.send(_error("unknown_type", _("Unknown message type “{type}”").format(
                    type=str(data["type"])[:40])))
                continue
            if self.visitor_id is None and data["type"] not in ("hello", "ping"):
                self.send(_error("hello_first", _("Say hello first"),
                                 message_id=_client_id(data), retry=True))
                continue
            await self._handle(handler, data)

    async def _handle(self, handler: Callable[[dict[str, Any]], Any],
                      data: dict[str, Any]) -> None:
        message_id = _client_id(data)
        try:
            await handler(data)
        except ValidationError as exc:
            self.send(_validation_frame(exc, message_id))
        except RateLimited as exc:
            self.send(_error(exc.code, _(exc.title), message_id=message_id, retry=True,
                             retry_after=exc.retry_after))
        except ZabotaError as exc:
            errors = exc.data.get("errors")
            self.send(_error(exc.code, exc.detail or _(exc.title), message_id=message_id,
                             fields=errors if isinstance(errors, list) else None))
        except Exception as exc:  # the database is away, a bug: tell the widget to try again
            log.exception("chat.frame_failed", frame=data.get("type"), error=type(exc).__name__)
            self.send(_error("server_error", _("Something went wrong on our side; we will "
                                               "try again"), message_id=message_id,
                             retry=True, retry_after=5))

    async def _subscribe(self, topic: str) -> None:
        if topic not in self.topics:
            self.topics.add(topic)
            await self.hub.subscribe(topic, self.inbox)

    async def hello(self, data: dict[str, Any]) -> None:
        if self.visitor_id is not None:
            self.send(_error("hello_again", _("This connection has already said hello")))
            return
        hello = HelloIn.model_validate(data)
        self.language = _language(hello.lang, self.language)
        set_language(self.language)
        try:
            self.widget = await _in_thread(lambda: self._read_db(
                lambda s: chat.resolve_widget(s, hello.team)))
        except chat_errors.UnknownWidget as exc:
            await self._refuse(exc, 4404)
            return
        if not self.widget.allows(self.ws.headers.get("origin")):
            await self._refuse(chat_errors.OriginNotAllowed(), 4403)
            return
        token = hello.token
        visitor_id = None
        if token:
            try:
                visitor_id = chat.visitor_from_token(token, self.settings)
            except chat_errors.UnknownVisitor as exc:
                self.send(_error(exc.code, _(exc.title)))
        if visitor_id is None:
            visitor_id, token = chat.new_visitor(self.settings)
        self.visitor_id = visitor_id
        self.name = (hello.name or "").strip() or None
        self.page = hello.page
        if hello.email:
            try:
                self.email = _valid_email(hello.email)
            except ValidationError:
                self.send(_error("invalid_email", _("Enter a valid e-mail address")))
        # Listen before reading the transcript: a reply committed in between is then heard
        # twice at worst (the widget drops the copy), never missed.
        await self._subscribe(f"visitor:{visitor_id}")
        state = await _in_thread(lambda: self._read_db(lambda s: chat.visitor_state(
            s, visitor_id, after=hello.after, settings=self.settings)))
        self.ticket_id = state.ticket_id
        self.email = self.email or state.email
        online = await _in_thread(lambda: chat.agents_online(self.board, self.widget))
        self.send({"type": "welcome", "token": token, "agents_online": online,
                   "ticket": state.ticket_id, "agent": state.agent_name, "email": self.email,
                   "messages": state.messages or [], "strings": widget_strings(),
                   "limits": {"max_file_bytes": self.settings.max_attachment_bytes,
                              "max_files": self.settings.chat_max_files,
                              "max_chars": self.settings.chat_max_message_chars,
                              "types": self.settings.allowed_attachment_types}})
        await self._tell_presence(online=True)

    async def _refuse(self, exc: ZabotaError, code: int) -> None:
        self.send(_error(exc.code, _(exc.title), fatal=True))
        self.closing = True
        # Let the writer send the error before the close frame.
        await asyncio.sleep(0)
        while not self.inbox.queue.empty():
            await asyncio.sleep(0.01)
        await self.ws.close(code=code)

    async def message(self, data: dict[str, Any]) -> None:
        incoming = MessageIn.model_validate(data)
        text = incoming.text.strip()
        limit = self.settings.chat_max_message_chars
        if len(text) > limit:
            self.send(_error("message_too_long", _(
                "The message is too long: at most {n} characters").format(n=limit),
                message_id=incoming.id))
            return
        if len(incoming.files) > self.settings.chat_max_files:
            self.send(_error("too_many_files", _("At most {n} files in one message").format(
                n=self.settings.chat_max_files), message_id=incoming.id))
            return
        if not text and not incoming.files:
            self.send(_error("empty_message", _("The message is empty"),
                             message_id=incoming.id))
            return
        visitor_id = self.visitor_id
        assert visitor_id is not None
        await _in_thread(lambda: self.limiter.hit(
            f"chat:{visitor_id}", limit=self.settings.chat_rate_limit_per_minute))
        request = chat.IncomingMessage(
            visitor_id=visitor_id, client_id=incoming.id, text=text, widget=self.widget,
            language=self.language, uploads=incoming.files, email=self.email, name=self.name,
            page=self.page)
        stored = await _in_writer(self.ws.app, lambda: self._write_db(
            lambda s: chat.store_visitor_message(s, request, settings=self.settings)))
        first_in_chat = self.ticket_id != stored.ticket_id
        self.ticket_id = stored.ticket_id
        self.send({"type": "ack", "id": incoming.id, "message": stored.visitor_frame})
        if stored.duplicate:
            return
        await self.hub.apublish(f"ticket:{stored.ticket_id}", {
            "type": "message", "ticket": stored.ticket_id, "message": stored.agent_frame})
        if stored.assignee_id is None and not stored.answered:
            for topic in chat.desk_topics_of(stored.team_id):
                await self.hub.apublish(topic, {"type": "desk", "event": "message",
                                                "ticket": stored.ticket_id,
                                                "message": stored.agent_frame})
        if first_in_chat:
            await self._tell_presence(online=True)

    async def typing(self, data: dict[str, Any]) -> None:
        typing = TypingIn.model_validate(data)
        now = time.monotonic()
        if self.ticket_id is None or (typing.on and now - self.typing_at < TYPING_INTERVAL):
            return
        self.typing_at = now if typing.on else 0.0
        await self.hub.apublish(f"ticket:{self.ticket_id}", {
            "type": "typing", "ticket": self.ticket_id, "on": typing.on})

    async def leave_email(self, data: dict[str, Any]) -> None:
        given = EmailIn.model_validate(data)
        try:
            email = _valid_email(given.email)
        except ValidationError:
            message = _("Enter a valid e-mail address")
            self.send(_error("invalid_email", message,
                             fields=[{"field": "email", "message": message}]))
            return
        visitor_id = self.visitor_id
        assert visitor_id is not None
        await _in_thread(lambda: self.limiter.hit(
            f"chat:{visitor_id}", limit=self.settings.chat_rate_limit_per_minute))
        await _in_writer(self.ws.app, lambda: self._write_db(
            lambda s: chat.leave_email(s, visitor_id, email)))
        self.email = email
        self.send({"type": "email_saved", "email": email})

    async def sync(self, data: dict[str, Any]) -> None:
        after = SyncIn.model_validate(data).after
        visitor_id = self.visitor_id
        assert visitor_id is not None
        state = await _in_thread(lambda: self._read_db(lambda s: chat.visitor_state(
            s, visitor_id, after=after, settings=self.settings)))
        self.send({"type": "history", "messages": state.messages or []})

    async def ping(self, _data: dict[str, Any]) -> None:
        online = await _in_thread(lambda: chat.agents_online(self.board, self.widget))
        self.send({"type": "pong", "agents_online": online})

    async def _tell_presence(self, *, online: bool = False) -> None:
        """Agents with the chat open see whether the visitor is still there (any tab)."""
        if self.ticket_id is None or self.visitor_id is None:
            return
        if not online:
            with contextlib.suppress(Exception):  # closing: Redis may be gone too
                online = await self.hub.has_listeners(f"visitor:{self.visitor_id}")
        with contextlib.suppress(Exception):
            await self.hub.apublish(f"ticket:{self.ticket_id}", {
                "type": "presence", "ticket": self.ticket_id, "online": online})

    def _read_db(self, work: Callable[[Session], T]) -> T:
        with self.database.read_sessions() as session:
            return work(session)

    def _write_db(self, work: Callable[[Session], T]) -> T:
        with self.database.session_scope() as session:
            return work(session)


def _valid_email(value: str) -> str:
    """Raises ValidationError for what is not an address; spelled as customers' are stored."""
    return identity.normalize_email(str(_email.validate_python(value.strip())))


def _client_id(data: object) -> str | None:
    if isinstance(data, dict) and data.get("type") == "message":
        value = data.get("id")
        if isinstance(value, str) and 0 < len(value) <= 64:
            return value
    return None


def widget_strings() -> dict[str, str]:
    """The widget's words in the visitor's language (the widget carries only those it needs
    before the server answers)."""
    return {
        "title": _("Chat with us"),
        "online": _("We are online and will answer in a minute"),
        "offline": _("Nobody is online right now. Leave your e-mail and we will answer there."),
        "placeholder": _("Write a message…"),
        "send": _("Send"),
        "attach": _("Attach a file"),
        "email_prompt": _("Leave your e-mail so we can answer if we are offline"),
        "email_placeholder": _("you@example.com"),
        "email_save": _("Save"),
        "email_saved": _("We will answer at {email} if you leave"),
        "typing": _("{name} is typing…"),
        "agent": _("Support"),
        "joined": _("{name} joined the chat"),
        "finished": _("The chat is finished. Write again if you need anything."),
        "sending": _("Sending…"),
        "failed": _("Not sent"),
        "file_too_large": _("The file is larger than {limit} MB"),
        "you": _("You"),
        "close": _("Close the chat"),
    }


@router.websocket("/chat/ws")
async def visitor_socket(websocket: WebSocket) -> None:
    await websocket.accept()
    await VisitorConnection(websocket).run()


# --- uploads and files of the widget --------------------------------------------------------


@router.options("/chat/upload")
def upload_preflight() -> Response:
    return Response(status_code=204, headers=CORS)


@router.post("/chat/upload")
async def upload(request: Request) -> Response:
    """A file for the visitor's next message (multipart: token, file, lang); any site may
    embed the widget, so the answer carries CORS headers, errors included."""
    settings: Settings = request.app.state.settings
    content_type = request.headers.get("content-type", "")
    form = None
    if content_type.startswith("multipart/form-data"):
        with contextlib.suppress(Exception):  # malformed multipart: python-multipart's errors
            form = await request.form(max_files=1, max_fields=4)
    if form is None:
        return _upload_problem(request, ZabotaError(_("Send the file as multipart form data")))
    lang = form.get("lang")
    request.state.language = _language(lang if isinstance(lang, str) else None,
                                       getattr(request.state, "language", "ru"))
    set_language(request.state.language)
    try:
        token, file = form.get("token"), form.get("file")
        try:
            visitor_id = chat.visitor_from_token(token if isinstance(token, str) else "",
                                                 settings)
        except chat_errors.UnknownVisitor:
            raise chat_errors.UnknownVisitor(_(
                "We do not recognise this chat visitor; reload the page")) from None
        if file is None or isinstance(file, str):
            message = _("Choose a file")
            raise ZabotaError(message, errors=[{"field": "file", "message": message}])
        limiter = request.app.state.rate_limiter
        await _in_thread(lambda: limiter.hit(f"chat-upload:{visitor_id}",
                                             limit=settings.chat_rate_limit_per_minute))
        data = await file.read(settings.max_attachment_bytes + 1)
        filename = file.filename or "file"
        upload_token = await _in_thread(lambda: chat.spool_upload(
            settings, visitor_id, filename, file.content_type, data))
    except ZabotaError as exc:
        return _upload_problem(request, exc)
    finally:
        await form.close()
    return JSONResponse({"upload": upload_token, "name": filename, "size": len(data)},
                        status_code=201, headers=CORS)


def _upload_problem(request: Request, exc: ZabotaError) -> Response:
    headers = dict(CORS)
    if isinstance(exc, RateLimited):
        headers["Retry-After"] = str(exc.retry_after)
    return problems.problem(request, status=exc.status, code=exc.code, title=_(exc.title),
                            detail=exc.detail or _(exc.title), headers=headers, **exc.data)


@router.get("/chat/files/{token}")
def visitor_file(token: str, request: Request, session: UISession) -> FileResponse:
    settings: Settings = request.app.state.settings
    row, path = chat.attachment_for_visitor(session, token, settings)
    return FileResponse(path, media_type=row.content_type, filename=row.filename,
                        content_disposition_type="attachment",
                        headers={"X-Content-Type-Options": "nosniff", **CORS})


@router.get("/chat/demo")
def demo_page(request: Request, session: UISession,
              team: Annotated[str, Query(max_length=100)] = "") -> HTMLResponse:
    """A fictional shop with the widget on it, to try the chat on `make run`."""
    key = team
    if not key:
        key = session.scalar(sa.select(ChannelAccount.address).where(
            ChannelAccount.kind == Channel.CHAT, ChannelAccount.enabled.is_(True),
            ChannelAccount.address.is_not(None)).order_by(ChannelAccount.id).limit(1)) or ""
    lang = getattr(request.state, "language", "ru")
    return templates.TemplateResponse(request, "chat/demo.html", {
        "team": key, "lang": lang, "base": str(request.base_url).rstrip("/")})


# The demo shop's order statuses, in Russian and English; a number picks one.
DEMO_ORDER_STATUSES = (
    ("принят, собираем", "accepted, being packed"),
    ("передан в службу доставки, трек-номер отправлен в SMS",
     "handed to the courier service, the tracking number is in your SMS"),
    ("ждёт вас в пункте выдачи", "waiting for you at the pick-up point"),
    ("доставлен", "delivered"),
)


@router.get("/chat/demo/orders/{number}")
def demo_order(number: Annotated[str, PathParam(pattern=r"^\d{4,10}$")]) -> JSONResponse:
    """The fictional shop's order-status endpoint, which the demo's guided flow asks (see
    `bot.demo`); a real installation points its flow at the shop's own API."""
    ru, en = DEMO_ORDER_STATUSES[int(number) % len(DEMO_ORDER_STATUSES)]
    return JSONResponse({"number": number, "status": ru, "status_en": en})


# --- the agents' chats page -----------------------------------------------------------------


def _wants_json(request: Request) -> bool:
    return request.headers.get("x-requested-with", "").lower() == "fetch"


def _panel_context(session: Session, actor: Actor, ticket_id: int,
                   settings: Settings) -> dict[str, Any]:
    panel = chat.chat_panel(session, ticket_id, actor=actor, settings=settings)
    return {"panel": panel, "messages": [_when(m) for m in panel.messages]}


def _when(frame: Frame) -> dict[str, Any]:
    return {**frame, "when": datetime.fromisoformat(frame["at"])}


@router.get("/agent/chats")
def chats_page(request: Request, session: UISession, actor: StaffActor,
               settings: SettingsDep) -> Response:
    mine = chat.my_chats(session, actor=actor)
    panels = [_panel_context(session, actor, ticket.id, settings) for ticket in mine]
    return render(request, "agent/chats.html", {
        "waiting": chat.waiting_chats(session, actor=actor), "panels": panels,
        "mine": [ticket.id for ticket in mine]})


@router.get("/agent/chats/waiting")
def waiting_list(request: Request, session: UISession, actor: StaffActor) -> Response:
    """The waiting list, and which chats are the agent's (given to them elsewhere too)."""
    return render(request, "agent/_chat_waiting.html", {
        "waiting": chat.waiting_chats(session, actor=actor),
        "mine": [ticket.id for ticket in chat.my_chats(session, actor=actor)]})


@router.get("/agent/chats/{ticket_id}/panel")
def chat_panel(ticket_id: PathId, request: Request, session: UISession, actor: StaffActor,
               settings: SettingsDep) -> Response:
    return render(request, "agent/_chat_panel.html",
                  _panel_context(session, actor, ticket_id, settings))


@router.post("/agent/chats/{ticket_id}/accept")
def accept(ticket_id: PathId, request: Request, session: UISession, actor: StaffActor,
           settings: SettingsDep, csrf_token: Annotated[str, Form()] = "") -> Response:
    check_csrf(request, csrf_token)
    accepted = chat.accept_chat(session, ticket_id, actor=actor)
    visitor = chat.visitor_of_ticket(session, ticket_id)
    session.commit()
    hub = _hub(request.app)
    if not accepted.already_mine:
        if visitor:
            live.publish_to_visitor(hub, visitor, {"type": "status", "agent": actor.name})
        for topic in chat.desk_topics_of(accepted.team_id):
            hub.publish(topic, {"type": "desk", "event": "accepted", "ticket": ticket_id})
    if not _wants_json(request):
        return redirect("/agent/chats")
    panel = templates.get_template("agent/_chat_panel.html").render(
        {**_panel_context(session, actor, ticket_id, settings), "csrf": request.state.csrf,
         "tz": actor.timezone or settings.timezone, "request": request})
    return JSONResponse({"ticket": ticket_id, "waited_seconds": accepted.waited_seconds,
                         "panel": panel})


@router.post("/agent/chats/{ticket_id}/messages")
def reply(ticket_id: PathId, request: Request, session: UISession, actor: StaffActor,
          settings: SettingsDep,
          text: Annotated[str, Form(max_length=100_000)] = "",
          files: Annotated[list[UploadFile] | None, File()] = None,
          csrf_token: Annotated[str, Form()] = "") -> Response:
    check_csrf(request, csrf_token)
    attachment_ids = store_uploads(session, actor, files, settings)
    message = chat.send_reply(session, ticket_id, actor=actor, text=text,
                              attachment_ids=attachment_ids)
    frame = chat.message_frames(session, [message], visitor_id=None, settings=settings)[0]
    session.commit()
    if not _wants_json(request):
        return redirect("/agent/chats")
    return JSONResponse({"message": frame}, status_code=201)


@router.post("/agent/chats/{ticket_id}/finish")
def finish(ticket_id: PathId, request: Request, session: UISession, actor: StaffActor,
           csrf_token: Annotated[str, Form()] = "") -> Response:
    check_csrf(request, csrf_token)
    chat.finish_chat(session, ticket_id, actor=actor)
    visitor = chat.visitor_of_ticket(session, ticket_id)
    session.commit()
    if visitor:
        live.publish_to_visitor(_hub(request.app), visitor, {"type": "status",
                                                             "finished": True})
    if not _wants_json(request):
        return redirect("/agent/chats")
    return JSONResponse({"ticket": ticket_id})


class WatchIn(BaseModel):
    model_config = ConfigDict(extra="ignore")

    tickets: list[int] = Field(max_length=MAX_WATCHED)


class AgentTypingIn(BaseModel):
    model_config = ConfigDict(extra="ignore")

    ticket: int
    on: bool = True


class AgentConnection:
    """The chats page's live channel: waiting-list changes, the visitors' messages, typing
    and presence in the chats the agent has open; the agent's typing goes back."""

    def __init__(self, websocket: WebSocket, actor: Actor) -> None:
        app = websocket.app
        self.ws = websocket
        self.actor = actor
        self.database: Database = app.state.database
        self.board: PresenceBoard = app.state.presence
        self.hub = _hub(app)
        self.inbox = Inbox()
        self.topics: set[str] = set()
        self.visitors: dict[int, str | None] = {}
        self.typing_at: dict[int, float] = {}

    async def run(self) -> None:
        set_language(self.actor.language)
        for topic in chat.desk_topics(self.actor):
            await self._subscribe(topic)
        await _in_thread(lambda: chat.beat_desk(self.board, self.actor))
        self.inbox.put({"type": "ready", "agent": self.actor.name})
        tasks = [asyncio.create_task(self._write()), asyncio.create_task(self._beat())]
        try:
            await self._read()
        except WebSocketDisconnect:
            pass
        finally:
            for task in tasks:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            for topic in list(self.topics):
                await self.hub.unsubscribe(topic, self.inbox)

    async def _subscribe(self, topic: str) -> None:
        if topic not in self.topics:
            self.topics.add(topic)
            await self.hub.subscribe(topic, self.inbox)

    async def _write(self) -> None:
        while True:
            frame = await self.inbox.queue.get()
            if frame is OVERFLOW:
                await self.ws.close(code=1013)
                return
            await self.ws.send_text(orjson.dumps(frame).decode())

    async def _beat(self) -> None:
        while True:
            await asyncio.sleep(HEARTBEAT_SECONDS)
            await _in_thread(lambda: chat.beat_desk(self.board, self.actor))

    async def _read(self) -> None:
        while True:
            received = await self.ws.receive()
            if received["type"] == "websocket.disconnect":
                return
            text = received.get("text")
            if text is None or len(text) > 16_384:
                self.inbox.put(_error("bad_frame", _("Send JSON text frames")))
                continue
            try:
                data = orjson.loads(text)
                kind = data.get("type") if isinstance(data, dict) else None
                if kind == "watch":
                    await self._watch(WatchIn.model_validate(data).tickets)
                elif kind == "unwatch":
                    await self._unwatch(WatchIn.model_validate(data).tickets)
                elif kind == "typing":
                    await self._typing(AgentTypingIn.model_validate(data))
                elif kind == "ping":
                    self.inbox.put({"type": "pong"})
                else:
                    self.inbox.put(_error("unknown_type", _("Unknown message type")))
            except orjson.JSONDecodeError:
                self.inbox.put(_error("bad_json", _("The message is not valid JSON")))
            except ValidationError as exc:
                self.inbox.put(_validation_frame(exc, None))

    async def _watch(self, ticket_ids: list[int]) -> None:
        def visible() -> dict[int, str | None]:
            found: dict[int, str | None] = {}
            with self.database.read_sessions() as session:
                for ticket_id in ticket_ids:
                    with contextlib.suppress(ZabotaError):  # not theirs, or not a chat
                        found[ticket_id] = chat.chat_visitor(session, ticket_id,
                                                             actor=self.actor)
            return found

        found = await _in_thread(visible)
        if len(self.visitors) + len(found) > MAX_WATCHED:
            self.inbox.put(_error("too_many_chats", _("At most {n} chats at once").format(
                n=MAX_WATCHED)))
            return
        online = {}
        for ticket_id, visitor in found.items():
            self.visitors[ticket_id] = visitor
            await self._subscribe(f"ticket:{ticket_id}")
            online[str(ticket_id)] = bool(visitor) and await self.hub.has_listeners(
                f"visitor:{visitor}")
        self.inbox.put({"type": "watching", "online": online})

    async def _unwatch(self, ticket_ids: list[int]) -> None:
        for ticket_id in ticket_ids:
            self.visitors.pop(ticket_id, None)
            topic = f"ticket:{ticket_id}"
            if topic in self.topics:
                self.topics.discard(topic)
                await self.hub.unsubscribe(topic, self.inbox)

    async def _typing(self, typing: AgentTypingIn) -> None:
        visitor = self.visitors.get(typing.ticket)
        now = time.monotonic()
        if not visitor or (typing.on and now - self.typing_at.get(typing.ticket, 0.0)
                           < TYPING_INTERVAL):
            return
        self.typing_at[typing.ticket] = now if typing.on else 0.0
        await self.hub.apublish(f"visitor:{visitor}", {"type": "typing", "on": typing.on,
                                                       "name": self.actor.name})


@router.websocket("/agent/chats/live")
async def agent_socket(websocket: WebSocket) -> None:
    origin = websocket.headers.get("origin")
    if origin and urlsplit(origin).netloc != websocket.headers.get("host", ""):
        await websocket.close(code=4403)  # another site riding on the agent's cookie
        return
    token = websocket.cookies.get(SESSION_COOKIE, "")
    database: Database = websocket.app.state.database

    def load() -> Actor | None:
        with database.read_sessions() as session:
            try:
                return identity.actor_for_token(session, token)
            except identity_errors.InvalidToken:
                return None

    actor = await _in_thread(load) if token else None
    if actor is None or not actor.is_staff:
        await websocket.close(code=4401)
        return
    await websocket.accept()
    await AgentConnection(websocket, actor).run()
