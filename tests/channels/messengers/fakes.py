"""A local HTTP server speaking the parts of the Telegram Bot API, the VK API and the WhatsApp
Cloud (Graph) API that Zabota uses, as their documentation describes them, recording every
call. It is the only stand-in in these tests: the adapters run their production code against
it over real HTTP.

- Telegram (https://core.telegram.org/bots/api): `{base}/telegram/bot<token>/<method>` with
  parameters as query, form, JSON or multipart; answers `{"ok": true, "result": …}` or
  `{"ok": false, "error_code", "description", "parameters"?}` with the same HTTP status; files
  at `{base}/telegram/file/bot<token>/<file_path>`.
- VK (https://dev.vk.com/ru/api/api-requests): `{base}/vk/method/<method>` with form
  parameters, always HTTP 200 with `{"response": …}` or `{"error": {"error_code",
  "error_msg", "request_params"}}`; upload servers at `{base}/vk/upload/<kind>`.
- Graph API (https://developers.facebook.com/docs/whatsapp/cloud-api): `{base}/graph/v21.0/…`
  with `Authorization: Bearer`; errors `{"error": {"message", "type", "code", …}}` with a 4xx.
"""

from __future__ import annotations

import hashlib
import json
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

TELEGRAM_TOKEN = "123456:TEST-token_for-zabota"
VK_TOKEN = "vk1.a.test-community-token"
VK_GROUP_ID = 654327632
WA_TOKEN = "EAAG-test-access-token"
WA_PHONE_NUMBER_ID = "1122334455667"


@dataclass
class Call:
    platform: str
    method: str
    params: dict[str, Any]
    files: dict[str, tuple[str, bytes, str]] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)


