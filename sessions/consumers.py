"""The WebSocket consumer that forwards a session's live fragments to one browser."""

from __future__ import annotations

import asyncio
import uuid

from channels.generic.websocket import AsyncWebsocketConsumer

from sessions.watch import registry

# Close codes in the 4000-4999 range that applications may define.
CLOSE_UNAUTHENTICATED = 4401


class SessionConsumer(AsyncWebsocketConsumer):
    # The watcher registry calls `send_html` directly, and the process's one control
    # channel carries its messages, so each socket needs no channel of its own.
    channel_layer_alias = None
    session_id = ""
    viewer_id = ""
    watching = False

    async def __call__(self, scope, receive, send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            # A connection cancelled mid-handshake never gets its disconnect
            # handler, so leave here, or its watcher would poll forever.
            await self._stop_watching()

    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        self.session_id = self.scope["url_route"]["kwargs"]["session_id"]
        # A poller's reply with the full state names this viewer by this id.
        self.viewer_id = uuid.uuid4().hex
        await self.accept()
        self.watching = True
        await registry.join(self.session_id, self.viewer_id, self.send_html)

    async def disconnect(self, code: int) -> None:
        await self._stop_watching()

    async def _stop_watching(self) -> None:
        if not self.watching:
            return
        self.watching = False
        # Shielded: daphne cancels a handler that takes too long to close, and a
        # leave cut short would keep the watcher polling for a viewer that is gone.
        await asyncio.shield(registry.leave(self.session_id, self.viewer_id))

    async def receive(self, text_data: str | None = None, bytes_data=None) -> None:
        # The page sends nothing over the socket: every action is a form POST.
        pass

    async def send_html(self, html: str) -> None:
        """Send one fragment to the browser. The watcher registry calls this."""
        await self.send(text_data=html)
