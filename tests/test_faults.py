"""Fault injection: a proxy between the app and a real `opencode serve` misbehaves."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import time

import pytest
from asgiref.sync import sync_to_async
from redis.exceptions import RedisError

from opencode_ui.login import MAX_FAILURES
from sessions.opencode import OpenCodeUnreachable
from sessions.watch import SessionWatcher, WatcherRegistry, registry
from tests.conftest import wait_for
from tests.fault_proxy import FaultProxy
from tests.test_consumers import connect_viewer, receive_until
from tests.test_flow import start_session, wait_for_page, wait_for_question
from tests.test_live_updates import wait_until

pytestmark = [pytest.mark.integration]

FAULTS = {
    "drop": "OpenCode is unreachable",
    "delay": "OpenCode did not answer in time",
    "error": "OpenCode returned an error",
    "unauthorized": "OpenCode refused our credentials",
}


@pytest.fixture
def proxy(opencode_server):
    fault_proxy = FaultProxy(opencode_server.url)
    yield fault_proxy
    fault_proxy.mode = "pass"
    fault_proxy.close()


@pytest.fixture
def proxied(opencode_settings, proxy):
    opencode_settings.OPENCODE_URL = proxy.url
    return opencode_settings


@pytest.mark.django_db
@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_every_page_names_the_fault(
    owner_client, proxied, proxy, opencode_server, fault
):
    session_id = start_session(owner_client, opencode_server, f"before {fault}")
    proxied.OPENCODE_TIMEOUT = 0.5
    proxy.delay = 1.0
    proxy.mode = fault

    for path in ("/", "/sessions/", f"/sessions/{session_id}/", "/inbox/"):
        response = owner_client.get(path)
        text = response.content.decode()
        assert response.status_code == 200, path
        assert FAULTS[fault] in text, path
    assert "test-server-password" not in text


@pytest.mark.django_db
def test_failed_prompt_keeps_text(owner_client, proxied, proxy, opencode_server):
    session_id = start_session(owner_client, opencode_server, "first words")
    proxy.mode = "error"

    htmx = owner_client.post(
        f"/sessions/{session_id}/prompt/",
        {"prompt": "precious follow-up"},
        headers={"HX-Request": "true"},
    )
    plain = owner_client.post(
        f"/sessions/{session_id}/prompt/", {"prompt": "precious plain follow-up"}
    )
    new = owner_client.post(
        "/sessions/new/",
        {"workspace": opencode_server.workspaces[0], "prompt": "precious new session"},
    )

    assert htmx.status_code == 502
    assert "precious follow-up</textarea>" in htmx.content.decode()
    assert "OpenCode returned an error" in htmx.content.decode()
    assert plain.status_code == 502
    assert "precious plain follow-up</textarea>" in plain.content.decode()
    assert new.status_code == 502
    assert "precious new session</textarea>" in new.content.decode()


@pytest.mark.django_db
def test_failed_answer_keeps_form(owner_client, proxied, proxy, opencode_server, api):
    session_id = start_session(owner_client, opencode_server, "ask [[ask-multi]]")
    question_id = wait_for_question(api, session_id)["id"]
    wait_for_page(owner_client, session_id, question_id)
    url = f"/sessions/{session_id}/questions/{question_id}/"
    proxy.mode = "drop"

    reply = owner_client.post(
        url + "reply/",
        {"answer-0": ["Lint"], "custom-1": "keep me"},
        headers={"HX-Request": "true"},
    )
    reject = owner_client.post(url + "reject/", headers={"HX-Request": "true"})

    assert reply.status_code == 502
    assert "OpenCode is unreachable" in reply.content.decode()
    assert reject.status_code == 502
    assert reject["HX-Retarget"] == "#page-notice"
    proxy.mode = "pass"
    assert api.list_questions(session_id), "the question is still pending upstream"
    # Once OpenCode is back, the same reply goes through.
    retried = owner_client.post(
        url + "reply/", {"answer-0": ["Lint"], "custom-1": "keep me"}
    )
    assert retried.status_code == 302
    wait_for(lambda: not api.list_questions(session_id))


@pytest.mark.django_db(transaction=True)
async def test_poller_backs_off_and_recovers(
    proxied, proxy, owner, api, opencode_server
):
    session = await sync_to_async(api.create_session)(opencode_server.workspaces[0])
    session_id = session["id"]
    viewer = await connect_viewer(session_id, owner)
    await receive_until(viewer, 'id="transcript"')

    proxy.mode = "error"
    registry.nudge(session_id)
    banner = await receive_until(viewer, "OpenCode returned an error")
    failing_since = time.monotonic()
    await asyncio.sleep(3)
    polls_while_failing = proxy.requests_since(failing_since, "/api/session/")

    proxy.mode = "pass"
    cleared = await receive_until(
        viewer, '<div id="upstream-banner" class="banner"', timeout=45
    )

    assert 'id="upstream-banner"' in banner
    # Backoff: 0.2 s doubling per failure makes at most a handful of polls in 3 s,
    # each of four requests.
    assert polls_while_failing <= 5 * 4
    assert "OpenCode returned an error" not in cleared
    await viewer.disconnect()


@pytest.mark.django_db(transaction=True)
async def test_polling_stops_after_fifty_viewers_leave(
    proxied, proxy, owner, api, opencode_server
):
    session = await sync_to_async(api.create_session)(opencode_server.workspaces[0])
    session_id = session["id"]

    for _ in range(50):
        viewer = await connect_viewer(session_id, owner)
        await viewer.disconnect()
    left_at = time.monotonic()
    await asyncio.sleep(1.0)
    quiet_from = time.monotonic()
    await asyncio.sleep(2.0)

    assert session_id not in registry.watchers
    assert [t for t in asyncio.all_tasks() if t.get_name().startswith("watch ")] == []
    assert proxy.requests_since(quiet_from, session_id) == 0
    assert quiet_from - left_at < 1.5


@pytest.mark.django_db
def test_restart_mid_run_shows_interrupted(
    owner_client, opencode_settings, opencode_server, api
):
    session_id = start_session(owner_client, opencode_server, "wait [[bash:sleep 60]]")
    wait_for_page(owner_client, session_id, "badge-running")

    process = opencode_server.process.process
    os.killpg(process.pid, signal.SIGKILL)
    # The supervisor starts a new server on the same port, with the same data.
    wait_for(lambda: opencode_server.process.process.pid != process.pid, timeout=30)
    wait_for(lambda: _healthy(api), timeout=60)

    text = wait_for_page(owner_client, session_id, "badge-interrupted")
    assert "badge-running" not in text
    assert "status-idle" in text


def _healthy(api) -> bool:
    try:
        return bool(api.health())
    except Exception:
        return False


@pytest.mark.django_db
def test_pages_learn_when_opencode_returns(owner_client, proxied, proxy):
    proxy.mode = "drop"
    page = owner_client.get("/").content.decode()
    still_down = owner_client.get("/upstream/status/")

    proxy.mode = "pass"
    back = owner_client.get("/upstream/status/")

    assert 'hx-get="/upstream/status/"' in page
    assert "OpenCode is unreachable" in still_down.content.decode()
    assert 'hx-trigger="every 5s"' in still_down.content.decode()
    assert "HX-Trigger" not in still_down
    assert back["HX-Trigger"] == "upstream-recovered"
    assert "banner-error" not in back.content.decode()


@pytest.mark.django_db
def test_export_without_archive_explains(owner_client, proxied, proxy, opencode_server):
    session_id = start_session(owner_client, opencode_server, "not archived yet")
    proxy.mode = "drop"

    response = owner_client.get(f"/sessions/{session_id}/export.md")

    assert response.status_code == 502
    assert "OpenCode is unreachable" in response.content.decode()


@pytest.fixture
def dead_redis_url() -> str:
    """Name a Redis address on 127.0.0.1 where nothing listens."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"redis://127.0.0.1:{port}/0"


