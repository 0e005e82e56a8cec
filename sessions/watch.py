"""The poller: one watcher per watched session, shared by all of its viewers.

A watcher polls OpenCode for the session's messages and pending questions, keeps
what it last sent, and publishes only the changed fragments. Consumers join and
leave through `registry`. The first viewer starts the watcher and the last one to
leave cancels it, so upstream requests grow with watched sessions, not with viewers.

While any session is watched the registry also runs what the watchers of the
process share. One reader of OpenCode's event stream sends streamed text straight
to viewers and wakes the session's poller on other events. One
`GET /api/session/active` per tick serves every poller. One control channel per
process receives the fragments of the sessions it has viewers of and hands them to
its sockets, so the channel layer carries one message per process, not per viewer.
The same channel takes nudges and full-state requests from other processes. With
several processes (REDIS_URL set) each watcher polls only while it holds the
session's lease, so one process polls each session.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import json
import logging
import random
import re
import time
from collections.abc import Awaitable, Callable
from typing import Any

from asgiref.sync import sync_to_async
from channels.exceptions import ChannelFull
from channels.layers import get_channel_layer
from django.conf import settings
from redis.exceptions import RedisError

from sessions import fragments
from sessions.activity import ActiveSessions
from sessions.archive import store_archive
from sessions.events import (
    TEXT_DELTA,
    TEXT_ENDED,
    EventStream,
    event_payload,
    is_delta,
)
from sessions.lease import Lease, LeaseFactory, LocalLease, StoreState
from sessions.opencode import (
    MESSAGE_ID,
    AsyncOpenCodeClient,
    OpenCodeError,
    OpenCodeNotFound,
    OpenCodeUnauthorized,
    new_async_client,
)
from sessions.streaming import StreamedText
from sessions.tasks import cancel_and_wait
from sessions.teamwork import attribution_labels, claims_for
from sessions.transcript import (
    STATUS_IDLE,
    STATUS_WAITING,
    STATUS_WORKING,
    TRANSCRIPT_WINDOW,
    MessageView,
    message_view,
    permission_views,
    question_views,
    session_status,
    stream_dom_id,
)

logger = logging.getLogger(__name__)

# Newest messages fetched on each poll after the first full load.
RECENT_MESSAGES = 50
# While a question waits, poll at least this often (seconds) in case someone
# answers it outside this dashboard.
WAITING_POLL_MAX = 2.0
# Maximum pause (seconds) between polls while OpenCode keeps failing.
FAILURE_BACKOFF_MAX = 30.0
# Pause (seconds) between polls of a session that is not working while the event
# stream is connected: its events wake the poller, so this only guards against a
# stream that silently misses events.
EVENT_BACKED_IDLE_POLL = 60.0
# Pause (seconds) between attempts to take a lease that another process holds.
LEASE_RETRY = 1.0
# Seconds between renewals of this process's group memberships: channel layers drop
# a group member after a day (their default `group_expiry`).
GROUP_REFRESH = 3600.0
# Seconds between checks that Redis still has what this process put there. A Redis
# that restarts without saving loses every group membership and lease.
STORE_CHECK = 2.0
# Maximum pause (seconds) between receives on the control channel while they fail.
CONTROL_RETRY_MAX = 2.0
STORE_DOWN_HEADLINE = "Live updates paused"
STORE_DOWN_DETAIL = (
    "The dashboard cannot reach Redis, which carries live updates between its "
    "processes. This page catches up on its own once Redis is back."
)
TEXT_PART_ID = re.compile(r"[\w-]{1,64}")


def group_name(session_id: str) -> str:
    """Name the group of the processes with viewers of a session, one channel each.

    The poller publishes each fragment to this group once, and every member
    process hands it to its own viewers, so the channel layer carries one message
    per process instead of one per viewer.
    """
    return f"session-{session_id}"


def control_group_name(session_id: str) -> str:
    """Name the group that reaches a session's poller in whichever process it runs."""
    return f"watchers-{session_id}"


