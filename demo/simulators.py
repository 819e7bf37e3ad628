"""The two simulators' control APIs (/_sim/, no auth) and the FilaMan reads the demo needs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import aiohttp


class SimulatorError(RuntimeError):
    """A simulator control call failed."""


async def _call(session: aiohttp.ClientSession, method: str, url: str, **kwargs: Any) -> Any:
    async with session.request(method, url, **kwargs) as response:
        if response.status >= 400:
            raise SimulatorError(f"{method} {url}: {response.status} {await response.text()}")
        return await response.json(content_type=None) if response.status != 204 else None


@dataclass(frozen=True, slots=True)
class Tray:
    """One loaded or empty slot as the Bambuddy simulator reports it."""

    ams_id: int
    tray_id: int
    material: str
    color: str  # "#RRGGBB" or ""

    @property
    def loaded(self) -> bool:
        return bool(self.material)


def trays_of(printer_status: dict[str, Any]) -> list[Tray]:
    """The AMS and external trays of one printer in `GET /_sim/state`."""
    trays = []
    for unit in printer_status.get("ams") or []:
        for tray in unit.get("tray") or []:
            trays.append(_tray(int(unit["id"]), tray))
    for tray in printer_status.get("vt_tray") or []:
        trays.append(_tray(255, tray))
    return trays


def _tray(ams_id: int, tray: dict[str, Any]) -> Tray:
    color = str(tray.get("tray_color") or "")
    tray_id = int(tray["id"])
    return Tray(
        ams_id=ams_id,
        # External holders carry their global id (254, 255…) in the status; their inventory
        # address is (255, 0), (255, 1)…
        tray_id=tray_id - 254 if ams_id == 255 and tray_id >= 254 else tray_id,
        material=str(tray.get("tray_type") or ""),
        color=f"#{color[:6].upper()}" if len(color) >= 6 else "",
    )


class BambuddyControl:
    def __init__(self, session: aiohttp.ClientSession, base_url: str) -> None:
        self._session = session
        self.base_url = base_url

    async def create_api_key(self) -> str:
        answer = await _call(self._session, "POST", f"{self.base_url}/_sim/api-keys", json={})
        return str(answer["key"])

    async def state(self) -> dict[str, Any]:
        answer: dict[str, Any] = await _call(self._session, "GET", f"{self.base_url}/_sim/state")
        return answer

    async def printers(self) -> list[dict[str, Any]]:
        return list((await self.state())["printers"])

    async def set_online(self, printer_id: int, online: bool) -> None:
        url = f"{self.base_url}/_sim/printers/{printer_id}/online"
        await _call(self._session, "POST", url, json={"online": online})

    async def run_print(
        self, printer_id: int, name: str, grams: dict[tuple[int, int], float], duration: float
    ) -> None:
        body = {
            "printer_id": printer_id,
            "name": name,
            "duration": duration,
            "grams": [{"ams_id": a, "tray_id": t, "grams": g} for (a, t), g in grams.items()],
        }
        await _call(self._session, "POST", f"{self.base_url}/_sim/print", json=body)


class FilamanControl:
    def __init__(self, session: aiohttp.ClientSession, base_url: str) -> None:
        self._session = session
        self.base_url = base_url

    async def create_api_key(self) -> str:
        # Keeping spool locations in FilaMan creates a location per slot: locations:create is
        # an admin's permission (the user role reads and debits only).
        answer = await _call(
            self._session, "POST", f"{self.base_url}/_sim/api-keys", json={"role": "admin"}
        )
        return str(answer["token"])

    async def spools(self, api_key: str) -> list[dict[str, Any]]:
        """Every active spool, through the real API (the way the integration reads them)."""
        answer = await _call(
            self._session,
            "GET",
            f"{self.base_url}/api/v1/spools",
            params={"page_size": "200"},
            headers={"Authorization": f"ApiKey {api_key}"},
        )
        return list(answer["items"])
