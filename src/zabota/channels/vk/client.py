"""The VK API methods we use, over httpx (https://dev.vk.com/ru/method). VK answers errors with
HTTP 200 and an `error` object, so every answer is read for one."""

from __future__ import annotations

from typing import Any

import httpx

from zabota.channels import hooks
from zabota.channels.models import ChannelAccount

DEFAULT_BASE_URL = "https://api.vk.com/method"
API_VERSION = "5.199"


class VkApiError(Exception):
    def __init__(self, method: str, code: int, message: str) -> None:
        super().__init__(f"{method}: error {code}: {message}")
        self.method, self.code, self.message = method, code, message


class VkApi:
    def __init__(self, token: str, client: httpx.Client, *,
                 base_url: str = DEFAULT_BASE_URL) -> None:
        self.token, self.client, self.base_url = token, client, base_url.rstrip("/")

    @classmethod
    def for_account(cls, account: ChannelAccount, client: httpx.Client) -> VkApi:
        return cls(hooks.config_str(account, "access_token"), client,
                   base_url=hooks.api_base(account, DEFAULT_BASE_URL))

    def call(self, method: str, params: dict[str, Any] | None = None) -> Any:
        """The method's `response`; `VkApiError` for an `error` object or an HTTP failure."""
        data = {key: str(value) for key, value in (params or {}).items() if value is not None}
        # The token goes in the body, not the URL, so it stays out of proxy logs.
        data.update(access_token=self.token, v=API_VERSION)
        response = self.client.post(f"{self.base_url}/{method}", data=data)
        if response.status_code >= 500:
            raise VkApiError(method, 10, f"HTTP {response.status_code}")
        try:
            body = response.json()
        except ValueError:
            raise VkApiError(method, 10, f"HTTP {response.status_code}, no JSON") from None
        if not isinstance(body, dict):
            raise VkApiError(method, 10, "unexpected answer")
        error = body.get("error")
        if isinstance(error, dict):
            code = error.get("error_code")
            raise VkApiError(method, code if isinstance(code, int) else 0,
                             str(error.get("error_msg") or ""))
        if "response" not in body:
            raise VkApiError(method, 10, "no response")
        return body["response"]
