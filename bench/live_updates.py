"""Measure live updates against a real OpenCode server and the scripted model.

Run by hand from the repository root (after `bin/setup --test`):

    .venv/bin/python bench/live_updates.py

It starts the scripted model, `opencode serve`, a counting proxy in front of
OpenCode and one daphne process of the app, all on 127.0.0.1, then prints:

- update latency: from the `session.next.text.ended` event on OpenCode's event
  stream (the moment the server has the finished part) to each WebSocket viewer
  receiving the rendered part, p50 and p95, for 1, 50 and 200 viewers spread over
  10 sessions;
- streamed text latency: from each `session.next.text.delta` event to a viewer
  receiving that chunk, for the first word of a part and for every word, p95;
- upstream requests per second per watched session, idle and active, for 1 and
  200 viewers, counted by the proxy (the one long event-stream request apart);
- bytes pushed per update and per streamed chunk;
- server memory (RSS) per open WebSocket;
- time to serve a 2,000-message transcript page.

With `--team` it serves the app from two daphne processes that share throwaway
PostgreSQL and Redis servers, as a team deployment does. Each session's viewers are
spread over both processes, and the memory figure is the sum of both.

The viewers run in this process, so on a small machine they compete with the
server for CPU and the figures include their own scheduling delay.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

REPO_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_DIR))

import httpx  # noqa: E402
from websockets.asyncio.client import ClientConnection, connect  # noqa: E402

from sessions.managed_server import ManagedOpenCode  # noqa: E402
from sessions.opencode import AsyncOpenCodeClient, OpenCodeClient  # noqa: E402
from tests import fake_model, services  # noqa: E402
from tests.conftest import OPENCODE_BIN, _make_workspace, _write_config  # noqa: E402

SESSIONS = 10
VIEWER_COUNTS = (1, 50, 200)
LOAD_VIEWER_COUNTS = (1, 200)
USERNAME = "bench"
PASSWORD = "bench-password-1"
OPENCODE_PASSWORD = "bench-server-password"
LONG_TRANSCRIPT_MESSAGES = 2_000
FULL_STATE = 'id="transcript" hx-swap-oob="innerHTML"'
LAST_SLOW_WORD = "word29</p>"


def rendered_reply(token: str) -> str:
    """Return the scripted model's reply to TOKEN as the rendered message shows it."""
    return f"<p>Scripted reply to: {token}</p>"


# Counting proxy between the app and OpenCode


REQUEST_LINE = re.compile(rb"(GET|POST|PUT|PATCH|DELETE) (/[^ ?]*)\S* HTTP/1\.[01]\r\n")
SESSION_IN_PATH = re.compile(rb"ses_\w+")


