"""The set of sessions at work on the OpenCode server, shared by all pollers."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from sessions.opencode import AsyncOpenCodeClient, new_async_client


class ActiveSessions:
    """The sessions at work, from one shared `GET /api/session/active` per tick.

    Every poller of the process reads the same result while it is younger than the
    age its caller accepts, and concurrent callers share one request.
    """

    def __init__(
        self, client_factory: Callable[[], AsyncOpenCodeClient] = new_async_client
    ) -> None:
        self.client_factory = client_factory
        self.requests = 0
        self._client: AsyncOpenCodeClient | None = None
        self._value: dict[str, Any] = {}
        self._fetched_at = float("-inf")
        self._pending: asyncio.Future | None = None

    async def get(self, max_age: float) -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        if loop.time() - self._fetched_at <= max_age:
            return self._value
        if self._pending is None:
            self._pending = asyncio.ensure_future(self._fetch())
        # A caller cancelled while waiting must not cancel the others' request.
        return await asyncio.shield(self._pending)

    async def _fetch(self) -> dict[str, Any]:
        try:
            if self._client is None:
                self._client = self.client_factory()
            self.requests += 1
            value = await self._client.active_sessions()
            self._value = value if isinstance(value, dict) else {}
            self._fetched_at = asyncio.get_running_loop().time()
            return self._value
        finally:
            self._pending = None

    async def aclose(self) -> None:
        if self._pending is not None:
            self._pending.cancel()
        if self._client is not None:
            await self._client.aclose()
            self._client = None
