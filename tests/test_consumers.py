"""The WebSocket consumer and its shared poller, against a real `opencode serve`."""

from __future__ import annotations

import asyncio

import pytest
from asgiref.sync import sync_to_async
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import AnonymousUser

from opencode_ui.asgi import application
from sessions.routing import websocket_urlpatterns
from sessions.watch import registry

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


async def collect(communicator, until: str, timeout: float = 20.0) -> list[str]:
    """Collect every pushed fragment up to and including one containing UNTIL."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    seen: list[str] = []
    while loop.time() < deadline:
        try:
            message = await communicator.receive_from(timeout=deadline - loop.time())
        except TimeoutError:
            break
        seen.append(message)
        if until in message:
            return seen
    raise AssertionError(f"{until!r} never arrived; got {len(seen)} messages")


async def receive_until(communicator, needle: str, timeout: float = 15.0) -> str:
    """Return the first pushed fragment that contains NEEDLE."""
    return (await collect(communicator, needle, timeout))[-1]


async def connect_viewer(session_id: str, user) -> WebsocketCommunicator:
    communicator = WebsocketCommunicator(
        URLRouter(websocket_urlpatterns), f"/ws/sessions/{session_id}/"
    )
    communicator.scope["user"] = user
    connected, _ = await communicator.connect()
    assert connected
    return communicator


@pytest.fixture
def started_session(api, opencode_server):
    session = api.create_session(opencode_server.workspaces[0])
    api.send_prompt(session["id"], "hello viewers")
    return session["id"]


async def test_two_viewers_share_one_poller(
    opencode_settings, owner, teammate, started_session, api
):
    first = await connect_viewer(started_session, owner)
    second = await connect_viewer(started_session, teammate)

    for viewer in (first, second):
        await receive_until(viewer, "Scripted reply to: hello viewers")
    assert list(registry.watchers) == [started_session]
    watcher = registry.watchers[started_session]
    assert len(watcher.viewers) == 2

    await sync_to_async(api.send_prompt)(started_session, "second round")
    registry.nudge(started_session)
    for viewer in (first, second):
        fragment = await receive_until(viewer, "Scripted reply to: second round")
        assert 'hx-swap-oob="beforeend"' in fragment
        assert "hello viewers" not in fragment, "only changed messages are pushed"

    await first.disconnect()
    assert registry.watchers[started_session] is watcher
    await second.disconnect()
    assert started_session not in registry.watchers
    assert watcher.task.done()


async def test_poller_stops_after_repeated_connects(
    opencode_settings, owner, started_session
):
    watchers = set()
    for _ in range(10):
        viewer = await connect_viewer(started_session, owner)
        watchers.add(registry.watchers[started_session])
        await viewer.disconnect()

    assert started_session not in registry.watchers
    assert all(watcher.task.done() for watcher in watchers)
    leftover = [
        task for task in asyncio.all_tasks() if task.get_name().startswith("watch ")
    ]
    assert leftover == []


async def test_churn_while_streaming_leaves_no_poller(
    opencode_settings, owner, api, opencode_server
):
    session = await sync_to_async(api.create_session)(opencode_server.workspaces[0])
    session_id = session["id"]
    await sync_to_async(api.send_prompt)(session_id, "stream through churn [[slow]]")
    # Streamed words nudge the poller, so some leaves meet a nudge mid-cancel. A
    # watcher that never stops would block every later join, so bound the wait.
    async with asyncio.timeout(60):
        for round_number in range(30):
            viewer = await connect_viewer(session_id, owner)
            await asyncio.sleep(0.02 * (round_number % 5))
            await viewer.disconnect()

    assert session_id not in registry.watchers
    latecomer = await connect_viewer(session_id, owner)
    await receive_until(latecomer, 'id="transcript" hx-swap-oob="innerHTML"')
    await latecomer.disconnect()


async def test_late_viewer_gets_full_state(
    opencode_settings, owner, teammate, started_session
):
    first = await connect_viewer(started_session, owner)
    await receive_until(first, "Scripted reply to: hello viewers")

    late = await connect_viewer(started_session, teammate)
    full = await receive_until(late, 'id="transcript" hx-swap-oob="innerHTML"')

    assert "Scripted reply to: hello viewers" in full
    assert 'id="session-status"' in full
    await first.disconnect()
    await late.disconnect()


async def test_question_pushed_and_removed(
    opencode_settings, owner, api, opencode_server
):
    session = await sync_to_async(api.create_session)(opencode_server.workspaces[0])
    session_id = session["id"]
    viewer = await connect_viewer(session_id, owner)
    await sync_to_async(api.send_prompt)(session_id, "go [[ask-single]]")
    registry.nudge(session_id)

    fragment = await receive_until(viewer, 'name="answer-0" value="Blue"')
    questions = await sync_to_async(api.list_questions)(session_id)
    question_id = questions[0]["id"]
    assert f"/questions/{question_id}/reply/" in fragment

    await sync_to_async(api.reply_question)(session_id, question_id, [["Red"]])
    registry.nudge(session_id)
    removal = await receive_until(
        viewer, f'id="question-{question_id}" hx-swap-oob="delete"'
    )
    assert removal
    await viewer.disconnect()


async def test_anonymous_viewer_rejected(opencode_settings, started_session):
    communicator = WebsocketCommunicator(
        URLRouter(websocket_urlpatterns), f"/ws/sessions/{started_session}/"
    )
    communicator.scope["user"] = AnonymousUser()

    connected, code = await communicator.connect()

    assert not connected
    assert code == 4401
    assert started_session not in registry.watchers


async def test_foreign_origin_rejected(opencode_settings, started_session):
    communicator = WebsocketCommunicator(
        application,
        f"/ws/sessions/{started_session}/",
        headers=[(b"origin", b"http://evil.example"), (b"host", b"127.0.0.1")],
    )

    connected, _ = await communicator.connect()

    assert not connected
    assert started_session not in registry.watchers


async def test_quiet_run_reported_stuck(opencode_settings, owner, api, opencode_server):
    opencode_settings.OPENCODE_STUCK_AFTER = 0.5
    session = await sync_to_async(api.create_session)(opencode_server.workspaces[0])
    session_id = session["id"]
    viewer = await connect_viewer(session_id, owner)
    # A command that prints nothing for seconds; streamed words would count as
    # progress.
    await sync_to_async(api.send_prompt)(session_id, "wait quietly [[bash:sleep 4]]")
    registry.nudge(session_id)

    fragment = await receive_until(viewer, "the agent may be stuck")

    assert 'id="session-status"' in fragment
    assert "Interrupt" in fragment
    await viewer.disconnect()
