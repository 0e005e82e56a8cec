"""Streamed text and event-driven polling, against a real `opencode serve`."""

from __future__ import annotations

import asyncio
import re

import pytest
from asgiref.sync import sync_to_async

from sessions.watch import registry
from tests.test_consumers import collect, connect_viewer, receive_until

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

DELTA_FRAGMENT = re.compile(
    r'<span id="stream-(msg_\w+)-([\w-]+)" hx-swap-oob="beforeend">([^<]*)</span>'
)


async def wait_until(condition, timeout: float = 15.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            raise AssertionError(f"condition still false after {timeout} s")
        await asyncio.sleep(0.05)


@pytest.fixture
def idle_session(api, opencode_server):
    return api.create_session(opencode_server.workspaces[0])["id"]


async def test_streamed_words_reach_viewers(
    opencode_settings, owner, api, idle_session
):
    viewer = await connect_viewer(idle_session, owner)
    await receive_until(viewer, 'id="transcript" hx-swap-oob="innerHTML"')
    await wait_until(lambda: registry.events.connected)

    await sync_to_async(api.send_prompt)(idle_session, "type slowly [[slow]]")
    fragments = await collect(viewer, "word29</p>")

    # The part appears as a streaming element holding the words so far, then each
    # later word arrives as a small fragment that appends to it.
    placeholder = next(f for f in fragments if "data-streaming" in f)
    assert re.search(r'id="stream-msg_\w+-[\w-]+" data-streaming>word\d', placeholder)
    deltas = [m for f in fragments for m in DELTA_FRAGMENT.findall(f)]
    assert len(deltas) >= 10, f"only {len(deltas)} streamed chunks were pushed"
    assert deltas[-1][2].startswith(" word")
    assert all(len(f) < 200 for f in fragments if DELTA_FRAGMENT.fullmatch(f))
    # The ended part replaces the streamed text with the rendered whole.
    final = fragments[-1]
    assert 'hx-swap-oob="outerHTML"' in final
    assert "data-streaming" not in final
    assert "word0 word1" in final
    await viewer.disconnect()


async def test_late_viewer_sees_streamed_text(
    opencode_settings, owner, teammate, api, idle_session
):
    first = await connect_viewer(idle_session, owner)
    await receive_until(first, 'id="transcript" hx-swap-oob="innerHTML"')
    await wait_until(lambda: registry.events.connected)
    await sync_to_async(api.send_prompt)(idle_session, "type slowly [[slow]]")
    await receive_until(first, "word5")

    late = await connect_viewer(idle_session, teammate)
    full = await receive_until(late, 'id="transcript" hx-swap-oob="innerHTML"')

    assert "data-streaming" in full
    assert re.search(r"word0 word1 word2 word3 word4 word5", full)
    await first.disconnect()
    await late.disconnect()


async def test_one_event_stream_per_process(
    opencode_settings, owner, api, opencode_server
):
    sessions = [
        (await sync_to_async(api.create_session)(directory))["id"]
        for directory in opencode_server.workspaces
    ]
    viewers = [await connect_viewer(session_id, owner) for session_id in sessions]
    await wait_until(lambda: registry.events.connected)

    readers = [
        task for task in asyncio.all_tasks() if task.get_name() == "opencode events"
    ]
    assert len(readers) == 1
    assert set(registry.watchers) == set(sessions)

    for viewer in viewers:
        await viewer.disconnect()
    assert registry.events is None
    assert all(task.done() for task in readers)


async def test_idle_session_waits_for_events(
    opencode_settings, owner, api, idle_session
):
    viewer = await connect_viewer(idle_session, owner)
    await receive_until(viewer, 'id="transcript" hx-swap-oob="innerHTML"')
    await wait_until(lambda: registry.events.connected)
    watcher = registry.watchers[idle_session]
    polls_when_idle = watcher.polls
    active_requests = registry.active_sessions.requests

    # OPENCODE_POLL_IDLE_MAX is 1 s here: without events this would be 3 polls.
    await asyncio.sleep(3)
    assert watcher.polls - polls_when_idle <= 1
    assert registry.active_sessions.requests - active_requests <= 1

    # A prompt sent straight to OpenCode, not through a view, still shows at once.
    await sync_to_async(api.send_prompt)(idle_session, "wake the poller")
    await receive_until(viewer, "Scripted reply to: wake the poller", timeout=5)
    await viewer.disconnect()


async def test_streamed_text_hides_password(
    opencode_settings, owner, api, idle_session, opencode_server
):
    viewer = await connect_viewer(idle_session, owner)
    await receive_until(viewer, 'id="transcript" hx-swap-oob="innerHTML"')
    await wait_until(lambda: registry.events.connected)

    # The scripted model repeats the command's output, the server's environment
    # included, as streamed text.
    await sync_to_async(api.send_prompt)(idle_session, "show it [[bash:env]]")
    fragments = await collect(viewer, "Tool result received")

    assert any("OPENCODE_SERVER_PASSWORD=[hidden]" in f for f in fragments)
    assert all(opencode_server.password not in f for f in fragments)
    await viewer.disconnect()
