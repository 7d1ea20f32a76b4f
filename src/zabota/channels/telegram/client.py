"""The Telegram Bot API methods we use, over httpx (https://core.telegram.org/bots/api)."""

from __future__ import annotations

from typing import IO, Any

import httpx

from zabota.channels import hooks
from zabota.channels.models import ChannelAccount

DEFAULT_BASE_URL = "https://api.telegram.org"


class BotApiError(Exception):
    """An answer with `"ok": false`: the platform's error code, description and, for 429,
    how long to wait."""

    def __init__(self, method: str, code: int, description: str,
                 retry_after: float | None = None) -> None:
        # The token is part of the URL, so it is never part of the message.
        super().__init__(f"{method}: {code} {description}")
        self.method, self.code, self.description = method, code, description
        self.retry_after = retry_after


class BotApi:
    def __init__(self, token: str, client: httpx.Client, *,
                 base_url: str = DEFAULT_BASE_URL) -> None:
        self.token, self.client, self.base_url = token, client, base_url.rstrip("/")

    @classmethod
    def for_account(cls, account: ChannelAccount, client: httpx.Client) -> BotApi:
        return cls(hooks.config_str(account, "token"), client,
                   base_url=hooks.api_base(account, DEFAULT_BASE_URL))

    @property
    def bot_id(self) -> str:
        return self.token.partition(":")[0]

    def call(self, method: str, params: dict[str, Any] | None = None, *,
             files: dict[str, tuple[str, IO[bytes], str]] | None = None,
             timeout: float | None = None) -> Any:
        """The method's `result`; `BotApiError` when Telegram says no, httpx errors when the
        network fails."""
        url = f"{self.base_url}/bot{self.token}/{method}"
        extra: dict[str, Any] = {} if timeout is None else {"timeout": timeout}
        if files:
            data = {key: str(value) for key, value in (params or {}).items()}
            response = self.client.post(url, data=data, files=files, **extra)
        else:
            response = self.client.post(url, json=params or {}, **extra)
        try:
            body = response.json()
        except ValueError:
            raise BotApiError(method, response.status_code,
                              response.reason_phrase or "no JSON answer") from None
        if not isinstance(body, dict):
            raise BotApiError(method, response.status_code, "unexpected answer")
        if body.get("ok") is True:
            return body.get("result")
        parameters = body.get("parameters") or {}
        retry_after = parameters.get("retry_after") if isinstance(parameters, dict) else None
        raise BotApiError(method, int(body.get("error_code") or response.status_code),
                          str(body.get("description") or ""),
                          float(retry_after) if isinstance(retry_after, int | float) else None)

    def download(self, file_id: str, *, limit: int) -> bytes:
        """A file a user sent: `getFile` names its path, then it is fetched from the file
        URL. The Bot API hands out files of up to 20 MB."""
        try:
            found = self.call("getFile", {"file_id": file_id})
        except BotApiError as exc:
            if exc.code == 429 or exc.code >= 500:
                raise hooks.TemporaryFailure(str(exc)) from exc
            raise hooks.FileUnavailable(exc.description) from exc
        except httpx.HTTPError as exc:
            raise hooks.TemporaryFailure(f"getFile: {type(exc).__name__}") from exc
        path = found.get("file_path") if isinstance(found, dict) else None
        if not path:
            raise hooks.FileUnavailable("Telegram gave no file path")
        data, _type = hooks.download(self.client,
                                     f"{self.base_url}/file/bot{self.token}/{path}", limit=limit)
        return data