class CountingProxy:
    """Forward TCP to OpenCode in its own thread and count the HTTP requests."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.counts: Counter[str] = Counter()
        self.port = 0
        self._ready = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()
        self._ready.wait()

    def _serve(self) -> None:
        asyncio.run(self._main())

    async def _main(self) -> None:
        server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        await server.serve_forever()

    async def _handle(self, reader, writer) -> None:
        upstream_reader, upstream_writer = await asyncio.open_connection(
            "127.0.0.1", self.target_port
        )
        await asyncio.gather(
            self._pump(reader, upstream_writer, count=True),
            self._pump(upstream_reader, writer, count=False),
            return_exceptions=True,
        )

    async def _pump(self, source, target, count: bool) -> None:
        try:
            while data := await source.read(65536):
                if count:
                    for found in REQUEST_LINE.finditer(data):
                        route = SESSION_IN_PATH.sub(b"{id}", found.group(2))
                        self.counts[f"{found.group(1).decode()} {route.decode()}"] += 1
                target.write(data)
                await target.drain()
        finally:
            target.close()

    def snapshot(self) -> Counter[str]:
        return Counter(self.counts)


# Viewers and OpenCode's event stream, as seen from this process


@dataclass
class Viewer:
    """One WebSocket viewer that stamps each message with its arrival time.

    Checking every message against a few expected patterns as it arrives keeps
    the waiting cheap, so the viewers' own CPU use delays the server little.
    """

    session_id: str
    connection: ClientConnection
    received: list[tuple[float, str]] = field(default_factory=list)
    found: dict[str, tuple[float, str] | None] = field(default_factory=dict)
    task: asyncio.Task | None = None

    def expect(self, pattern: str) -> None:
        self.found.setdefault(pattern, None)

    def has(self, pattern: str) -> bool:
        return self.found.get(pattern) is not None

    async def read(self) -> None:
        async for raw in self.connection:
            moment = time.monotonic()
            message = str(raw)
            self.received.append((moment, message))
            for pattern, seen in self.found.items():
                if seen is None and pattern in message:
                    self.found[pattern] = (moment, message)

    def first(self, pattern: str, since: float) -> tuple[float, str] | None:
        for moment, message in self.received:
            if moment >= since and pattern in message:
                return moment, message
        return None

    def arrivals(self, since: float) -> dict[str, float]:
        """Map each distinct message received since SINCE to its first arrival."""
        times: dict[str, float] = {}
        for moment, message in self.received:
            if moment >= since:
                times.setdefault(message, moment)
        return times


@dataclass
class EventLog:
    ended: list[tuple[float, str, str]] = field(default_factory=list)
    deltas: list[tuple[float, str, str, str]] = field(default_factory=list)

    async def follow(self, client: AsyncOpenCodeClient) -> None:
        async for event in client.events(read_timeout=600):
            moment = time.monotonic()
            data = event.get("data") or {}
            kind = event.get("type")
            if kind == "session.next.text.ended":
                self.ended.append(
                    (moment, data.get("sessionID"), str(data.get("text") or ""))
                )
            elif kind == "session.next.text.delta":
                self.deltas.append(
                    (
                        moment,
                        data.get("assistantMessageID"),
                        data.get("textID"),
                        data.get("delta"),
                    )
                )


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))
    return ordered[index]


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


class Bench:
    def __init__(self, root: Path, rounds: int, team: bool = False) -> None:
        self.root = root
        self.rounds = rounds
        self.team = team
        self.results: list[str] = []
        self.services: list[services.Service] = []

    # Set-up

    def start(self) -> None:
        self.model = fake_model.start()
        home = self.root / "home"
        _write_config(home, self.model.server_address[1])
        self.workspace = _make_workspace(self.root / "workspace")
        self.opencode = ManagedOpenCode(
            OPENCODE_BIN,
            Path(self.workspace),
            password=OPENCODE_PASSWORD,
            environment={
                "PATH": os.environ.get("PATH", ""),
                "HOME": str(home),
                "OPENCODE_DISABLE_MODELS_FETCH": "1",
            },
            log_path=self.root / "opencode.log",
            extra_arguments=("--pure",),
        )
        self.opencode.start()

        self.api = OpenCodeClient(self.opencode.url, "opencode", OPENCODE_PASSWORD, 60)
        self.proxy = CountingProxy(self.opencode.port)

        environment = {
            **os.environ,
            "OPENCODE_UI_VAR_DIR": str(self.root / "var"),
            "OPENCODE_URL": f"http://127.0.0.1:{self.proxy.port}",
            "OPENCODE_SERVER_PASSWORD": OPENCODE_PASSWORD,
            "OPENCODE_WORKSPACES": self.workspace,
            "OPENCODE_UI_LOG_LEVEL": "WARNING",
            "DJANGO_SUPERUSER_PASSWORD": PASSWORD,
        }
        if self.team:
            postgres = services.start_postgres()
            self.services.append(postgres)
            redis_server = services.start_redis()
            self.services.append(redis_server)
            environment["DATABASE_URL"] = postgres.url
            environment["REDIS_URL"] = redis_server.url
        services.prepare_database(environment, USERNAME)
        self.apps = [
            services.start_daphne(environment, self.root / f"daphne-{n}.log", REPO_DIR)
            for n in range(2 if self.team else 1)
        ]
        self.app = self.apps[0]
        self.cookie = services.log_in(self.app.url, USERNAME, PASSWORD)

        self.sessions = [
            self.api.create_session(self.workspace)["id"] for _ in range(SESSIONS)
        ]
        for session_id in self.sessions:
            self.prompt_and_wait(session_id, "warm up")

    def stop(self) -> None:
        stops = [app.stop for app in self.apps]
        stops += [self.opencode.stop, self.model.shutdown]
        stops += [service.stop for service in self.services]
        for stop in stops:
            try:
                stop()
            except Exception as error:  # keep stopping the others
                print(f"stopping failed: {error}", file=sys.stderr)

    def prompt_and_wait(self, session_id: str, text: str) -> None:
        """Send a prompt and wait for its reply to finish.

        `POST /api/session/{id}/wait` can return before the run starts, so this
        watches the newest message instead, straight from OpenCode (not counted).
        """
        previous = self.newest_message(session_id).get("id") or ""
        self.api.send_prompt(session_id, text)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            message = self.newest_message(session_id)
            # OpenCode's message ids sort in the order the messages were created.
            newer = str(message.get("id") or "") > previous
            done = (message.get("time") or {}).get("completed")
            if newer and message.get("type") == "assistant" and done:
                return
            time.sleep(0.02)
        raise RuntimeError(f"no reply to {text!r} in {session_id} within 120 s")

    def newest_message(self, session_id: str) -> dict:
        page = self.api.list_messages(session_id, limit=1, order="desc")
        return (page.get("data") or [{}])[0]

    def report(self, line: str) -> None:
        print(line, flush=True)
        self.results.append(line)

    # Viewers

    async def open_viewers(self, count: int) -> list[Viewer]:
        viewers = []
        for number in range(count):
            session_id = self.sessions[number % SESSIONS]
            # Each session's viewers alternate between the processes.
            app = self.apps[(number // SESSIONS) % len(self.apps)]
            connection = await connect(
                services.websocket_url(app.url, session_id),
                **services.websocket_options(app.url, self.cookie),
                max_size=None,
            )
            viewer = Viewer(session_id, connection)
            viewer.expect(FULL_STATE)
            viewer.task = asyncio.create_task(viewer.read())
            viewers.append(viewer)
        # Every viewer has its full state before measuring starts.
        await self.wait_until(lambda: all(v.has(FULL_STATE) for v in viewers), 60)
        return viewers

    async def close_viewers(self, viewers: list[Viewer]) -> None:
        for viewer in viewers:
            await viewer.connection.close()
        # Let the server stop the watchers before the next scenario.
        await asyncio.sleep(2)

    @staticmethod
    async def wait_until(condition, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if condition():
                return True
            await asyncio.sleep(0.05)
        return False

    def watched(self, viewers: list[Viewer]) -> list[str]:
        return sorted({viewer.session_id for viewer in viewers})

    # Measurements

    async def update_latency(self, viewers: list[Viewer], events: EventLog) -> None:
        samples: list[float] = []
        sizes: list[int] = []
        missing = 0
        sessions = self.watched(viewers)
        for round_number in range(self.rounds):
            tokens = {
                s: f"ping-{len(viewers)}-{round_number}-{s[-6:]}" for s in sessions
            }
            for viewer in viewers:
                viewer.expect(rendered_reply(tokens[viewer.session_id]))
            await asyncio.gather(
                *(
                    asyncio.to_thread(self.api.send_prompt, s, token)
                    for s, token in tokens.items()
                )
            )
            await self.wait_until(
                lambda: all(
                    v.has(rendered_reply(tokens[v.session_id]))  # noqa: B023
                    for v in viewers
                ),
                30,
            )
            for viewer in viewers:
                token = tokens[viewer.session_id]
                ended = [
                    moment
                    for moment, session_id, text in events.ended
                    if session_id == viewer.session_id and text.endswith(token)
                ]
                seen = viewer.found[rendered_reply(token)]
                if not ended or seen is None:
                    missing += 1
                    continue
                samples.append(seen[0] - ended[0])
                sizes.append(len(seen[1].encode()))
            await asyncio.sleep(0.5)
        self.report(
            f"  update latency: p50 {percentile(samples, 0.5) * 1000:.0f} ms, "
            f"p95 {percentile(samples, 0.95) * 1000:.0f} ms "
            f"({len(samples)} samples, {missing} missing)"
        )
        self.report(f"  bytes per update: mean {statistics.fmean(sizes):.0f}")

    async def stream_latency(self, viewers: list[Viewer], events: EventLog) -> None:
        first_words: list[float] = []
        all_words: list[float] = []
        chunk_sizes: list[int] = []
        sessions = self.watched(viewers)
        for viewer in viewers:
            viewer.expect(LAST_SLOW_WORD)
        started = time.monotonic()
        await asyncio.gather(
            *(
                asyncio.to_thread(self.api.send_prompt, s, "stream [[slow]]")
                for s in sessions
            )
        )
        await self.wait_until(lambda: all(v.has(LAST_SLOW_WORD) for v in viewers), 30)

        deltas = [d for d in events.deltas if d[0] >= started]
        first_delta: dict[str, float] = {}
        for moment, message_id, _, _ in deltas:
            first_delta.setdefault(message_id, moment)
        for viewer in viewers:
            arrivals = viewer.arrivals(started)
            for moment, message_id, part_id, delta in deltas:
                stream_id = f"stream-{message_id}-{part_id}"
                fragment = (
                    f'<span id="{stream_id}" hx-swap-oob="beforeend">{delta}</span>'
                )
                if moment == first_delta[message_id]:
                    # The first word comes inside the rendered part or as a chunk.
                    shown = viewer.first(f'id="{stream_id}" data-streaming>{delta}', 0)
                    moments = [shown[0]] if shown else []
                    if fragment in arrivals:
                        moments.append(arrivals[fragment])
                    if moments:
                        first_words.append(min(moments) - moment)
                elif fragment in arrivals:
                    all_words.append(arrivals[fragment] - moment)
                    chunk_sizes.append(len(fragment.encode()))

        self.report(
            f"  first streamed word: p50 {percentile(first_words, 0.5) * 1000:.0f} ms,"
            f" p95 {percentile(first_words, 0.95) * 1000:.0f} ms"
            f" ({len(first_words)} samples)"
        )
        self.report(
            f"  later streamed words: p50 {percentile(all_words, 0.5) * 1000:.0f} ms,"
            f" p95 {percentile(all_words, 0.95) * 1000:.0f} ms"
            f" ({len(all_words)} samples); bytes per chunk: mean"
            f" {statistics.fmean(chunk_sizes) if chunk_sizes else 0:.0f}"
        )

    async def upstream_load(self, viewers: list[Viewer], seconds: float) -> None:
        sessions = self.watched(viewers)
        await asyncio.sleep(3)  # let the pollers settle into their idle cadence
        idle = await self.count_requests(seconds)
        before = self.proxy.snapshot()
        started = time.monotonic()
        await asyncio.gather(
            *(
                asyncio.to_thread(self.keep_busy, session_id, seconds)
                for session_id in sessions
            )
        )
        elapsed = time.monotonic() - started
        active = self.proxy.snapshot()
        active.subtract(before)
        active.pop("GET /api/event", None)
        self.report(
            f"  upstream requests per watched session: idle "
            f"{idle / len(sessions):.2f}/s, active "
            f"{sum(active.values()) / elapsed / len(sessions):.2f}/s"
            f" ({', '.join(f'{k} {v}' for k, v in active.most_common(4))})"
        )

    async def count_requests(self, seconds: float) -> float:
        before = self.proxy.snapshot()
        await asyncio.sleep(seconds)
        after = self.proxy.snapshot()
        after.subtract(before)
        after.pop("GET /api/event", None)
        return sum(after.values()) / seconds

    def keep_busy(self, session_id: str, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            self.prompt_and_wait(session_id, "busy [[slow]]")

    async def scenario(self, count: int, events: EventLog) -> None:
        viewers = await self.open_viewers(count)
        sessions = len(self.watched(viewers))
        processes = f", {len(self.apps)} processes" if self.team else ""
        self.report(f"{count} viewers over {sessions} sessions{processes}")
        await self.update_latency(viewers, events)
        await self.stream_latency(viewers, events)
        self.memory[count] = sum(rss_kib(app.pid) for app in self.apps)
        if count in LOAD_VIEWER_COUNTS:
            await self.upstream_load(viewers, seconds=15)
        await self.close_viewers(viewers)

    async def run_scenarios(self) -> None:
        events = EventLog()
        client = AsyncOpenCodeClient(self.opencode.url, "opencode", OPENCODE_PASSWORD)
        follower = asyncio.create_task(events.follow(client))
        await asyncio.sleep(1)
        self.memory: dict[int, int] = {}
        try:
            for count in VIEWER_COUNTS:
                await self.scenario(count, events)
        finally:
            follower.cancel()
            await client.aclose()
        low, high = min(VIEWER_COUNTS[1:]), max(VIEWER_COUNTS)
        per_socket = (self.memory[high] - self.memory[low]) / (high - low)
        self.report(
            f"server memory: {self.memory[high] / 1024:.0f} MiB RSS with {high}"
            f" viewers, {per_socket:.0f} KiB per open WebSocket"
            f" (from {low} to {high} viewers)"
        )

    def long_transcript(self) -> None:
        session_id = self.api.create_session(self.workspace)["id"]
        started = time.monotonic()
        for number in range(LONG_TRANSCRIPT_MESSAGES // 2):
            self.prompt_and_wait(session_id, f"message {number}")
            if number % 100 == 99:
                print(f"  building: {2 * (number + 1)} messages", file=sys.stderr)
        built = time.monotonic() - started
        with httpx.Client(
            base_url=self.app.url, cookies={"sessionid": self.cookie}, timeout=60
        ) as client:
            timings = []
            for _ in range(5):
                started = time.monotonic()
                page = client.get(f"/sessions/{session_id}/")
                timings.append(time.monotonic() - started)
                page.raise_for_status()
        fetch = []
        for _ in range(3):
            started = time.monotonic()
            messages = self.api.all_messages(session_id)
            fetch.append(time.monotonic() - started)
        self.report(
            f"page of a {len(messages)}-message session: median"
            f" {statistics.median(timings) * 1000:.0f} ms (of 5), of which fetching"
            f" the messages from OpenCode about {statistics.median(fetch) * 1000:.0f}"
            f" ms; page size {len(page.content) / 1024:.0f} KiB"
            f" (built in {built:.0f} s)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--rounds", type=int, default=5, help="update rounds per viewer count"
    )
    parser.add_argument(
        "--skip-long-transcript",
        action="store_true",
        help="skip building and timing the 2,000-message page",
    )
    parser.add_argument(
        "--team",
        action="store_true",
        help="serve from two daphne processes on PostgreSQL and Redis",
    )
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="opencode-ui-bench-") as root:
        bench = Bench(Path(root), arguments.rounds, arguments.team)
        bench.start()
        try:
            asyncio.run(bench.run_scenarios())
            if not arguments.skip_long_transcript:
                bench.long_transcript()
        finally:
            bench.stop()
    print(f"cores: {os.cpu_count()}")


if __name__ == "__main__":
    main()
