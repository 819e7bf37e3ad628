"""Home Assistant's own HTTP and WebSocket APIs, as the frontend uses them."""

from __future__ import annotations

from dataclasses import dataclass
import itertools
from typing import Any

import aiohttp


class HomeAssistantApiError(RuntimeError):
    """Home Assistant answered with an error."""


@dataclass(frozen=True, slots=True)
class Login:
    name: str
    username: str
    password: str
    language: str = "en"


class HomeAssistantApi:
    """REST and WebSocket calls against one Home Assistant at `base_url`."""

    def __init__(self, session: aiohttp.ClientSession, base_url: str) -> None:
        self._session = session
        self.base_url = base_url.rstrip("/")
        self._token: str | None = None
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._ids = itertools.count(1)

    @property
    def client_id(self) -> str:
        # IndieAuth: a client id on the same host as the redirect URI is accepted.
        return f"{self.base_url}/"

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._token}"} if self._token else {}

    async def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        async with self._session.request(
            method, f"{self.base_url}{path}", headers=self._headers(), **kwargs
        ) as response:
            body = await response.text()
            if response.status >= 400:
                raise HomeAssistantApiError(f"{method} {path}: {response.status} {body[:500]}")
            return await response.json(content_type=None) if body else None

    async def get(self, path: str) -> Any:
        return await self._json("GET", path)

    async def post(self, path: str, payload: dict[str, Any] | None = None) -> Any:
        return await self._json("POST", path, json=payload or {})

    # --- onboarding -------------------------------------------------------------------------

    async def onboarding_done_steps(self) -> set[str]:
        steps = await self.get("/api/onboarding")
        return {step["step"] for step in steps if step["done"]}

    async def onboard(self, login: Login) -> None:
        """The user step of onboarding (the only one left open); leaves us logged in."""
        created = await self.post(
            "/api/onboarding/users",
            {
                "client_id": self.client_id,
                "name": login.name,
                "username": login.username,
                "password": login.password,
                "language": login.language,
            },
        )
        await self._exchange_code(created["auth_code"])

    async def _exchange_code(self, code: str) -> None:
        async with self._session.post(
            f"{self.base_url}/auth/token",
            data={"grant_type": "authorization_code", "code": code, "client_id": self.client_id},
        ) as response:
            if response.status != 200:
                raise HomeAssistantApiError(f"token exchange failed: {response.status}")
            self._token = (await response.json())["access_token"]

    def use_token(self, token: str) -> None:
        self._token = token

    async def use_long_lived_token(self) -> str:
        """Swap the 30-minute access token for a long-lived one (the demo may run for hours)."""
        token: str = await self.ws_call(
            {"type": "auth/long_lived_access_token", "client_name": "filaman-demo", "lifespan": 30}
        )
        await self.close_websocket()
        self._token = token
        return token

    # --- websocket --------------------------------------------------------------------------

    async def _websocket(self) -> aiohttp.ClientWebSocketResponse:
        if self._ws is not None and not self._ws.closed:
            return self._ws
        ws = await self._session.ws_connect(f"{self.base_url}/api/websocket")
        if (await ws.receive_json())["type"] != "auth_required":
            raise HomeAssistantApiError("unexpected websocket greeting")
        await ws.send_json({"type": "auth", "access_token": self._token})
        answer = await ws.receive_json()
        if answer["type"] != "auth_ok":
            raise HomeAssistantApiError(f"websocket auth failed: {answer}")
        self._ws = ws
        return ws

    async def ws_call(self, message: dict[str, Any]) -> Any:
        ws = await self._websocket()
        message_id = next(self._ids)
        await ws.send_json({**message, "id": message_id})
        while True:
            answer = await ws.receive_json()
            if answer.get("id") == message_id and answer.get("type") == "result":
                if not answer["success"]:
                    raise HomeAssistantApiError(f"{message['type']}: {answer['error']}")
                return answer["result"]

    async def close_websocket(self) -> None:
        if self._ws is not None:
            await self._ws.close()
            self._ws = None

    # --- registries -------------------------------------------------------------------------

    async def entities_of(self, platform: str) -> list[dict[str, Any]]:
        entries: list[dict[str, Any]] = await self.ws_call({"type": "config/entity_registry/list"})
        return [entry for entry in entries if entry.get("platform") == platform]

    async def states(self) -> dict[str, dict[str, Any]]:
        return {state["entity_id"]: state for state in await self.get("/api/states")}
