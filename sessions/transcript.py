"""Turn OpenCode's v2 session, message and question payloads into view data.

Pure functions with no I/O: the page view and the poller both feed API replies in
and hand the results to the same templates.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sessions.rendering import render_markdown, strip_terminal_codes

STATUS_WORKING = "working"
STATUS_WAITING = "waiting"
STATUS_IDLE = "idle"
STATUS_LABELS = {
    STATUS_WORKING: "Working",
    STATUS_WAITING: "Waiting for an answer",
    STATUS_IDLE: "Idle",
}


def time_from_ms(value: Any) -> datetime | None:
    """Convert OpenCode's milliseconds since the epoch; None when missing or invalid."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        return datetime.fromtimestamp(value / 1000, tz=UTC)
    except (OverflowError, OSError, ValueError):
        return None


@dataclass
class PartView:
    kind: str  # text, reasoning, tool or unknown
    html: str = ""
    # A text part still being written: `html` holds the text streamed so far, and
    # `dom_id` names the element that streamed deltas are appended to.
    streaming: bool = False
    id: str = ""
    dom_id: str = ""
    tool_name: str = ""
    tool_status: str = ""
    tool_input: str = ""
    tool_output: str = ""
    tool_error: str = ""
    raw: str = ""


@dataclass
class MessageView:
    id: str
    kind: str  # the API's `type`: user, assistant, shell, compaction, ...
    created: datetime | None
    completed: datetime | None = None
    html: str = ""
    text: str = ""
    agent: str = ""
    model: str = ""
    parts: list[PartView] = field(default_factory=list)
    attachments: list[str] = field(default_factory=list)
    error: str = ""

    @property
    def dom_id(self) -> str:
        return f"msg-{self.id}"


@dataclass
class QuestionOptionView:
    label: str
    description: str


@dataclass
class QuestionItemView:
    index: int
    question: str
    header: str
    options: list[QuestionOptionView]
    multiple: bool
    custom: bool


@dataclass
class QuestionView:
    id: str
    session_id: str
    items: list[QuestionItemView]

    @property
    def dom_id(self) -> str:
        return f"question-{self.id}"


def _pretty_json(value: Any) -> str:
    if isinstance(value, str):
        return value
    try:
        return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True)
    except (TypeError, ValueError):
        return repr(value)


def _tool_output(state: dict[str, Any]) -> str:
    pieces = []
    for item in state.get("content") or []:
        if isinstance(item, dict) and item.get("type") == "text":
            pieces.append(str(item.get("text", "")))
        elif isinstance(item, dict):
            pieces.append(f"[{item.get('type', 'content')}: {item.get('name', '')}]")
    if not pieces and isinstance(state.get("output"), str):
        pieces.append(state["output"])
    return strip_terminal_codes("\n".join(pieces))


def _tool_error(state: dict[str, Any]) -> str:
    error = state.get("error")
    if isinstance(error, dict):
        return str(error.get("message") or error.get("type") or "")
    return str(error or "")


# Newest messages that a session page and its live updates show; older ones stay
# on the OpenCode server. Rendering 2,000 messages takes longer than a page should,
# and one request of the message route (at most 200 a page) returns this many.
TRANSCRIPT_WINDOW = 200


def oldest_first(page: dict[str, Any]) -> list[dict[str, Any]]:
    """Return the messages of a newest-first page in reading order."""
    return list(reversed(page.get("data") or []))


def stream_dom_id(message_id: str, part_id: str) -> str:
    """Name the element of a text part that streamed deltas are appended to."""
    return f"stream-{message_id}-{part_id}"


def part_view(part: dict[str, Any]) -> PartView:
    kind = part.get("type")
    if kind == "text":
        return PartView(kind="text", html=render_markdown(str(part.get("text") or "")))
    if kind == "reasoning":
        return PartView(
            kind="reasoning", html=render_markdown(str(part.get("text") or ""))
        )
    if kind == "tool":
        state = part.get("state") or {}
        return PartView(
            kind="tool",
            tool_name=str(part.get("name") or "tool"),
            tool_status=str(state.get("status") or "pending"),
            tool_input=_pretty_json(state.get("input") or {}),
            tool_output=_tool_output(state),
            tool_error=_tool_error(state),
        )
    return PartView(kind="unknown", raw=_pretty_json(part))


def _model_label(model: Any) -> str:
    if isinstance(model, dict):
        return "/".join(
            str(model[key]) for key in ("providerID", "id") if model.get(key)
        )
    return ""