class FakePlatforms:
    def __init__(self) -> None:
        self.base_url = ""
        self.reset()
        self.app = Starlette(routes=[
            Route("/telegram/bot{token}/{method}", self.telegram, methods=["GET", "POST"]),
            Route("/telegram/file/bot{token}/{path:path}", self.telegram_file),
            Route("/vk/method/{method}", self.vk, methods=["POST"]),
            Route("/vk/upload/{kind}", self.vk_upload, methods=["POST"]),
            Route("/vk/files/{name}", self.vk_file),
            Route("/graph/v21.0/{path:path}", self.graph, methods=["GET", "POST"]),
            Route("/graph/media-download/{media_id}", self.graph_download),
        ])

    def reset(self) -> None:
        self.calls: list[Call] = []
        # (platform, method) -> answers (status, body) to give instead of the normal one.
        self.scripted: dict[tuple[str, str], list[tuple[int, Any]]] = {}
        self.telegram_files: dict[str, bytes] = {}
        self.telegram_updates: list[dict[str, Any]] = []
        self.blocked_chats: set[str] = set()
        self.vk_files: dict[str, bytes] = {}
        self.vk_file_status: dict[str, int] = {}  # a file server failing with this status
        self.vk_sent: dict[str, int] = {}  # random_id -> message id, VK's idempotency
        self.graph_media: dict[str, tuple[bytes, str]] = {}
        self._ids = iter(range(1000, 10**9))

    # --- helpers for tests -----------------------------------------------------------------

    @property
    def telegram_base(self) -> str:
        return f"{self.base_url}/telegram"

    @property
    def vk_base(self) -> str:
        return f"{self.base_url}/vk/method"

    @property
    def graph_base(self) -> str:
        return f"{self.base_url}/graph/v21.0"

    def script(self, platform: str, method: str, status: int, body: Any) -> None:
        self.scripted.setdefault((platform, method), []).append((status, body))

    def calls_to(self, platform: str, method: str) -> list[Call]:
        return [c for c in self.calls if c.platform == platform and c.method == method]

    def _scripted(self, platform: str, method: str) -> tuple[int, Any] | None:
        queue = self.scripted.get((platform, method))
        return queue.pop(0) if queue else None

    async def _params(self, request: Request) -> tuple[dict[str, Any], dict[str, tuple]]:
        params: dict[str, Any] = dict(request.query_params)
        files: dict[str, tuple[str, bytes, str]] = {}
        kind = request.headers.get("content-type", "")
        if kind.startswith("application/json"):
            params.update(json.loads(await request.body() or b"{}"))
        elif kind.startswith(("multipart/form-data", "application/x-www-form-urlencoded")):
            async with request.form() as form:  # closes the spooled upload files
                for key, value in form.multi_items():
                    if isinstance(value, UploadFile):
                        files[key] = (value.filename or "", await value.read(),
                                      value.content_type or "")
                    else:
                        params[key] = value
        return params, files

    # --- Telegram --------------------------------------------------------------------------

    async def telegram(self, request: Request) -> Response:
        method = request.path_params["method"]
        params, files = await self._params(request)
        self.calls.append(Call("telegram", method, params, files, dict(request.headers)))
        if request.path_params["token"] != TELEGRAM_TOKEN:
            return _tg_error(401, "Unauthorized")
        scripted = self._scripted("telegram", method)
        if scripted is not None:
            return JSONResponse(scripted[1], scripted[0])
        handler = getattr(self, "tg_" + method, None)
        if handler is None:
            return _tg_error(404, "Not Found")
        return handler(params, files)

    def tg_getMe(self, params: dict, files: dict) -> Response:
        return _tg_ok({"id": 123456, "is_bot": True, "first_name": "Забота",
                       "username": "zabota_test_bot", "can_join_groups": False})

    def _tg_message(self, params: dict, extra: dict) -> Response:
        chat_id = str(params.get("chat_id", ""))
        if not chat_id:
            return _tg_error(400, "Bad Request: chat_id is empty")
        if chat_id in self.blocked_chats:
            return _tg_error(403, "Forbidden: bot was blocked by the user")
        return _tg_ok({"message_id": next(self._ids), "date": int(time.time()),
                       "chat": {"id": int(chat_id), "type": "private"}, **extra})

    def tg_sendMessage(self, params: dict, files: dict) -> Response:
        text = str(params.get("text", ""))
        if not text.strip():
            return _tg_error(400, "Bad Request: message text is empty")
        if len(text) > 4096:
            return _tg_error(400, "Bad Request: message is too long")
        return self._tg_message(params, {"text": text})

    def tg_sendDocument(self, params: dict, files: dict) -> Response:
        if "document" not in files:
            return _tg_error(400, "Bad Request: there is no document in the request")
        name, _data, mime = files["document"]
        return self._tg_message(params, {"document": {"file_id": f"doc-{name}",
                                                      "file_name": name, "mime_type": mime}})

    def tg_sendPhoto(self, params: dict, files: dict) -> Response:
        if "photo" not in files:
            return _tg_error(400, "Bad Request: there is no photo in the request")
        return self._tg_message(params, {"photo": [{"file_id": "photo-sent", "width": 1,
                                                    "height": 1}]})

    def tg_getFile(self, params: dict, files: dict) -> Response:
        file_id = str(params.get("file_id", ""))
        if file_id not in self.telegram_files:
            return _tg_error(400, "Bad Request: invalid file_id")
        return _tg_ok({"file_id": file_id, "file_unique_id": file_id[-8:],
                       "file_size": len(self.telegram_files[file_id]),
                       "file_path": f"documents/{file_id}"})

    async def telegram_file(self, request: Request) -> Response:
        self.calls.append(Call("telegram", "file", {"path": request.path_params["path"]}))
        if request.path_params["token"] != TELEGRAM_TOKEN:
            return Response(status_code=401)
        file_id = request.path_params["path"].rpartition("/")[2]
        if file_id not in self.telegram_files:
            return Response(status_code=404)
        return Response(self.telegram_files[file_id], media_type="application/octet-stream")

    def tg_getUpdates(self, params: dict, files: dict) -> Response:
        offset = int(params.get("offset") or 0)
        # An offset confirms every update before it: Telegram forgets them.
        self.telegram_updates = [u for u in self.telegram_updates if u["update_id"] >= offset]
        return _tg_ok(self.telegram_updates[:100])

    def tg_setWebhook(self, params: dict, files: dict) -> Response:
        return _tg_ok(True) if params.get("url") else _tg_error(400, "Bad Request: bad webhook")

    def tg_deleteWebhook(self, params: dict, files: dict) -> Response:
        return _tg_ok(True)

    def tg_answerCallbackQuery(self, params: dict, files: dict) -> Response:
        return _tg_ok(True)

    # --- VK --------------------------------------------------------------------------------

    async def vk(self, request: Request) -> Response:
        method = request.path_params["method"]
        params, _files = await self._params(request)
        self.calls.append(Call("vk", method, params))
        request_params = [{"key": k, "value": v} for k, v in params.items()
                          if k != "access_token"]
        if params.get("access_token") != VK_TOKEN:
            return _vk_error(5, "User authorization failed: invalid access_token (4).",
                             request_params)
        if not params.get("v"):
            return _vk_error(8, "Invalid request: v is required", request_params)
        scripted = self._scripted("vk", method)
        if scripted is not None:
            return JSONResponse(scripted[1], scripted[0])
        if method == "messages.send":
            if not params.get("peer_id") or "random_id" not in params:
                return _vk_error(100, "One of the parameters specified was missing or invalid",
                                 request_params)
            if not params.get("message") and not params.get("attachment"):
                return _vk_error(100, "message is empty", request_params)
            key = f"{params['peer_id']}:{params['random_id']}"
            message_id = self.vk_sent.setdefault(key, next(self._ids))
            return JSONResponse({"response": message_id})
        if method == "groups.getById":
            return JSONResponse({"response": {"groups": [
                {"id": int(params.get("group_id") or VK_GROUP_ID), "name": "Забота — тест",
                 "screen_name": "zabota_test", "type": "group"}], "profiles": []}})
        if method == "users.get":
            return JSONResponse({"response": [
                {"id": int(params["user_ids"]), "first_name": "Иван", "last_name": "Петров",
                 "can_access_closed": True, "is_closed": False}]})
        if method in ("photos.getMessagesUploadServer", "docs.getMessagesUploadServer"):
            kind = "photo" if method.startswith("photos") else "doc"
            return JSONResponse({"response": {"upload_url": f"{self.base_url}/vk/upload/{kind}",
                                              "album_id": -3, "group_id": VK_GROUP_ID}})
        if method == "photos.saveMessagesPhoto":
            return JSONResponse({"response": [{"id": next(self._ids), "owner_id": -VK_GROUP_ID,
                                               "access_key": "k3y"}]})
        if method == "docs.save":
            return JSONResponse({"response": {"type": "doc", "doc": {
                "id": next(self._ids), "owner_id": -VK_GROUP_ID, "title": params.get("title")}}})
        return _vk_error(3, "Unknown method passed", request_params)

    async def vk_upload(self, request: Request) -> Response:
        _params, files = await self._params(request)
        kind = request.path_params["kind"]
        self.calls.append(Call("vk", f"upload:{kind}", {}, files))
        if kind == "photo" and "photo" in files:
            return JSONResponse({"server": 1, "photo": "[{\"photo\":\"abc\"}]", "hash": "h4sh"})
        if kind == "doc" and "file" in files:
            return JSONResponse({"file": "uploaded-doc-token"})
        return JSONResponse({"error": "no file"})

    async def vk_file(self, request: Request) -> Response:
        name = request.path_params["name"]
        self.calls.append(Call("vk", "file", {"name": name}))
        if name in self.vk_file_status:
            return Response(status_code=self.vk_file_status[name])
        if name not in self.vk_files:
            return Response(status_code=404)
        return Response(self.vk_files[name], media_type="image/jpeg")

    # --- Graph API (WhatsApp Cloud) --------------------------------------------------------

    async def graph(self, request: Request) -> Response:
        path = request.path_params["path"]
        params, files = await self._params(request)
        method = f"{request.method} {path}"
        self.calls.append(Call("graph", method, params, files, dict(request.headers)))
        if request.headers.get("authorization") != f"Bearer {WA_TOKEN}":
            return _graph_error(401, 190, "Invalid OAuth access token.")
        scripted = self._scripted("graph", method)
        if scripted is not None:
            return JSONResponse(scripted[1], scripted[0])
        if request.method == "POST" and path == f"{WA_PHONE_NUMBER_ID}/messages":
            if params.get("messaging_product") != "whatsapp" or not params.get("to"):
                return _graph_error(400, 100, "(#100) Invalid parameter")
            kind = params.get("type")
            if kind not in params:
                return _graph_error(400, 100, f"(#100) Param {kind} is required")
            return JSONResponse({"messaging_product": "whatsapp",
                                 "contacts": [{"input": params["to"], "wa_id": params["to"]}],
                                 "messages": [{"id": f"wamid.{next(self._ids)}"}]})
        if request.method == "POST" and path == f"{WA_PHONE_NUMBER_ID}/media":
            if "file" not in files or params.get("messaging_product") != "whatsapp":
                return _graph_error(400, 100, "(#100) file is required")
            media_id = str(next(self._ids))
            _name, data, mime = files["file"]
            self.graph_media[media_id] = (data, mime)
            return JSONResponse({"id": media_id})
        if request.method == "GET" and path == WA_PHONE_NUMBER_ID:
            return JSONResponse({"display_phone_number": "+7 999 000-00-00",
                                 "verified_name": "Забота", "id": WA_PHONE_NUMBER_ID,
                                 "quality_rating": "GREEN"})
        if request.method == "GET" and path in self.graph_media:
            data, mime = self.graph_media[path]
            return JSONResponse({"messaging_product": "whatsapp",
                                 "url": f"{self.base_url}/graph/media-download/{path}",
                                 "mime_type": mime,
                                 "sha256": hashlib.sha256(data).hexdigest(),
                                 "file_size": len(data), "id": path})
        return _graph_error(400, 100, "(#100) Unsupported request")

    async def graph_download(self, request: Request) -> Response:
        media_id = request.path_params["media_id"]
        self.calls.append(Call("graph", "download", {"id": media_id}))
        if request.headers.get("authorization") != f"Bearer {WA_TOKEN}":
            return Response(status_code=401)
        if media_id not in self.graph_media:
            return Response(status_code=404)
        data, mime = self.graph_media[media_id]
        return Response(data, media_type=mime)


def _tg_ok(result: Any) -> Response:
    return JSONResponse({"ok": True, "result": result})


def _tg_error(code: int, description: str, **parameters: Any) -> Response:
    body: dict[str, Any] = {"ok": False, "error_code": code, "description": description}
    if parameters:
        body["parameters"] = parameters
    return JSONResponse(body, code)


def _vk_error(code: int, message: str, request_params: list[dict[str, str]]) -> Response:
    return JSONResponse({"error": {"error_code": code, "error_msg": message,
                                   "request_params": request_params}})


def _graph_error(status: int, code: int, message: str) -> Response:
    return JSONResponse({"error": {"message": message, "type": "OAuthException",
                                   "code": code, "fbtrace_id": "Atest"}}, status)


class ServerThread:
    """uvicorn serving an ASGI app on a free local port, in a daemon thread."""

    def __init__(self, app: Any) -> None:
        self.socket = socket.socket()
        self.socket.bind(("127.0.0.1", 0))
        self.port = self.socket.getsockname()[1]
        config = uvicorn.Config(app, log_level="warning", lifespan="off", ws="none",
                                http="h11", access_log=False)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run,
                                       kwargs={"sockets": [self.socket]}, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the fake platform server did not start")
            time.sleep(0.01)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.socket.close()