FORGIVING_CACHE = "opencode_ui.cache.ForgivingRedisCache"
PLAIN_CACHE = "django.core.cache.backends.redis.RedisCache"


def redis_cache_at(url: str, backend: str = FORGIVING_CACHE) -> dict:
    return {"default": {"BACKEND": backend, "LOCATION": url}}


@pytest.mark.django_db
def test_redis_outage_explained(owner_client, opencode_settings, dead_redis_url):
    # A plain Redis cache fails the request, as any unguarded use of Redis would.
    opencode_settings.CACHES = redis_cache_at(dead_redis_url, PLAIN_CACHE)
    login = {"username": "dana", "password": "typed-while-down"}

    plain = owner_client.post("/accounts/login/", login)
    htmx = owner_client.post("/accounts/login/", login, headers={"HX-Request": "true"})
    page = owner_client.get("/inbox/badge/")

    assert plain.status_code == 503
    assert "cannot reach Redis" in plain.content.decode()
    assert "what you typed is still in it" in plain.content.decode()
    assert "<h1>Dashboard store unavailable</h1>" in plain.content.decode()
    assert htmx.status_code == 503
    assert htmx["HX-Retarget"] == "#page-notice"
    assert "cannot reach Redis" in htmx.content.decode()
    assert page.status_code == 503
    assert "Reload this page in a minute" in page.content.decode()
    assert "Back button" not in page.content.decode()


