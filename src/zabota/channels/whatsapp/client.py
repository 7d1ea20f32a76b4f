"""The WhatsApp Cloud API calls we use (Graph API), over httpx
(https://developers.facebook.com/docs/whatsapp/cloud-api)."""

from __future__ import annotations

from typing import Any

import httpx

from zabota.channels import hooks
from zabota.channels.models import ChannelAccount

DEFAULT_BASE_URL = "https://graph.facebook.com/v21.0"


class GraphError(Exception):
    """A Graph API error object: HTTP status, `code`, and the message Meta gives."""

    def __init__(self, what: str, status: int, code: int | None, message: str) -> None:
        super().__init__(f"{what}: HTTP {status}, error {code}: {message}")
        self.status, self.code, self.message = status, code, message


class GraphApi:
    def __init__(self, token: str, client: httpx.Client, *,
                 base_url: str = DEFAULT_BASE_URL) -> None:
        self.token, self.client, self.base_url = token, client, base_url.rstrip("/")

    @classmethod
    def for_account(cls, account: ChannelAccount, client: httpx.Client) -> GraphApi:
        return cls(hooks.config_str(account, "access_token"), client,
                   base_url=hooks.api_base(account, DEFAULT_BASE_URL))

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def request(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        response = self.client.request(method, f"{self.base_url}/{path.lstrip('/')}",
                                       headers=self.auth, **kwargs)
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise GraphError(path, response.status_code, None, "no JSON object in the answer")
        error = body.get("error")
        if response.status_code >= 400 or isinstance(error, dict):
            error = error if isinstance(error, dict) else {}
            code = error.get("code")
            details = error.get("error_data")
            message = str(error.get("message") or "")
            if isinstance(details, dict) and details.get("details"):
                message = f"{message} ({details['details']})"
            raise GraphError(path, response.status_code, code if isinstance(code, int) else None,
                             message)
        return body

    def download_media(self, media_id: str, *, limit: int) -> bytes:
        """A customer's media: its URL comes from `GET /{media-id}` and is fetched with the
        same token (the URL lives five minutes)."""
        try:
            found = self.request("GET", media_id)
        except GraphError as exc:
            if exc.status >= 500 or exc.status == 429:
                raise hooks.TemporaryFailure(str(exc)) from exc
            raise hooks.FileUnavailable(exc.message or str(exc)) from exc
        except httpx.HTTPError as exc:
            raise hooks.TemporaryFailure(f"media: {type(exc).__name__}") from exc
        url = found.get("url")
        if not isinstance(url, str):
            raise hooks.FileUnavailable("no media URL")
        size = found.get("file_size")
        if isinstance(size, int) and size > limit:
            raise hooks.FileUnavailable(hooks.too_large(limit))
        data, _type = hooks.download(self.client, url, limit=limit, headers=self.auth)
        return data