def message_view(message: dict[str, Any]) -> MessageView:
    times = message.get("time") or {}
    view = MessageView(
        id=str(message.get("id") or ""),
        kind=str(message.get("type") or "unknown"),
        created=time_from_ms(times.get("created")),
        completed=time_from_ms(times.get("completed")),
    )
    if view.kind in ("user", "synthetic", "system"):
        view.text = str(message.get("text") or "")
        view.html = render_markdown(view.text)
        view.attachments = [
            str(item.get("name") or item.get("uri") or "file")
            for item in message.get("files") or []
            if isinstance(item, dict)
        ]
    elif view.kind == "assistant":
        view.agent = str(message.get("agent") or "")
        view.model = _model_label(message.get("model"))
        view.parts = [part_view(part) for part in message.get("content") or []]
        if view.completed is None:
            _mark_streaming_parts(view, message.get("content") or [])
        error = message.get("error")
        if isinstance(error, dict):
            view.error = str(error.get("message") or error.get("type") or "error")
    elif view.kind == "shell":
        view.text = str(message.get("command") or "")
        view.parts = [
            PartView(
                kind="shell",
                tool_output=strip_terminal_codes(str(message.get("output") or "")),
            )
        ]
    elif view.kind == "compaction":
        view.html = render_markdown(str(message.get("summary") or ""))
    elif view.kind == "agent-switched":
        view.agent = str(message.get("agent") or "")
    elif view.kind == "model-switched":
        view.model = _model_label(message.get("model"))
    else:
        view.parts = [PartView(kind="unknown", raw=_pretty_json(message))]
    return view


def _mark_streaming_parts(view: MessageView, content: list[Any]) -> None:
    """Mark the empty text parts of an unfinished message as still streaming.

    The message routes show a text part's text only once it ends; until then its
    words arrive on the event stream.
    """
    for raw, part in zip(content, view.parts, strict=True):
        if part.kind != "text" or not isinstance(raw, dict) or raw.get("text"):
            continue
        part_id = str(raw.get("id") or "")
        if part_id:
            part.streaming = True
            part.id = part_id
            part.dom_id = stream_dom_id(view.id, part_id)


def _custom_flags_by_call(messages: list[dict[str, Any]]) -> dict[str, list[Any]]:
    """Map each question tool call id to the `custom` flag of each of its questions.

    The pending-question route drops `custom`, but the tool call's input keeps it.
    """
    flags: dict[str, list[Any]] = {}
    for message in messages:
        for part in message.get("content") or []:
            if not isinstance(part, dict) or part.get("type") != "tool":
                continue
            questions = ((part.get("state") or {}).get("input") or {}).get("questions")
            if isinstance(questions, list):
                flags[str(part.get("id"))] = [
                    q.get("custom") if isinstance(q, dict) else None for q in questions
                ]
    return flags


def question_views(
    requests: list[dict[str, Any]], messages: list[dict[str, Any]]
) -> list[QuestionView]:
    """Build the pending questions; `custom` defaults to True, as in OpenCode's tool."""
    custom_flags = _custom_flags_by_call(messages)
    views = []
    for request in requests:
        call_id = str((request.get("tool") or {}).get("callID") or "")
        flags = custom_flags.get(call_id, [])
        items = []
        for index, item in enumerate(request.get("questions") or []):
            custom = item.get("custom")
            if custom is None and index < len(flags):
                custom = flags[index]
            items.append(
                QuestionItemView(
                    index=index,
                    question=str(item.get("question") or ""),
                    header=str(item.get("header") or ""),
                    options=[
                        QuestionOptionView(
                            label=str(option.get("label") or ""),
                            description=str(option.get("description") or ""),
                        )
                        for option in item.get("options") or []
                    ],
                    multiple=bool(item.get("multiple")),
                    custom=custom is not False,
                )
            )
        views.append(
            QuestionView(
                id=str(request.get("id") or ""),
                session_id=str(request.get("sessionID") or ""),
                items=items,
            )
        )
    return views


def session_status(session_id: str, active: dict[str, Any], questions: list) -> str:
    if questions:
        return STATUS_WAITING
    if session_id in (active or {}):
        return STATUS_WORKING
    return STATUS_IDLE


@dataclass
class SessionSummary:
    id: str
    title: str
    directory: str
    created: datetime | None
    updated: datetime | None
    parent_id: str = ""
    # Username of the teammate who started it through this dashboard, if one did.
    started_by: str = ""


def session_summary(session: dict[str, Any]) -> SessionSummary:
    times = session.get("time") or {}
    return SessionSummary(
        id=str(session.get("id") or ""),
        title=str(session.get("title") or "Untitled session"),
        directory=str((session.get("location") or {}).get("directory") or ""),
        created=time_from_ms(times.get("created")),
        updated=time_from_ms(times.get("updated")),
        parent_id=str(session.get("parentID") or ""),
    )
