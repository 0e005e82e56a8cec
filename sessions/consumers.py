"""The WebSocket consumer that forwards a session's live fragments to one browser."""

from __future__ import annotations

import asyncio
import logging

from channels.generic.websocket import AsyncWebsocketConsumer

from sessions.watch import group_name, registry

logger = logging.getLogger(__name__)

# Close codes in the 4000-4999 range that applications may define.
CLOSE_UNAUTHENTICATED = 4401


class SessionConsumer(AsyncWebsocketConsumer):
    session_id = ""
    watching = False

    async def __call__(self, scope, receive, send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            # A connection cancelled mid-handshake never gets its disconnect
            # handler, so leave here, or its watcher would poll forever.
            if self.watching:
                await asyncio.shield(self._stop_watching())

    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        self.session_id = self.scope["url_route"]["kwargs"]["session_id"]
        await self.channel_layer.group_add(
            group_name(self.session_id), self.channel_name
        )
        await self.accept()
        self.watching = True
        await registry.join(self.session_id, self.channel_name)

    async def disconnect(self, code: int) -> None:
        if self.watching:
            await self._stop_watching()

    async def _stop_watching(self) -> None:
        self.watching = False
        await registry.leave(self.session_id, self.channel_name)
        try:
            await self.channel_layer.group_discard(
                group_name(self.session_id), self.channel_name
            )
        except Exception as error:
            # Redis is down. The membership expires, and messages sent to this
            # channel meanwhile expire unread.
            logger.warning(
                "Viewer of %s could not leave its group: %s", self.session_id, error
            )

    async def receive(self, text_data: str | None = None, bytes_data=None) -> None:
        # The page sends nothing over the socket: every action is a form POST.
        pass

    async def session_fragment(self, event: dict) -> None:
        await self.send(text_data=event["html"])
