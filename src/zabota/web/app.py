"""The FastAPI application factory."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from zabota import __version__
from zabota.bot.service import enable_in_chat, enable_in_messengers
from zabota.channels import load_adapters
from zabota.core.db import Database, get_database
from zabota.core.i18n import pick_language, set_language
from zabota.core.presence import make_presence
from zabota.core.ratelimit import make_rate_limiter
from zabota.core.settings import Settings, get_settings
from zabota.identity import actor_cache
from zabota.web import chat, ops, problems, ui
from zabota.web.api import v1 as api_v1
from zabota.web.batching import WriteBatcher


class LanguageAndMetrics:
    """Pick the language from Accept-Language (the user's own setting wins when absent) and
    count requests for /metrics. Plain ASGI: it runs on every request, so it stays cheap."""

    def __init__(self, app: ASGIApp, default_language: str, max_body_bytes: int) -> None:
        self.app = app
        self.default_language = default_language
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        header = headers.get(b"accept-language", b"").decode("latin-1") or None
        chosen = pick_language(header, self.default_language)
        # A language picked in the UI (cookie) wins over the browser's list.
        cookie = _cookie(headers.get(b"cookie", b"").decode("latin-1"), "zabota_lang")
        if cookie in ("ru", "en"):
            chosen = cookie
        state = scope.setdefault("state", {})
        state["language"] = chosen
        state["explicit_language"] = header is not None or cookie is not None
        set_language(chosen)
        declared = headers.get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.max_body_bytes:
            # Refused before a byte is read: a form with files is parsed (and spooled to
            # disk) before any endpoint could look at its size.
            await _too_large(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                # Server-side time to the first byte, for benchmarks and browser dev tools.
                elapsed = (time.perf_counter() - started) * 1000
                message["headers"] = [*message.get("headers", []),
                                      (b"server-timing", f"app;dur={elapsed:.2f}".encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route = scope.get("route")
            path = getattr(route, "path", "unmatched")
            ops.observe(scope["method"], path, status, time.perf_counter() - started)


async def _too_large(scope: Scope, receive: Receive, send: Send) -> None:
    request = Request(scope, receive)
    response = problems.http_error(request, StarletteHTTPException(413))
    await response(scope, receive, send)


def _cookie(header: str, name: str) -> str | None:
    for part in header.split(";"):
        key, _sep, value = part.strip().partition("=")
        if key == name:
            return value
    return None


def create_app(settings: Settings | None = None, database: Database | None = None) -> FastAPI:
    settings = settings or get_settings()
    database = database or get_database()

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        from zabota.jobs import dispatch

        dispatch.install_wakeup()
        yield

    app = FastAPI(
        title="Zabota API", version=__version__, lifespan=lifespan,
        description="REST API of Zabota, the omnichannel customer-care platform. "
                    "Authenticate with `POST /api/v1/auth/token` and send "
                    "`Authorization: Bearer <token>`. Errors are RFC 9457 problem+json.",
    )
    load_adapters()  # channel senders, connection tests and re-ingestion hooks
    enable_in_chat()  # the answer bot speaks first in the web chat
    enable_in_messengers()  # and in Telegram
    app.state.settings = settings
    app.state.database = database
    app.state.write_batcher = WriteBatcher(database)
    app.state.rate_limiter = make_rate_limiter(settings.redis_url)
    app.state.actor_cache = actor_cache.register(
        actor_cache.ActorCache(settings.token_cache_seconds))
    app.state.presence = make_presence(settings.redis_url)
    settings.resolved_secret_key()
    problems.install(app)
    app.include_router(ops.router)
    for router in api_v1.ROUTERS:
        app.include_router(router, prefix="/api/v1")
    for router in ui.ROUTERS:
        app.include_router(router, include_in_schema=False)
    app.include_router(chat.router)
    app.mount("/static", StaticFiles(directory=ui.STATIC_DIR), name="static")
    # Several files of a reply at the size limit each, and the form around them.
    max_body = 4 * settings.max_attachment_bytes + 1024 * 1024
    app.add_middleware(LanguageAndMetrics, default_language=settings.default_language,
                       max_body_bytes=max_body)
    return app
