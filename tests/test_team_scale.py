"""Two daphne processes on PostgreSQL and Redis, serving the same users.

Each test starts real PostgreSQL and Redis servers (tests/services.py), two daphne
processes that share them, and WebSocket viewers on both processes.
"""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import redis
from asgiref.sync import sync_to_async
from websockets.asyncio.client import ClientConnection, connect

from opencode_ui.login import MAX_FAILURES
from sessions.lease import KEY_PREFIX
from tests import services
from tests.conftest import REPO_DIR

pytestmark = [pytest.mark.integration]

USERNAME = "robin"
PASSWORD = "robin-team-password"
# Seconds a dead holder's lease outlives it; short so the takeover test is quick.
LEASE_TTL = 2.0


@dataclass
class Team:
    processes: list[services.Daphne]
    redis: redis.Redis
    session_cookie: str

    def holder_pid(self, session_id: str) -> int | None:
        token = self.redis.get(KEY_PREFIX + session_id)
        return int(token.decode().split(":")[1]) if token else None


@pytest.fixture(scope="module")
def team_services() -> Iterator[tuple[services.Service, services.Service]]:
    postgres = services.start_postgres()
    redis_server = services.start_redis()
    yield postgres, redis_server
    redis_server.stop()
    postgres.stop()


@pytest.fixture(scope="module")
def team_environment(team_services, opencode_server, tmp_path_factory):
    postgres, redis_server = team_services
    environment = {
        **os.environ,
        "DATABASE_URL": postgres.url,
        "REDIS_URL": redis_server.url,
        "DJANGO_SECRET_KEY": "team-scale-test-secret-key-not-for-production",
        "OPENCODE_UI_VAR_DIR": str(tmp_path_factory.mktemp("team-var")),
        "OPENCODE_URL": opencode_server.url,
        "OPENCODE_SERVER_PASSWORD": opencode_server.password,
        "OPENCODE_WORKSPACES": ",".join(opencode_server.workspaces),
        "OPENCODE_POLL_ACTIVE": "0.2",
        "OPENCODE_UI_LEASE_TTL": str(LEASE_TTL),
        "OPENCODE_UI_LOG_LEVEL": "INFO",
        "DJANGO_SUPERUSER_PASSWORD": PASSWORD,
    }
    services.prepare_database(environment, USERNAME)
    return environment


@pytest.fixture
def team(team_environment, team_services, tmp_path) -> Iterator[Team]:
    processes = [
        services.start_daphne(team_environment, tmp_path / f"daphne-{n}.log", REPO_DIR)
        for n in (1, 2)
    ]
    client = redis.Redis.from_url(team_services[1].url)
    try:
        # Logged in through the first process, the cookie works on both: the
        # sessions live in PostgreSQL.
        cookie = services.log_in(processes[0].url, USERNAME, PASSWORD)
        yield Team(processes, client, cookie)
    finally:
        for process in processes:
            process.stop()
        client.close()


async def open_viewer(
    team: Team, process: services.Daphne, session_id: str
) -> ClientConnection:
    viewer = await connect(
        services.websocket_url(process.url, session_id),
        **services.websocket_options(process.url, team.session_cookie),
    )
    await receive_until(viewer, 'id="transcript" hx-swap-oob="innerHTML"')
    return viewer


async def receive_until(viewer: ClientConnection, needle: str, timeout=20.0) -> str:
    async with asyncio.timeout(timeout):
        while True:
            message = await viewer.recv()
            if needle in message:
                return message


async def wait_for_holder(team: Team, session_id: str, not_pid: int = 0) -> int:
    async with asyncio.timeout(LEASE_TTL * 5):
        while True:
            pid = await sync_to_async(team.holder_pid)(session_id)
            if pid is not None and pid != not_pid:
                return pid
            await asyncio.sleep(0.1)


def poller_starts(process: services.Daphne, session_id: str) -> int:
    return process.log_text().count(f"Poller started for {session_id}")


async def test_processes_share_one_poller(team, api, opencode_server):
    sessions = [
        (await sync_to_async(api.create_session)(directory))["id"]
        for directory in opencode_server.workspaces
    ]
    viewers = {
        (session_id, process.pid): await open_viewer(team, process, session_id)
        for session_id in sessions
        for process in team.processes
    }

    pids = {process.pid for process in team.processes}
    for session_id in sessions:
        assert await wait_for_holder(team, session_id) in pids
        await sync_to_async(api.send_prompt)(session_id, f"hello team {session_id}")
    for (session_id, _), viewer in viewers.items():
        await receive_until(viewer, f"Scripted reply to: hello team {session_id}")

    for session_id in sessions:
        starts = sorted(
            poller_starts(process, session_id) for process in team.processes
        )
        assert starts == [0, 1], "exactly one process polls each session"
    for viewer in viewers.values():
        await viewer.close()