@pytest.mark.django_db
def test_cache_outage_keeps_login_working(
    client, owner, settings, dead_redis_url, caplog
):
    settings.CACHES = redis_cache_at(dead_redis_url)

    failures = [
        client.post("/accounts/login/", {"username": "dana", "password": "wrong"})
        for _ in range(MAX_FAILURES + 1)
    ]
    success = client.post(
        "/accounts/login/", {"username": "dana", "password": "dana-password-1"}
    )

    # Without Redis nothing counts the failures, so none is blocked.
    assert [response.status_code for response in failures] == [200] * (MAX_FAILURES + 1)
    assert success.status_code == 302
    assert "Cache get skipped because Redis failed" in caplog.text


@pytest.mark.django_db
def test_prompt_sent_while_redis_is_down(
    owner_client, opencode_settings, opencode_server, api, dead_redis_url, caplog
):
    session_id = start_session(owner_client, opencode_server, "before the outage")
    opencode_settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [dead_redis_url]},
        }
    }

    response = owner_client.post(
        f"/sessions/{session_id}/prompt/", {"prompt": "during the outage"}
    )

    assert response.status_code == 302
    assert wait_for(
        lambda: any(
            message.get("text") == "during the outage"
            for message in api.all_messages(session_id)
        )
    )
    assert f"Poller of {session_id} not nudged" in caplog.text


class FlakyLayer:
    """A channel layer whose first receive fails, as when Redis restarts."""

    def __init__(self, session_id: str) -> None:
        self.replies = [
            ConnectionError("Redis went away"),
            {"type": "watcher.nudge", "session_id": session_id, "stopping": True},
        ]

    async def receive(self, channel: str) -> dict:
        if not self.replies:
            await asyncio.Event().wait()  # nothing more arrives
        reply = self.replies.pop(0)
        if isinstance(reply, Exception):
            raise reply
        return reply


async def test_control_loop_survives_failed_receive(caplog):
    watcher = WatcherStub()
    control = WatcherRegistry()
    control.watchers["ses_flaky"] = watcher
    task = asyncio.create_task(
        control._receive_control_messages(FlakyLayer("ses_flaky"))
    )
    try:
        await asyncio.wait_for(watcher.nudged.wait(), timeout=5)
    finally:
        task.cancel()
    assert watcher.stopping
    assert "Control channel receive failed: Redis went away" in caplog.text


class WatcherStub:
    def __init__(self) -> None:
        self.nudged = asyncio.Event()
        self.stopping = False

    def nudge(self, stopping: bool = False) -> None:
        self.stopping = stopping
        self.nudged.set()


