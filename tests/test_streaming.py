"""A watcher's handling of streamed text, fed events directly (no OpenCode needed)."""

from __future__ import annotations

import asyncio

import pytest

from sessions.streaming import STREAM_TEXT_MAX, StreamedText
from sessions.watch import SessionWatcher

SESSION_ID = "ses_0123456789abcdefghijklmnop"
MESSAGE_ID = "msg_0123456789abcdefghijklmnop"
STREAM_ID = f"stream-{MESSAGE_ID}-text-0"


@pytest.fixture
async def watcher():
    """A watcher that holds its session and has sent its first full state."""
    watcher = SessionWatcher(SESSION_ID)
    watcher.holding = True
    watcher.ready = True
    viewer = await watcher.channel_layer.new_channel()
    await watcher.channel_layer.group_add(watcher.group, viewer)
    watcher.viewer_channel = viewer
    return watcher


async def pushed(watcher: SessionWatcher) -> list[str]:
    """Return every fragment pushed to the viewer so far."""
    messages = []
    while True:
        try:
            message = await asyncio.wait_for(
                watcher.channel_layer.receive(watcher.viewer_channel), 0.05
            )
        except TimeoutError:
            return messages
        messages.append(message["html"])


def assistant_message(text: str, completed: bool) -> dict:
    times = {"created": 1_700_000_000_000}
    if completed:
        times["completed"] = 1_700_000_001_000
    return {
        "id": MESSAGE_ID,
        "type": "assistant",
        "time": times,
        "content": [{"type": "text", "id": "text-0", "text": text}],
    }


async def test_first_chunk_brings_its_message(watcher):
    await watcher.stream_delta(MESSAGE_ID, "text-0", "Hello")

    (fragment,) = await pushed(watcher)
    assert fragment.startswith('<div id="transcript" hx-swap-oob="beforeend">')
    assert f'id="{STREAM_ID}" data-streaming>Hello</div>' in fragment


async def test_later_chunks_are_small(watcher):
    await watcher.stream_delta(MESSAGE_ID, "text-0", "Hello")
    await watcher.stream_delta(MESSAGE_ID, "text-0", " <world>\n")

    fragments = await pushed(watcher)
    assert fragments[1] == (
        f'<span id="{STREAM_ID}" hx-swap-oob="beforeend"> &lt;world&gt;<br></span>'
    )


async def test_ended_text_replaces_stream(watcher):
    await watcher.stream_delta(MESSAGE_ID, "text-0", "Hello")
    await watcher.end_text(MESSAGE_ID, "text-0", "Hello **world**")

    fragments = await pushed(watcher)
    assert 'hx-swap-oob="outerHTML"' in fragments[-1]
    assert "<strong>world</strong>" in fragments[-1]
    assert "data-streaming" not in fragments[-1]


async def test_poll_after_event_sends_only_changes(watcher):
    watcher._messages = {MESSAGE_ID: assistant_message("", completed=False)}
    await watcher._publish("working", [], [], {}, {})
    await watcher.stream_delta(MESSAGE_ID, "text-0", "Hello")
    await watcher.end_text(MESSAGE_ID, "text-0", "Hello")
    assert "<p>Hello</p>" in (await pushed(watcher))[-1]

    watcher._messages = {MESSAGE_ID: assistant_message("Hello", completed=True)}
    await watcher._publish("idle", [], [], {}, {})

    # The poll's message renders as the event already showed it (the completion
    # time is not on the page), so only the status is pushed.
    fragments = await pushed(watcher)
    assert len(fragments) == 1
    assert MESSAGE_ID not in fragments[0]
    assert 'id="session-status"' in fragments[0]
    assert watcher._streamed.shown == set()


async def test_late_viewer_gets_streamed_text(watcher):
    watcher._messages = {MESSAGE_ID: assistant_message("", completed=False)}
    await watcher._publish("working", [], [], {}, {})
    await watcher.stream_delta(MESSAGE_ID, "text-0", "one")
    await watcher.stream_delta(MESSAGE_ID, "text-0", " two")

    full = watcher.full_state_html()

    assert f'id="{STREAM_ID}" data-streaming>one two</div>' in full


async def test_invalid_ids_ignored(watcher):
    await watcher.stream_delta("msg_<script>", "text-0", "x")
    await watcher.stream_delta(MESSAGE_ID, 'text-0" onclick="x', "x")
    await watcher.end_text(MESSAGE_ID, "a b", "x")

    assert await pushed(watcher) == []


def test_streamed_text_capped():
    streamed = StreamedText()
    key = (MESSAGE_ID, "text-0")

    assert streamed.add(key, "x" * STREAM_TEXT_MAX)
    assert not streamed.add(key, "y")


async def test_streaming_counts_as_progress(watcher, settings):
    settings.OPENCODE_STUCK_AFTER = 1.0
    watcher._status = "working"
    watcher._last_progress -= 5

    await watcher.stream_delta(MESSAGE_ID, "text-0", "still typing")

    assert "may be stuck" not in watcher._render_status()