async def test_streamed_text_reaches_both_processes(team, api, opencode_server):
    session = await sync_to_async(api.create_session)(opencode_server.workspaces[0])
    viewers = [
        await open_viewer(team, process, session["id"]) for process in team.processes
    ]
    await wait_for_holder(team, session["id"])

    await sync_to_async(api.send_prompt)(session["id"], "stream to all [[slow]]")
    for viewer in viewers:
        delta = await receive_until(viewer, 'hx-swap-oob="beforeend"> word')
        assert delta.startswith('<span id="stream-msg_')
    for viewer in viewers:
        await viewer.close()


async def test_lease_moves_when_holder_dies(team, api, opencode_server):
    session = await sync_to_async(api.create_session)(opencode_server.workspaces[1])
    session_id = session["id"]
    viewers = {
        process.pid: await open_viewer(team, process, session_id)
        for process in team.processes
    }
    holder_pid = await wait_for_holder(team, session_id)
    (survivor,) = [p for p in team.processes if p.pid != holder_pid]

    os.kill(holder_pid, signal.SIGKILL)
    new_pid = await wait_for_holder(team, session_id, not_pid=holder_pid)

    assert new_pid == survivor.pid
    assert poller_starts(survivor, session_id) == 1
    await sync_to_async(api.send_prompt)(session_id, "after the takeover")
    await receive_until(viewers[survivor.pid], "Scripted reply to: after the takeover")
    await viewers[survivor.pid].close()


def test_login_limit_holds_across_processes(team):
    first, second = team.processes
    try:
        for _ in range(MAX_FAILURES):
            assert services.try_log_in(first.url, "sam", "wrong") == 200
        # The failures counted by the first process block the second one too.
        assert services.try_log_in(second.url, "sam", "wrong") == 429
    finally:
        for key in team.redis.scan_iter("*login-failures*"):
            team.redis.delete(key)


async def test_live_updates_recover_after_redis_restarts(
    team_environment, api, opencode_server, tmp_path
):
    redis_server = services.start_redis()
    environment = {**team_environment, "REDIS_URL": redis_server.url}
    processes = [
        services.start_daphne(environment, tmp_path / f"daphne-{n}.log", REPO_DIR)
        for n in (1, 2)
    ]
    client = redis.Redis.from_url(redis_server.url)
    try:
        cookie = services.log_in(processes[0].url, USERNAME, PASSWORD)
        team = Team(processes, client, cookie)
        session = await sync_to_async(api.create_session)(opencode_server.workspaces[0])
        session_id = session["id"]
        viewers = [
            await open_viewer(team, process, session_id) for process in processes
        ]
        await wait_for_holder(team, session_id)

        # The sockets stay open while Redis is down, and their pages show why
        # nothing moves.
        port = int(redis_server.url.rsplit(":", 1)[1].split("/")[0])
        redis_server.stop()
        for viewer in viewers:
            await receive_until(viewer, "Live updates paused")
        # A page opened during the outage gets the same banner, and catches up later.
        latecomer = await connect(
            services.websocket_url(processes[1].url, session_id),
            **services.websocket_options(processes[1].url, team.session_cookie),
        )
        await receive_until(latecomer, "Live updates paused")
        viewers.append(latecomer)

        # Redis comes back empty: the leases and group memberships are gone.
        redis_server = services.start_redis(port)
        await sync_to_async(api.send_prompt)(session_id, "after the restart")
        for viewer in viewers:
            await receive_until(viewer, "Scripted reply to: after the restart")
            await viewer.close()
    finally:
        for process in processes:
            process.stop()
        client.close()
        redis_server.stop()


async def test_viewers_recover_when_redis_is_emptied(team, api, opencode_server):
    session = await sync_to_async(api.create_session)(opencode_server.workspaces[1])
    session_id = session["id"]
    viewers = [
        await open_viewer(team, process, session_id) for process in team.processes
    ]
    await wait_for_holder(team, session_id)

    # The sockets stay open, but the leases and group memberships are gone.
    await sync_to_async(team.redis.flushall)()
    await wait_for_holder(team, session_id)
    await sync_to_async(api.send_prompt)(session_id, "after the flush")

    for viewer in viewers:
        await receive_until(viewer, "Scripted reply to: after the flush")
        await viewer.close()


async def test_viewer_churn_leaves_processes_working(team, api, opencode_server):
    session = await sync_to_async(api.create_session)(opencode_server.workspaces[0])
    session_id = session["id"]
    await sync_to_async(api.send_prompt)(session_id, "stream through churn [[slow]]")

    async def churn(process: services.Daphne, seed: int) -> None:
        for round_number in range(15):
            viewer = await connect(
                services.websocket_url(process.url, session_id),
                **services.websocket_options(process.url, team.session_cookie),
            )
            await asyncio.sleep(0.01 * ((seed + round_number) % 7))
            await viewer.close()

    await asyncio.gather(
        *(churn(process, seed) for seed in range(4) for process in team.processes)
    )

    # Every process still takes new viewers and brings them up to date.
    for process in team.processes:
        viewer = await open_viewer(team, process, session_id)
        await viewer.close()
