"""The text of parts still being written, as it streams in from the event stream.

OpenCode's message routes show a text part as empty until it ends. `StreamedText`
keeps the chunks streamed so far, per (message id, part id), so a watcher can show
that text in the parts it renders. It also tracks which parts its viewers show.
"""

from __future__ import annotations

from typing import Any

from sessions import fragments
from sessions.transcript import MessageView

# Most characters of streamed text kept per text part; later chunks are dropped
# and the part shows in full once it ends.
STREAM_TEXT_MAX = 200_000

PartKey = tuple[str, str]


def _part_is_streaming(raw: dict[str, Any], part_id: str) -> bool:
    for part in raw.get("content") or []:
        if isinstance(part, dict) and part.get("id") == part_id:
            return part.get("type") == "text" and not part.get("text")
    # A part the server does not list yet may still be starting.
    return True


class StreamedText:
    def __init__(self) -> None:
        self._chunks: dict[PartKey, list[str]] = {}
        self._sizes: dict[PartKey, int] = {}
        # Parts whose streaming element the viewers have, so chunks can extend it.
        self.shown: set[PartKey] = set()

    def add(self, key: PartKey, delta: str) -> bool:
        """Keep one chunk; return False when the part already contains too much text."""
        size = self._sizes.get(key, 0) + len(delta)
        if size > STREAM_TEXT_MAX:
            return False
        self._sizes[key] = size
        self._chunks.setdefault(key, []).append(delta)
        return True

    def fill(self, view: MessageView) -> None:
        """Put the text streamed so far into the streaming parts of a message view."""
        self.shown -= {key for key in self.shown if key[0] == view.id}
        for part in view.parts:
            if not part.streaming:
                continue
            key = (view.id, part.id)
            part.html = fragments.streamed_text_html("".join(self._chunks.get(key, ())))
            self.shown.add(key)

    def streaming_messages(self) -> set[str]:
        return {message_id for message_id, _ in self.shown}

    def drop_finished(self, messages: dict[str, dict[str, Any]]) -> None:
        """Forget streamed text once its part shows in full.

        Text of a message that no poll has listed yet is kept for its first render.
        """
        for key in list(self._chunks.keys() | self.shown):
            raw = messages.get(key[0])
            if raw is None:
                continue
            finished = (raw.get("time") or {}).get("completed")
            if finished or not _part_is_streaming(raw, key[1]):
                self._chunks.pop(key, None)
                self._sizes.pop(key, None)
                self.shown.discard(key)