class FailingGroupsLayer:
    """A channel layer that cannot add group members, as while Redis is down."""

    async def group_add(self, group: str, channel: str) -> None:
        raise ConnectionError("Redis went away")

    async def group_discard(self, group: str, channel: str) -> None:
        raise ConnectionError("Redis went away")


class CountingLease:
    ttl = 60.0

    def __init__(self) -> None:
        self.releases = 0

    async def acquire(self) -> bool:
        return True

    async def renew(self) -> bool:
        return True

    async def release(self) -> None:
        self.releases += 1


class IdleClient:
    async def aclose(self) -> None:
        return None


async def test_unreachable_poller_gives_up_its_lease(caplog):
    lease = CountingLease()
    watcher = SessionWatcher(
        "ses_unreachable", IdleClient, lease=lease, control_channel="specific.a!b"
    )
    watcher.channel_layer = FailingGroupsLayer()
    watcher.start()
    try:
        await wait_until(lambda: lease.releases >= 1)
    finally:
        await watcher.stop()

    assert watcher.polls == 0
    assert not watcher.holding
    assert "Poller of ses_unreachable cannot take requests" in caplog.text


async def test_poller_survives_a_failed_publish(caplog):
    lease = CountingLease()
    watcher = SessionWatcher("ses_publish", IdleClient, lease=lease)
    polls = []

    async def poll(client, fresh_status: bool) -> str:
        polls.append(fresh_status)
        if len(polls) == 1:
            raise RedisError("Redis went away")
        await asyncio.Event().wait()  # the second poll never ends
        return ""

    watcher._poll = poll
    watcher.start()
    try:
        await wait_until(lambda: len(polls) == 2)
    finally:
        await watcher.stop()

    assert lease.releases >= 1
    assert "Poller of ses_publish failed: Redis went away" in caplog.text


async def test_unready_poller_sends_its_error():
    watcher = SessionWatcher("ses_unready")
    watcher.holding = True
    watcher._error = OpenCodeUnreachable("connection refused")
    process_channel = await watcher.channel_layer.new_channel()

    await watcher.send_full_state("viewer-1", process_channel)
    message = await watcher.channel_layer.receive(process_channel)

    assert message["to"] == "viewer-1"
    assert "OpenCode is unreachable" in message["html"]
    assert "Connection refused" in message["html"]


@pytest.mark.django_db(transaction=True)
async def test_leave_survives_a_cancelled_handler(
    opencode_settings, owner, api, opencode_server
):
    session_id = (
        await sync_to_async(api.create_session)(opencode_server.workspaces[0])
    )["id"]
    viewer = await connect_viewer(session_id, owner)
    changes = registry._changes_lock()
    await changes.acquire()
    try:
        await viewer.send_input({"type": "websocket.disconnect", "code": 1000})
        await asyncio.sleep(0.2)  # the handler now waits for the registry
        # Daphne cancels a handler that takes too long to close.
        viewer.future.cancel()
        await asyncio.sleep(0.1)
    finally:
        changes.release()

    await wait_until(lambda: session_id not in registry.watchers)


async def test_stop_survives_swallowed_cancellation():
    watcher = SessionWatcher("ses_stubborn", IdleClient, lease=CountingLease())
    swallowed = []

    async def poll(client, fresh_status: bool) -> str:
        return "idle"

    async def stubborn_sleep(seconds: float) -> bool:
        try:
            await asyncio.sleep(seconds)
        except asyncio.CancelledError:
            if swallowed:
                raise
            swallowed.append(True)  # as `asyncio.wait_for` can on Python 3.11
        return True

    watcher._poll = poll
    watcher._sleep = stubborn_sleep
    watcher.start()
    await wait_until(lambda: watcher.holding)

    # Not `wait_for`, whose own cancellation on timeout would end the watcher.
    stopping = asyncio.create_task(watcher.stop())
    finished, _ = await asyncio.wait({stopping}, timeout=5)
    if not finished:
        watcher.task.cancel()  # let the test end either way

    assert stopping in finished
    assert swallowed == [True]
    assert watcher.task.done()
