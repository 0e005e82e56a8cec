"""The poller: one watcher per watched session, shared by all of its viewers.

A watcher polls OpenCode for the session's messages, pending questions and run
state, keeps what it last sent, and publishes only the changed fragments to the
session's channel-layer group. Consumers join and leave through `registry`. The
first viewer starts the watcher and the last one to leave cancels it, so upstream
requests grow with watched sessions, not with viewers.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import json
import logging
import random
import time
from collections.abc import Callable
from typing import Any

from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings

from sessions import fragments
from sessions.archive import store_archive
from sessions.opencode import (
    AsyncOpenCodeClient,
    OpenCodeError,
    OpenCodeNotFound,
    OpenCodeUnauthorized,
    new_async_client,
)
from sessions.teamwork import attribution_labels, claims_for
from sessions.transcript import (
    STATUS_IDLE,
    STATUS_WAITING,
    STATUS_WORKING,
    TRANSCRIPT_WINDOW,
    message_view,
    permission_views,
    question_views,
    session_status,
)

logger = logging.getLogger(__name__)

# Newest messages fetched on each poll after the first full load.
RECENT_MESSAGES = 50
# While a question waits, poll at least this often (seconds) in case someone
# answers it outside this dashboard.
WAITING_POLL_MAX = 2.0
# Maximum pause (seconds) between polls while OpenCode keeps failing.
FAILURE_BACKOFF_MAX = 30.0


def group_name(session_id: str) -> str:
    return f"session-{session_id}"


def _digest(value: Any) -> str:
    encoded = json.dumps(value, sort_keys=True, ensure_ascii=False).encode()
    return hashlib.blake2b(encoded, digest_size=16).hexdigest()


def _with_jitter(seconds: float) -> float:
    return seconds * random.uniform(0.8, 1.2)


class SessionWatcher:
    def __init__(
        self,
        session_id: str,
        client_factory: Callable[[], AsyncOpenCodeClient] = new_async_client,
    ) -> None:
        self.session_id = session_id
        self.group = group_name(session_id)
        self.client_factory = client_factory
        self.channel_layer = get_channel_layer()
        self.viewers: set[str] = set()
        self.polls = 0
        self.ready = False
        self.task: asyncio.Task | None = None
        self._wake = asyncio.Event()
        # What the viewers currently show: raw messages in order, and per DOM id the
        # digest and rendered HTML of each message and question.
        self._messages: dict[str, dict[str, Any]] = {}
        self._message_html: dict[str, tuple[str, str]] = {}
        self._question_html: dict[str, tuple[str, str]] = {}
        self._status = ""
        self._status_html = ""
        self._stopping = False
        self._last_progress = time.monotonic()
        self._error: OpenCodeError | None = None

    # Lifecycle

    def start(self) -> None:
        self.task = asyncio.create_task(self._run(), name=f"watch {self.session_id}")

    async def stop(self) -> None:
        if self.task is None:
            return
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task

    def nudge(self, stopping: bool = False) -> None:
        """Poll now instead of at the next tick, after a view changed the session.

        STOPPING means a teammate interrupted the run, so the status reads
        "stopping" until OpenCode reports the session idle.
        """
        if stopping:
            self._stopping = True
        self._wake.set()

    async def add_viewer(self, channel_name: str) -> None:
        self.viewers.add(channel_name)
        if self.ready:
            await self.channel_layer.send(
                channel_name,
                {"type": "session.fragment", "html": self.full_state_html()},
            )

    # Polling

    async def _run(self) -> None:
        logger.info("Poller started for %s", self.session_id)
        client = self.client_factory()
        idle_delay = settings.OPENCODE_POLL_ACTIVE
        failures = 0
        try:
            while True:
                try:
                    status = await self._poll(client)
                except OpenCodeError as error:
                    failures += 1
                    await self._publish_error(error)
                    delay = self._failure_delay(error, failures)
                else:
                    failures = 0
                    idle_delay = self._next_idle_delay(status, idle_delay)
                    delay = idle_delay
                if await self._sleep(_with_jitter(delay)):
                    idle_delay = settings.OPENCODE_POLL_ACTIVE
        finally:
            await client.aclose()
            logger.info(
                "Poller stopped for %s after %d polls", self.session_id, self.polls
            )

    @staticmethod
    def _failure_delay(error: OpenCodeError, failures: int) -> float:
        # Rejected credentials stay rejected until someone changes the settings, so
        # the poller waits the longest backoff at once instead of climbing to it.
        if isinstance(error, OpenCodeUnauthorized):
            return FAILURE_BACKOFF_MAX
        return min(FAILURE_BACKOFF_MAX, settings.OPENCODE_POLL_ACTIVE * 2**failures)

    @staticmethod
    def _next_idle_delay(status: str, previous: float) -> float:
        if status == STATUS_WORKING:
            return settings.OPENCODE_POLL_ACTIVE
        longest = settings.OPENCODE_POLL_IDLE_MAX
        if status == STATUS_WAITING:
            longest = min(longest, WAITING_POLL_MAX)
        return min(previous * 2, longest)

    async def _sleep(self, seconds: float) -> bool:
        """Wait for the next tick; return True when a nudge cut the wait short."""
        try:
            await asyncio.wait_for(self._wake.wait(), timeout=seconds)
        except TimeoutError:
            return False
        self._wake.clear()
        return True

    async def _poll(self, client: AsyncOpenCodeClient) -> str:
        self.polls += 1
        active, questions, permissions, messages = await asyncio.gather(
            client.active_sessions(),
            client.list_questions(self.session_id),
            client.list_permissions(self.session_id),
            self._fetch_messages(client),
        )
        self._messages = messages
        request_ids = [item["id"] for item in [*questions, *permissions]]
        labels, claims = await sync_to_async(self._team_state)(request_ids)
        status = session_status(self.session_id, active, questions, permissions)
        if status == STATUS_IDLE:
            self._stopping = False
            if self._status != STATUS_IDLE:
                await self._archive(client)
        await self._publish(status, questions, permissions, labels, claims)
        return status

    def _team_state(self, request_ids: list[str]) -> tuple[dict, dict]:
        return attribution_labels(self.session_id), claims_for(request_ids)

    async def _archive(self, client: AsyncOpenCodeClient) -> None:
        """Keep a local copy of the session each time it goes idle."""
        session = await client.get_session(self.session_id)
        await sync_to_async(store_archive)(session, list(self._messages.values()))

    async def _fetch_messages(
        self, client: AsyncOpenCodeClient
    ) -> dict[str, dict[str, Any]]:
        """Load every message once, then only the newest page on later polls."""
        if not self._messages:
            loaded = await client.all_messages(self.session_id)
            return {message["id"]: message for message in loaded}
        page = await client.list_messages(
            self.session_id, limit=RECENT_MESSAGES, order="desc"
        )
        recent = list(reversed(page.get("data") or []))
        overlap = any(message["id"] in self._messages for message in recent)
        if not overlap and len(recent) >= RECENT_MESSAGES:
            # More messages arrived than one page holds: reload them all.
            loaded = await client.all_messages(self.session_id)
            return {message["id"]: message for message in loaded}
        merged = dict(self._messages)
        for message in recent:
            merged[message["id"]] = message
        return merged

    # Publishing

    async def _publish(
        self,
        status: str,
        questions: list[dict[str, Any]],
        permissions: list[dict[str, Any]],
        labels: dict[str, list[str]],
        claims: dict[str, str],
    ) -> None:
        pieces: list[str] = []
        if self._error is not None:
            self._error = None
            pieces.append(fragments.banner_html())
        if status == STATUS_WORKING and self._status != STATUS_WORKING:
            self._last_progress = time.monotonic()  # a new run starts its clock
        self._status = status
        message_pieces = self._message_changes(labels)
        if message_pieces:
            self._last_progress = time.monotonic()
        pieces.extend(message_pieces)
        pieces.extend(self._request_changes(questions, permissions, claims))
        status_html = self._render_status()
        if status_html != self._status_html:
            self._status_html = status_html
            pieces.append(status_html)

        if not self.ready:
            self.ready = True
            await self._send_group(self.full_state_html())
        elif pieces:
            await self._send_group("".join(pieces))

    def _render_status(self) -> str:
        stuck_after = settings.OPENCODE_STUCK_AFTER
        quiet = time.monotonic() - self._last_progress
        return fragments.status_html(
            self.session_id,
            self._status,
            stopping=self._stopping and self._status != STATUS_IDLE,
            stuck=self._status == STATUS_WORKING and quiet >= stuck_after,
        )

    def _message_changes(self, labels: dict[str, list[str]]) -> list[str]:
        pieces = []
        appended = []
        for message_id, raw in self._messages.items():
            call_ids = [str(part.get("id")) for part in raw.get("content") or []]
            own_labels = {
                key: labels[key] for key in [message_id, *call_ids] if key in labels
            }
            running = self._status != STATUS_IDLE
            digest = _digest([raw, own_labels, running])
            known = self._message_html.get(message_id)
            if known and known[0] == digest:
                continue
            view = message_view(raw, own_labels, running=running)
            html = fragments.message_html(self.session_id, view)
            self._message_html[message_id] = (digest, html)
            if known and known[1] == html:
                continue  # a field the page does not show changed
            if known:
                pieces.append(
                    fragments.message_html(self.session_id, view, oob="outerHTML")
                )
            else:
                appended.append(html)
        if appended:
            pieces.append(fragments.append_html("transcript", "".join(appended)))
        return pieces

    def _request_changes(
        self,
        questions: list[dict[str, Any]],
        permissions: list[dict[str, Any]],
        claims: dict[str, str],
    ) -> list[str]:
        """Add, replace and remove question and permission cards as they change."""
        views = [
            *question_views(questions, list(self._messages.values())),
            *permission_views(permissions),
        ]
        current = {view.dom_id: view for view in views}
        pieces = []
        for dom_id in list(self._question_html):
            if dom_id not in current:
                del self._question_html[dom_id]
                pieces.append(fragments.delete_html(dom_id))
        appended = []
        for dom_id, view in current.items():
            claimed_by = claims.get(view.id, "")
            digest = _digest([dataclasses.asdict(view), claimed_by])
            known = self._question_html.get(dom_id)
            if known and known[0] == digest:
                continue
            html = fragments.request_card_html(view, claimed_by=claimed_by)
            self._question_html[dom_id] = (digest, html)
            if known:
                pieces.append(
                    fragments.request_card_html(
                        view, claimed_by=claimed_by, oob="outerHTML"
                    )
                )
            else:
                appended.append(html)
        if appended:
            pieces.append(fragments.append_html("questions", "".join(appended)))
        return pieces

    async def _publish_error(self, error: OpenCodeError) -> None:
        if isinstance(error, OpenCodeNotFound):
            error = OpenCodeNotFound(
                "This session no longer exists on the OpenCode server"
            )
        if self._error is not None and str(self._error) == str(error):
            return
        self._error = error
        await self._send_group(fragments.banner_html(error.headline, str(error)))

    def full_state_html(self) -> str:
        """Everything a new or reconnected viewer needs to show the current state."""
        pieces = [
            fragments.banner_html(
                self._error.headline if self._error else "",
                str(self._error) if self._error else "",
            ),
            self._status_html or self._render_status(),
            fragments.replace_children_html(
                "transcript", self._transcript_window_html()
            ),
            fragments.replace_children_html(
                "questions", "".join(html for _, html in self._question_html.values())
            ),
        ]
        return "".join(pieces)

    def _transcript_window_html(self) -> str:
        """Render the newest messages after a control that loads earlier ones."""
        message_ids = list(self._message_html)
        shown = message_ids[-TRANSCRIPT_WINDOW:]
        control = fragments.earlier_messages_html(
            self.session_id, shown[0] if shown else "", len(message_ids) - len(shown)
        )
        return control + "".join(self._message_html[item][1] for item in shown)

    async def _send_group(self, html: str) -> None:
        await self.channel_layer.group_send(
            self.group, {"type": "session.fragment", "html": html}
        )


class WatcherRegistry:
    """The watchers of this process, keyed by session id."""

    def __init__(self) -> None:
        self.watchers: dict[str, SessionWatcher] = {}

    async def join(self, session_id: str, channel_name: str) -> SessionWatcher:
        watcher = self.watchers.get(session_id)
        if watcher is None:
            watcher = SessionWatcher(session_id)
            self.watchers[session_id] = watcher
            watcher.start()
        await watcher.add_viewer(channel_name)
        return watcher

    async def leave(self, session_id: str, channel_name: str) -> None:
        watcher = self.watchers.get(session_id)
        if watcher is None:
            return
        watcher.viewers.discard(channel_name)
        if not watcher.viewers:
            del self.watchers[session_id]
            await watcher.stop()

    def nudge(self, session_id: str, stopping: bool = False) -> None:
        watcher = self.watchers.get(session_id)
        if watcher is not None:
            watcher.nudge(stopping)


registry = WatcherRegistry()