# Sends one fragment of HTML to one browser.
Deliver = Callable[[str], Awaitable[None]]


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
        *,
        lease: Lease | None = None,
        active_sessions: ActiveSessions | None = None,
        events_live: Callable[[], bool] = lambda: False,
        control_channel: str = "",
    ) -> None:
        self.session_id = session_id
        self.group = group_name(session_id)
        # This process's channel for fragments, nudges and state requests. It joins
        # the session's control group only while this watcher polls.
        self.control_channel = control_channel
        self.client_factory = client_factory
        self.lease = lease or LocalLease()
        self.active_sessions = active_sessions or ActiveSessions(client_factory)
        self.events_live = events_live
        self.channel_layer = get_channel_layer()
        # This process's viewers: a random id, mapped to the function that sends
        # HTML to that viewer's browser.
        self.viewers: dict[str, Deliver] = {}
        self.polls = 0
        self.holding = False
        self.ready = False
        self.task: asyncio.Task | None = None
        self._wake = asyncio.Event()
        self._lease_lost = False
        # Sends, and the state changes they show, happen one at a time, so a
        # streamed chunk never reaches a viewer before the element it extends.
        self._send_lock = asyncio.Lock()
        self._reset_state()

    def _reset_state(self) -> None:
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
        self._streamed = StreamedText()
        # Attribution labels from the last poll, by message and tool call id.
        self._labels: dict[str, list[str]] = {}
        self.ready = False

    # Lifecycle

    def start(self) -> None:
        self.task = asyncio.create_task(self._run(), name=f"watch {self.session_id}")

    async def stop(self) -> None:
        """Cancel the poller and wait until it has ended."""
        if self.task is not None:
            await cancel_and_wait(self.task)

    def nudge(self, stopping: bool = False) -> None:
        """Poll now instead of at the next tick, after something changed the session.

        STOPPING means a teammate interrupted the run, so the status reads
        "stopping" until OpenCode reports the session idle.
        """
        if stopping:
            self._stopping = True
        self._wake.set()

    async def add_viewer(self, viewer_id: str, deliver: Deliver) -> None:
        self.viewers[viewer_id] = deliver
        await self.bring_up_to_date(viewer_id)

    async def bring_up_to_date(self, viewer_id: str) -> None:
        """Get the current state to one viewer, from this process or the poller's."""
        if self.holding:
            await self.send_full_state(viewer_id, self.control_channel)
        else:
            # Another process polls this session: ask it for the current state.
            await self._send_control(
                {
                    "type": "watcher.state",
                    "reply_to": viewer_id,
                    "reply_via": self.control_channel,
                }
            )

    async def send_full_state(self, viewer_id: str, via: str) -> None:
        """Send the current state to one viewer, once this process has it.

        The state goes through VIA, the control channel of the viewer's process,
        so it reaches the viewer in order with the fragments published before it.
        """
        if not (self.holding and via):
            return
        if not self.ready:
            # The first poll sends the full state to every viewer. Until then the
            # viewer gets only the reason that poll failed, if it did.
            if self._error is not None:
                await self.channel_layer.send(
                    via, self._relay_message(self.banner_html(), viewer_id)
                )
            return
        async with self._send_lock:
            await self.channel_layer.send(
                via, self._relay_message(self.full_state_html(), viewer_id)
            )

    def _relay_message(self, html: str, to: str = "") -> dict[str, str]:
        """Build the channel-layer message that carries HTML to viewers' processes.

        With TO, the receiving process hands it to that one viewer only.
        """
        message = {"type": "session.relay", "session_id": self.session_id, "html": html}
        if to:
            message["to"] = to
        return message

    def banner_html(self) -> str:
        """Render the banner this process's viewers should show for this session."""
        if self.holding and self._error is not None:
            return fragments.banner_html(self._error.headline, str(self._error))
        return fragments.banner_html()

    async def deliver(self, html: str, to: str = "") -> None:
        """Hand a fragment to this process's viewers, or only to the viewer TO."""
        targets = [to] if to else list(self.viewers)
        for viewer_id in targets:
            deliver = self.viewers.get(viewer_id)
            if deliver is None:
                continue  # the viewer left meanwhile
            try:
                await deliver(html)
            except Exception as error:
                # One broken socket must not keep the fragment from the others.
                logger.debug("Fragment not sent to a viewer: %s", error)

    async def _send_control(self, message: dict[str, Any]) -> None:
        await self.channel_layer.group_send(
            control_group_name(self.session_id),
            {**message, "session_id": self.session_id},
        )

    # Polling

    async def _run(self) -> None:
        client = self.client_factory()
        try:
            while True:
                if not await self.lease.acquire():
                    await self._sleep(_with_jitter(LEASE_RETRY))
                elif await self.join_control_group():
                    try:
                        await self._poll_while_holding(client)
                    except Exception as error:
                        # Most often the channel layer is down. The lease is given
                        # up and taken again shortly, so the session is not left
                        # without a poller. Anything else is a bug: keep its trace.
                        outage = isinstance(error, (RedisError, ChannelFull))
                        logger.warning(
                            "Poller of %s failed: %s",
                            self.session_id,
                            error,
                            exc_info=not outage,
                        )
                        await self._sleep(_with_jitter(LEASE_RETRY))
                else:
                    # A poller that other processes cannot reach would leave their
                    # viewers without state, so it lets another process try.
                    await self.lease.release()
                    await self._sleep(_with_jitter(LEASE_RETRY))
        finally:
            await client.aclose()

    async def _poll_while_holding(self, client: AsyncOpenCodeClient) -> None:
        logger.info("Poller started for %s", self.session_id)
        self.holding = True
        self._lease_lost = False
        self._reset_state()
        renewal = asyncio.create_task(
            self._renew_lease(), name=f"lease {self.session_id}"
        )
        try:
            await self._poll_until_lease_lost(client)
        finally:
            self.holding = False
            renewal.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await renewal
            await asyncio.shield(self._leave_control_group())
            await self.lease.release()
            logger.info(
                "Poller stopped for %s after %d polls", self.session_id, self.polls
            )

    async def join_control_group(self) -> bool:
        """Take nudges and state requests for this session from every process.

        Return False if the channel layer failed.
        """
        if not self.control_channel:
            return True
        try:
            await self.channel_layer.group_add(
                control_group_name(self.session_id), self.control_channel
            )
        except Exception as error:
            logger.warning(
                "Poller of %s cannot take requests: %s", self.session_id, error
            )
            return False
        return True

    async def _leave_control_group(self) -> None:
        if not self.control_channel:
            return
        try:
            await self.channel_layer.group_discard(
                control_group_name(self.session_id), self.control_channel
            )
        except Exception as error:
            # The membership expires on its own; requests it still gets are ignored.
            logger.debug("Control group of %s not left: %s", self.session_id, error)

    async def _renew_lease(self) -> None:
        while True:
            await asyncio.sleep(self.lease.ttl / 3)
            if not await self.lease.renew():
                logger.warning(
                    "Lease on %s lost or unreachable; polling stops until it is "
                    "taken again",
                    self.session_id,
                )
                self._lease_lost = True
                self._wake.set()
                return

    async def _poll_until_lease_lost(self, client: AsyncOpenCodeClient) -> None:
        idle_delay = settings.OPENCODE_POLL_ACTIVE
        failures = 0
        woken = True
        while not self._lease_lost:
            try:
                status = await self._poll(client, fresh_status=woken)
            except OpenCodeError as error:
                failures += 1
                await self._publish_error(error)
                delay = self._failure_delay(error, failures)
            else:
                failures = 0
                idle_delay = self._next_idle_delay(status, idle_delay)
                delay = idle_delay
            woken = await self._sleep(_with_jitter(delay))
            if woken:
                idle_delay = settings.OPENCODE_POLL_ACTIVE

    @staticmethod
    def _failure_delay(error: OpenCodeError, failures: int) -> float:
        # Rejected credentials stay rejected until someone changes the settings, so
        # the poller waits the longest backoff at once instead of climbing to it.
        if isinstance(error, OpenCodeUnauthorized):
            return FAILURE_BACKOFF_MAX
        return min(FAILURE_BACKOFF_MAX, settings.OPENCODE_POLL_ACTIVE * 2**failures)

    def _next_idle_delay(self, status: str, previous: float) -> float:
        if status == STATUS_WORKING:
            return settings.OPENCODE_POLL_ACTIVE
        if self.events_live():
            return EVENT_BACKED_IDLE_POLL
        longest = settings.OPENCODE_POLL_IDLE_MAX
        if status == STATUS_WAITING:
            longest = min(longest, WAITING_POLL_MAX)
        return min(previous * 2, longest)

    async def _sleep(self, seconds: float) -> bool:
        """Wait for the next tick; return True when a nudge cut the wait short."""
        # Not `asyncio.wait_for`: on Python 3.11 it drops a cancellation that
        # arrives just as the nudge does, and the watcher would never stop.
        try:
            async with asyncio.timeout(seconds):
                await self._wake.wait()
        except TimeoutError:
            return False
        self._wake.clear()
        return True

    async def _poll(self, client: AsyncOpenCodeClient, fresh_status: bool) -> str:
        """Fetch and publish the session's state; return its status.

        A poll that an event or a view asked for wants the run state as it is now;
        a cadence poll accepts the shared result of up to half a tick ago.
        """
        self.polls += 1
        max_age = 0.0 if fresh_status else settings.OPENCODE_POLL_ACTIVE / 2
        active, questions, permissions, messages = await asyncio.gather(
            self.active_sessions.get(max_age),
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
        async with self._send_lock:
            self._labels = labels
            await self._publish_changes(status, questions, permissions, claims)
            self._streamed.drop_finished(self._messages)

    async def _publish_changes(
        self,
        status: str,
        questions: list[dict[str, Any]],
        permissions: list[dict[str, Any]],
        claims: dict[str, str],
    ) -> None:
        pieces: list[str] = []
        if self._error is not None:
            self._error = None
            pieces.append(fragments.banner_html())
        if status == STATUS_WORKING and self._status != STATUS_WORKING:
            self._last_progress = time.monotonic()  # a new run starts its clock
        self._status = status
        message_pieces = self._message_changes()
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

    def _own_labels(self, raw: dict[str, Any]) -> dict[str, list[str]]:
        """Pick the attribution labels of one message and its tool calls."""
        message_id = str(raw.get("id") or "")
        call_ids = [str(part.get("id")) for part in raw.get("content") or []]
        return {
            key: self._labels[key]
            for key in [message_id, *call_ids]
            if key in self._labels
        }

    def _message_changes(self) -> list[str]:
        pieces = []
        appended = []
        for message_id, raw in self._messages.items():
            running = self._status != STATUS_IDLE
            digest = _digest([raw, self._own_labels(raw), running])
            known = self._message_html.get(message_id)
            if known and known[0] == digest:
                continue
            view = self._message_view(raw)
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
        async with self._send_lock:
            if self._error is not None and str(self._error) == str(error):
                return
            self._error = error
            await self._send_group(fragments.banner_html(error.headline, str(error)))

    def full_state_html(self) -> str:
        """Everything a new or reconnected viewer needs to show the current state."""
        # Messages still streaming are rendered again with the text streamed so far.
        streaming = self._streamed.streaming_messages()
        for message_id in streaming & self._messages.keys():
            digest, _ = self._message_html[message_id]
            view = self._message_view(self._messages[message_id])
            html = fragments.message_html(self.session_id, view)
            self._message_html[message_id] = (digest, html)
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
        """Render the newest messages, after a control that loads the earlier ones.

        Messages come in the server's order, and parts shown from the event stream
        before any poll listed their message come last.
        """
        listed = [item for item in self._messages if item in self._message_html]
        early = [item for item in self._message_html if item not in self._messages]
        message_ids = listed + early
        shown = message_ids[-TRANSCRIPT_WINDOW:]
        control = fragments.earlier_messages_html(
            self.session_id, shown[0] if shown else "", len(message_ids) - len(shown)
        )
        return control + "".join(self._message_html[item][1] for item in shown)

    async def _send_group(self, html: str) -> None:
        await self.channel_layer.group_send(self.group, self._relay_message(html))

    # Streamed text

    def _message_view(self, raw: dict[str, Any]) -> MessageView:
        """Build a message's view, showing the text streamed so far in open parts."""
        running = self._status != STATUS_IDLE
        view = message_view(raw, self._own_labels(raw), running=running)
        self._streamed.fill(view)
        return view

    async def stream_delta(self, message_id: str, part_id: str, delta: str) -> None:
        """Keep one streamed chunk and append it to the part in every viewer's page.

        The first chunk of a part the viewers do not show yet brings the part
        itself, with all the text so far.
        """
        if not _valid_part(message_id, part_id):
            return
        key = (message_id, part_id)
        # Words streaming in are progress, so the session does not look stuck.
        self._last_progress = time.monotonic()
        async with self._send_lock:
            if not self._streamed.add(key, delta):
                return
            if key in self._streamed.shown:
                dom_id = stream_dom_id(message_id, part_id)
                await self._send_group(fragments.stream_delta_html(dom_id, delta))
            elif self.ready:
                await self._send_html(self._message_with_part_html(message_id, part_id))

    async def end_text(self, message_id: str, part_id: str, text: str) -> None:
        """Show a text part in full as soon as the event stream reports its end.

        The poll this also requests confirms it, and sends the server's version in
        its place if that renders differently.
        """
        self.nudge()
        if not _valid_part(message_id, part_id):
            return
        async with self._send_lock:
            if self.ready:
                await self._send_html(
                    self._message_with_part_html(message_id, part_id, text)
                )

    async def _send_html(self, html: str) -> None:
        if html:
            await self._send_group(html)

    def _message_with_part_html(
        self, message_id: str, part_id: str, text: str = ""
    ) -> str:
        """Render a message with one text part as the event stream reports it.

        The message comes from the last poll, or is a new assistant message. Empty
        TEXT means the part is still streaming and shows the text streamed so far.
        The message's digest stays blank, so the next poll that lists it sends the
        server's version if that renders differently. Returns "" when there is
        nothing to send.
        """
        raw = self._messages.get(message_id) or {"id": message_id, "type": "assistant"}
        if (raw.get("time") or {}).get("completed"):
            return ""  # the poll already has the finished message
        content = []
        for part in raw.get("content") or []:
            if isinstance(part, dict) and part.get("id") == part_id:
                if part.get("text"):
                    return ""  # the poll already has this part in full
                continue
            content.append(part)
        content.append({"type": "text", "id": part_id, "text": text})
        view = self._message_view({**raw, "content": content})
        if not text and (message_id, part_id) not in self._streamed.shown:
            return ""
        html = fragments.message_html(self.session_id, view)
        known = self._message_html.get(message_id)
        if known and known[1] == html:
            return ""
        self._message_html[message_id] = ("", html)
        if known:
            return fragments.message_html(self.session_id, view, oob="outerHTML")
        return fragments.append_html("transcript", html)


def _valid_part(message_id: str, part_id: str) -> bool:
    return bool(MESSAGE_ID.fullmatch(message_id) and TEXT_PART_ID.fullmatch(part_id))


class WatcherRegistry:
    """The watchers of this process, keyed by session id, and what they share."""

    def __init__(self) -> None:
        self.watchers: dict[str, SessionWatcher] = {}
        self.events: EventStream | None = None
        self.active_sessions: ActiveSessions | None = None
        self.leases: LeaseFactory | None = None
        self.control_channel = ""
        # True while the channel layer fails: viewers may lack fragments or state.
        self.paused = False
        self._control_task: asyncio.Task | None = None
        self._lock: tuple[asyncio.AbstractEventLoop, asyncio.Lock] | None = None

    def _changes_lock(self) -> asyncio.Lock:
        """Return the lock that orders joins and leaves on the running event loop."""
        loop = asyncio.get_running_loop()
        if self._lock is None or self._lock[0] is not loop:
            self._lock = (loop, asyncio.Lock())
        return self._lock[1]

    async def join(
        self, session_id: str, viewer_id: str, deliver: Deliver
    ) -> SessionWatcher:
        """Add a viewer of SESSION_ID. DELIVER sends HTML to its browser."""
        async with self._changes_lock():
            watcher = self.watchers.get(session_id)
            if watcher is None:
                if not self.watchers:
                    await self._start_shared()
                watcher = self._new_watcher(session_id)
                self.watchers[session_id] = watcher
                watcher.start()
                try:
                    await watcher.channel_layer.group_add(
                        watcher.group, self.control_channel
                    )
                except Exception as error:
                    self._pause(f"group of {session_id} not joined: {error}")
        try:
            await watcher.add_viewer(viewer_id, deliver)
        except Exception as error:
            # The viewer stays, and the store watcher sends its state shortly.
            self._pause(f"state of {session_id} not requested: {error}")
            if not isinstance(error, ChannelFull):
                await deliver(self._paused_banner())
        return watcher

    async def leave(self, session_id: str, viewer_id: str) -> None:
        async with self._changes_lock():
            watcher = self.watchers.get(session_id)
            if watcher is None:
                return
            watcher.viewers.pop(viewer_id, None)
            if watcher.viewers:
                return
            del self.watchers[session_id]
            await watcher.stop()
            try:
                await watcher.channel_layer.group_discard(
                    watcher.group, self.control_channel
                )
            except Exception as error:
                # The membership expires, and what it still brings is ignored.
                logger.warning("Group of %s not left: %s", session_id, error)
            if not self.watchers:
                await self._stop_shared()

    def nudge(self, session_id: str, stopping: bool = False) -> None:
        watcher = self.watchers.get(session_id)
        if watcher is not None:
            watcher.nudge(stopping)

    def _new_watcher(self, session_id: str) -> SessionWatcher:
        assert self.leases is not None
        return SessionWatcher(
            session_id,
            lease=self.leases.lease(session_id),
            active_sessions=self.active_sessions,
            events_live=self._events_live,
            control_channel=self.control_channel,
        )

    # What the watchers of the process share

    async def _start_shared(self) -> None:
        self.paused = False
        self.leases = LeaseFactory(settings.REDIS_URL, settings.POLLER_LEASE_TTL)
        await self.leases.check_store()  # record the current epoch
        self.active_sessions = ActiveSessions()
        self.events = EventStream(self._on_event, self._on_gap)
        self.events.start()
        channel_layer = get_channel_layer()
        # The default prefix matters: channels-redis keeps one receive lock per
        # process but one Redis list per prefix, so a waiting receive on a second
        # prefix would hold the lock and starve every channel on the first.
        self.control_channel = await channel_layer.new_channel()
        self._control_task = asyncio.create_task(
            self._receive_control(channel_layer), name="watcher control"
        )

    async def _stop_shared(self) -> None:
        if self._control_task is not None:
            await cancel_and_wait(self._control_task)
            self._control_task = None
        if self.events is not None:
            await self.events.stop()
            self.events = None
        if self.active_sessions is not None:
            await self.active_sessions.aclose()
            self.active_sessions = None
        if self.leases is not None:
            await self.leases.aclose()
            self.leases = None

    def _events_live(self) -> bool:
        return self.events is not None and self.events.connected

    async def _on_event(self, event: dict[str, Any]) -> None:
        try:
            await self._handle_event(event)
        except (RedisError, ChannelFull) as error:
            # Polling catches up on what the viewers missed once Redis is back.
            self._pause(f"streamed text not sent: {error}")

    async def _handle_event(self, event: dict[str, Any]) -> None:
        payload = event_payload(event)
        watcher = self.watchers.get(str(payload.get("sessionID") or ""))
        if watcher is None or not watcher.holding:
            return  # not watched here, or another process polls it
        message_id = str(payload.get("assistantMessageID") or "")
        part_id = str(payload.get("textID") or "")
        if event.get("type") == TEXT_DELTA:
            await watcher.stream_delta(
                message_id, part_id, str(payload.get("delta") or "")
            )
        elif event.get("type") == TEXT_ENDED:
            await watcher.end_text(message_id, part_id, str(payload.get("text") or ""))
        elif not is_delta(event):
            # A step, a text part, a question or a prompt began or ended.
            watcher.nudge()

    def _on_gap(self) -> None:
        for watcher in self.watchers.values():
            watcher.nudge()

    async def _receive_control(self, channel_layer) -> None:
        """Act on nudges and full-state requests sent to this process's channel."""
        upkeep = [
            asyncio.create_task(self._refresh_groups(), name="watcher groups"),
            asyncio.create_task(self._watch_store(), name="watcher store"),
        ]
        try:
            await self._receive_control_messages(channel_layer)
        finally:
            for task in upkeep:
                task.cancel()

    async def _refresh_groups(self) -> None:
        while True:
            await asyncio.sleep(GROUP_REFRESH)
            await self._rejoin_groups()

    async def _watch_store(self) -> None:
        """Tell viewers while Redis is down, and catch them up once it is back.

        A Redis that comes back, or that lost its data while up, may have dropped
        this process's group memberships, so the process joins its groups again and
        requests every viewer's current state.
        """
        while True:
            await asyncio.sleep(STORE_CHECK)
            if self.leases is None:
                continue
            state = await self.leases.check_store()
            if state is StoreState.DOWN:
                if not self.paused:
                    self._pause("Redis is unreachable")
                    await self._deliver_everywhere(self._paused_banner())
                continue
            if not self.paused and state is StoreState.UP:
                continue
            logger.warning("Redis is back or lost its data; resending every state")
            if not await self._rejoin_groups():
                continue
            self.paused = False
            for watcher in list(self.watchers.values()):
                # Replace the outage banner with the session's own, OpenCode's
                # error or none.
                await watcher.deliver(watcher.banner_html())
                for viewer_id in list(watcher.viewers):
                    with contextlib.suppress(Exception):
                        await watcher.bring_up_to_date(viewer_id)

    def _pause(self, reason: str) -> None:
        """Note that live updates stopped, so the store watcher catches up later."""
        if not self.paused:
            logger.warning("Live updates paused: %s", reason)
        self.paused = True

    @staticmethod
    def _paused_banner() -> str:
        return fragments.banner_html(STORE_DOWN_HEADLINE, STORE_DOWN_DETAIL)

    async def _deliver_everywhere(self, html: str) -> None:
        """Hand a fragment straight to every viewer in this process."""
        for watcher in list(self.watchers.values()):
            await watcher.deliver(html)

    async def _rejoin_groups(self) -> bool:
        """Renew this process's group memberships. Return False if the layer failed."""
        try:
            for watcher in list(self.watchers.values()):
                if watcher.holding:
                    await watcher.join_control_group()
                await watcher.channel_layer.group_add(
                    watcher.group, self.control_channel
                )
        except Exception as error:
            logger.warning("Group memberships not renewed: %s", error)
            return False
        return True

    async def _receive_control_messages(self, channel_layer) -> None:
        failures = 0
        while True:
            try:
                message = await channel_layer.receive(self.control_channel)
            except Exception as error:
                # Any failure of the layer, Redis down among them. Ending here
                # would leave other processes' nudges and state requests
                # unanswered until the last viewer left.
                failures += 1
                level = logging.WARNING if failures == 1 else logging.DEBUG
                logger.log(level, "Control channel receive failed: %s", error)
                await asyncio.sleep(min(CONTROL_RETRY_MAX, 0.25 * 2**failures))
                continue
            failures = 0
            watcher = self.watchers.get(str(message.get("session_id") or ""))
            if watcher is None:
                continue
            kind = message.get("type")
            try:
                if kind == "session.relay":
                    await watcher.deliver(
                        str(message.get("html") or ""), str(message.get("to") or "")
                    )
                elif kind == "watcher.nudge":
                    watcher.nudge(stopping=bool(message.get("stopping")))
                elif kind == "watcher.state":
                    await watcher.send_full_state(
                        str(message.get("reply_to") or ""),
                        str(message.get("reply_via") or ""),
                    )
            except ChannelFull:
                logger.warning(
                    "Control channel of a process watching %s is full; state not sent",
                    watcher.session_id,
                )


registry = WatcherRegistry()


async def request_poll(session_id: str, stopping: bool = False) -> None:
    """Ask the poller of SESSION_ID, in whichever process it runs, to poll now.

    STOPPING marks a run that a teammate interrupted (see `SessionWatcher.nudge`).
    """
    await get_channel_layer().group_send(
        control_group_name(session_id),
        {"type": "watcher.nudge", "session_id": session_id, "stopping": stopping},
    )
