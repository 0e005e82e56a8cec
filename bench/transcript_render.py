"""Time the server-side render of a long session page.

Run by hand: `.venv/bin/python bench/transcript_render.py [MESSAGES]`. It serves a
synthetic session (half prompts, half replies with markdown, code and a tool call)
through httpx's MockTransport, so only our own code is timed: paging the messages
in, turning them into view data, highlighting code and rendering the templates.
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from pathlib import Path

import django

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "opencode_ui.settings")
django.setup()

import httpx  # noqa: E402
from django.contrib.auth.models import AnonymousUser  # noqa: E402
from django.test import RequestFactory  # noqa: E402

from sessions import opencode, views  # noqa: E402

SESSION_ID = "ses_BENCHMARKBENCHMARKBENCHMA"
REPLY = (
    "Here is the change:\n\n```python\ndef add(a, b):\n    return a + b\n```\n\n"
    "It keeps **every** caller working and adds a test."
)


def synthetic_messages(count: int) -> list[dict]:
    messages = []
    for number in range(count):
        stamp = 1_796_000_000_000 + number * 1000
        if number % 2 == 0:
            messages.append(
                {"id": f"msg_{number:026d}", "type": "user", "time": {"created": stamp},
                 "text": f"Prompt number {number}: please refactor the module."}
            )  # fmt: skip
            continue
        messages.append(
            {
                "id": f"msg_{number:026d}",
                "type": "assistant",
                "time": {"created": stamp, "completed": stamp + 500},
                "agent": "build",
                "model": {"id": "scripted", "providerID": "scripted"},
                "cost": 0.001,
                "tokens": {"input": 120, "output": 40, "reasoning": 0,
                           "cache": {"read": 0, "write": 0}},
                "content": [
                    {"type": "text", "id": "text-0", "text": REPLY},
                    {"type": "tool", "id": f"call_{number}", "name": "bash",
                     "state": {"status": "completed", "input": {"command": "pytest -q"},
                               "content": [{"type": "text", "text": "12 passed"}]}},
                ],
            }
        )  # fmt: skip
    return messages


def serve(messages: list[dict]):
    def handler(request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path == f"/api/session/{SESSION_ID}":
            return httpx.Response(200, json={"data": {
                "id": SESSION_ID, "title": "Benchmark", "time": {"created": 1},
                "location": {"directory": "/tmp/bench"}}})  # fmt: skip
        if path.endswith("/message"):
            start = int(request.url.params.get("cursor") or 0)
            limit = int(request.url.params["limit"])
            return httpx.Response(200, json={
                "data": messages[start:start + limit],
                "cursor": {"next": str(start + limit)}})  # fmt: skip
        if path.endswith("/question"):
            return httpx.Response(200, json={"data": []})
        if path == "/api/session/active":
            return httpx.Response(200, json={"data": {}})
        return httpx.Response(404, json={"_tag": "NotFound", "message": path})

    return opencode.OpenCodeClient(
        "http://bench.test", transport=httpx.MockTransport(handler)
    )


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    client = serve(synthetic_messages(count))
    views.get_client = lambda: client
    # Archiving writes to the database; time the page alone.
    views.store_archive = lambda session, messages: False
    print(f"messages: {count}")
    for label, query in (("newest window", ""), ("whole transcript", "?all=1")):
        request = RequestFactory().get(f"/sessions/{SESSION_ID}/{query}")
        request.user = AnonymousUser()
        request.htmx = False
        timings = []
        size = 0
        for _ in range(5):
            started = time.perf_counter()
            response = views.session_detail(request, SESSION_ID)
            timings.append(time.perf_counter() - started)
            size = len(response.content)
        # The first run renders every markdown text; later runs hit the cache.
        print(f"{label}: {size / 1_000_000:.1f} MB page, first render "
              f"{timings[0] * 1000:.0f} ms, later renders median "
              f"{statistics.median(timings[1:]) * 1000:.0f} ms")  # fmt: skip


if __name__ == "__main__":
    main()
