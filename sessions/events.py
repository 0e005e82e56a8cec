"""The reader of OpenCode's server-wide event stream, one per process.

`GET /api/event` carries the events of every session on the server, including one
`session.next.text.delta` per streamed chunk of text, which the message routes
never show. The reader runs while any session is watched and hands each event to
a callback. The watcher registry sends deltas to viewers and wakes pollers on
other events. Polling stays the source of truth: when the stream drops or comes
back, `on_gap` lets every poller look again, so missed events cost nothing but
latency.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from sessions.opencode import (
    AsyncOpenCodeClient,
    OpenCodeError,
    OpenCodeTimeout,
    new_async_client,
)
from sessions.tasks import cancel_and_wait

logger = logging.getLogger(__name__)

# Seconds without any event before the connection counts as dead and is reopened.
READ_TIMEOUT = 60.0
# Pause (seconds) before reconnecting after a failure, doubled per failure.
RECONNECT_DELAY_MIN = 0.5
RECONNECT_DELAY_MAX = 30.0

TEXT_DELTA = "session.next.text.delta"
TEXT_ENDED = "session.next.text.ended"


def event_payload(event: dict[str, Any]) -> dict[str, Any]:
    """Return an event's fields: OpenCode names them `data` or `properties`."""
    payload = event.get("data")
    if not isinstance(payload, dict):
        payload = event.get("properties")
    return payload if isinstance(payload, dict) else {}


def event_session_id(event: dict[str, Any]) -> str:
    return str(event_payload(event).get("sessionID") or "")


def is_delta(event: dict[str, Any]) -> bool:
    """Tell streamed chunks (of text, reasoning, tool input) from other events."""
    return str(event.get("type") or "").endswith(".delta")


class EventStream:
    """Read the server-wide event stream and reconnect until stopped."""

    def __init__(
        self,
        on_event: Callable[[dict[str, Any]], Awaitable[None]],
        on_gap: Callable[[], None],
        client_factory: Callable[[], AsyncOpenCodeClient] = new_async_client,
    ) -> None:
        self.on_event = on_event
        self.on_gap = on_gap
        self.client_factory = client_factory
        self.connected = False
        self.events_read = 0
        self.task: asyncio.Task | None = None

    def start(self) -> None:
        self.task = asyncio.create_task(self._run(), name="opencode events")

    async def stop(self) -> None:
        if self.task is not None:
            await cancel_and_wait(self.task)

    def _opened(self) -> None:
        logger.info("Event stream connected")
        self.connected = True
        # Events sent while the stream was down are lost: let every poller look.
        self.on_gap()

    def _closed(self) -> None:
        if self.connected:
            self.connected = False
            self.on_gap()

    async def _run(self) -> None:
        try:
            client = self.client_factory()
        except OpenCodeError as error:
            logger.warning("Event stream not started: %s", error)
            return
        failures = 0
        try:
            while True:
                try:
                    async for event in client.events(READ_TIMEOUT, self._opened):
                        await self._dispatch(event)
                    failures = 0
                    logger.info("Event stream ended; reconnecting")
                except OpenCodeTimeout:
                    failures = 0
                    logger.info(
                        "Event stream silent for %s s; reconnecting", READ_TIMEOUT
                    )
                except OpenCodeError as error:
                    failures += 1
                    logger.warning(
                        "Event stream failed (%d in a row): %s", failures, error
                    )
                self._closed()
                if failures:
                    delay = RECONNECT_DELAY_MIN * 2 ** (failures - 1)
                    await asyncio.sleep(min(RECONNECT_DELAY_MAX, delay))
        finally:
            self.connected = False
            await client.aclose()
            logger.info("Event stream stopped after %d events", self.events_read)

    async def _dispatch(self, event: dict[str, Any]) -> None:
        self.events_read += 1
        try:
            await self.on_event(event)
        except Exception:
            # One bad event or a channel layer hiccup must not end the stream.
            logger.exception("Handling event %s failed", event.get("type"))
