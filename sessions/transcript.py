"""Turn OpenCode's v2 session, message and question payloads into view data.

Pure functions with no I/O: the page view and the poller both feed API replies in
and hand the results to the same templates.
"""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sessions.rendering import render_markdown, strip_terminal_codes

# Characters of one text, output or diff shown inline. The rest is on the part's own
# page, so a 20 MB tool output never reaches the transcript.
INLINE_CHARACTER_LIMIT = 50_000
# Diff lines shown inline per edit.
INLINE_DIFF_LINE_LIMIT = 1_000
# A text counts as binary when it contains a NUL or more than this share of U+FFFD.
BINARY_REPLACEMENT_SHARE = 0.01

# Newest messages a session page shows at first; earlier ones load on request.
TRANSCRIPT_WINDOW = 200

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
class DiffLine:
    kind: str  # add, delete, hunk, file or context
    text: str


@dataclass
class TodoItem:
    content: str
    status: str  # pending, in_progress, completed or cancelled
    priority: str = ""

    @property
    def done(self) -> bool:
        return self.status == "completed"

    @property
    def label(self) -> str:
        return self.status.replace("_", " ")


@dataclass
class PartView:
    kind: str  # text, reasoning, tool, shell or unknown
    index: int = 0  # position in the message's content, for the part's own page
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
    # Bytes left out of the inline view, and whether the content looked binary.
    hidden_bytes: int = 0
    binary: bool = False
    diff_title: str = ""
    diff: list[DiffLine] = field(default_factory=list)
    todos: list[TodoItem] = field(default_factory=list)
    call_id: str = ""
    # Labels naming the teammate who replied to this tool call's request here.
    attributions: list[str] = field(default_factory=list)


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
    cost: float = 0.0
    tokens: dict[str, int] = field(default_factory=dict)
    # Who sent this prompt or interrupted this reply through the dashboard.
    attributions: list[str] = field(default_factory=list)
    # An unfinished reply of a session that is no longer running.
    interrupted: bool = False

    @property
    def dom_id(self) -> str:
        # The message id itself, so `/sessions/<id>/#<message id>` is a permalink.
        return self.id


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
    call_id: str = ""  # the `question` tool call that asked it

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
    return "\n".join(pieces)


def _tool_error(state: dict[str, Any]) -> str:
    error = state.get("error")
    if isinstance(error, dict):
        return str(error.get("message") or error.get("type") or "")
    return str(error or "")


def stream_dom_id(message_id: str, part_id: str) -> str:
    """Name the element of a text part that streamed deltas are appended to."""
    return f"stream-{message_id}-{part_id}"


def looks_binary(text: str) -> bool:
    if "\x00" in text:
        return True
    return text.count("\ufffd") > max(1, len(text) * BINARY_REPLACEMENT_SHARE)


def cap_text(text: str, limit: int = INLINE_CHARACTER_LIMIT) -> tuple[str, int]:
    """Cut TEXT to LIMIT characters; return the kept text and the bytes left out."""
    if len(text) <= limit:
        return text, 0
    kept = text[:limit]
    return kept, len(text.encode()) - len(kept.encode())


def _diff_lines(tool: str, tool_input: dict[str, Any]) -> tuple[str, list[DiffLine]]:
    """Build the diff an edit, write or patch tool call makes, as typed lines."""
    path = str(tool_input.get("filePath") or tool_input.get("path") or "")
    if tool == "edit":
        before = str(tool_input.get("oldString") or "").splitlines()
        after = str(tool_input.get("newString") or "").splitlines()
        raw_lines = list(difflib.unified_diff(before, after, lineterm="", n=2))[2:]
    elif tool == "write":
        raw_lines = [
            "+" + line for line in str(tool_input.get("content") or "").splitlines()
        ]
    elif tool == "apply_patch":
        raw_lines = str(tool_input.get("patchText") or "").splitlines()
    else:
        return "", []
    lines = []
    for line in raw_lines[:INLINE_DIFF_LINE_LIMIT]:
        line = strip_terminal_codes(line)
        if line.startswith("@@"):
            kind = "hunk"
        elif line.startswith("***") or line.startswith("+++") or line.startswith("---"):
            kind = "file"
        elif line.startswith("+"):
            kind = "add"
        elif line.startswith("-"):
            kind = "delete"
        else:
            kind = "context"
        lines.append(DiffLine(kind=kind, text=line))
    return path, lines


def _todo_items(tool_input: dict[str, Any]) -> list[TodoItem]:
    items = []
    for todo in tool_input.get("todos") or []:
        if isinstance(todo, dict):
            items.append(
                TodoItem(
                    content=str(todo.get("content") or ""),
                    status=str(todo.get("status") or "pending"),
                    priority=str(todo.get("priority") or ""),
                )
            )
    return items


def _text_part(kind: str, index: int, text: str) -> PartView:
    shown, hidden = cap_text(text)
    return PartView(
        kind=kind, index=index, html=render_markdown(shown), hidden_bytes=hidden
    )


def _tool_part(index: int, part: dict[str, Any]) -> PartView:
    state = part.get("state") or {}
    name = str(part.get("name") or "tool")
    tool_input = state.get("input") if isinstance(state.get("input"), dict) else {}
    raw_output = _tool_output(state)
    output = strip_terminal_codes(raw_output)
    view = PartView(
        kind="tool",
        index=index,
        call_id=str(part.get("id") or ""),
        tool_name=name,
        tool_status=str(state.get("status") or "pending"),
        tool_error=_tool_error(state),
        binary=looks_binary(raw_output),
    )
    view.tool_input, hidden_input = cap_text(_pretty_json(state.get("input") or {}))
    if view.binary:
        view.hidden_bytes = len(raw_output.encode())
    else:
        view.tool_output, hidden_output = cap_text(output)
        view.hidden_bytes = hidden_input + hidden_output
    view.diff_title, view.diff = _diff_lines(name, tool_input)
    if name == "todowrite":
        view.todos = _todo_items(tool_input)
    return view


def part_view(part: dict[str, Any], index: int = 0) -> PartView:
    kind = part.get("type")
    if kind in ("text", "reasoning"):
        return _text_part(kind, index, str(part.get("text") or ""))
    if kind == "tool":
        return _tool_part(index, part)
    return PartView(kind="unknown", index=index, raw=cap_text(_pretty_json(part))[0])


def part_full_text(message: dict[str, Any], index: int) -> str | None:
    """Return the whole text of one part, as its own page shows it; None if absent."""
    if message.get("type") == "shell" and index == 0:
        return strip_terminal_codes(str(message.get("output") or ""))
    if message.get("type") in ("user", "synthetic", "system") and index == 0:
        return str(message.get("text") or "")
    content = message.get("content") or []
    if not 0 <= index < len(content) or not isinstance(content[index], dict):
        return None
    part = content[index]
    if part.get("type") in ("text", "reasoning"):
        return str(part.get("text") or "")
    if part.get("type") == "tool":
        state = part.get("state") or {}
        pieces = [
            "Input:",
            _pretty_json(state.get("input") or {}),
            "",
            "Output:",
            strip_terminal_codes(_tool_output(state)),
        ]
        return "\n".join(pieces)
    return _pretty_json(part)


def _number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return 0.0
    return float(value)


def _token_counts(tokens: Any) -> dict[str, int]:
    """Flatten OpenCode's token counts to input, output, reasoning and cache."""
    if not isinstance(tokens, dict):
        return {}
    cache = tokens.get("cache") if isinstance(tokens.get("cache"), dict) else {}
    counts = {
        "input": int(_number(tokens.get("input"))),
        "output": int(_number(tokens.get("output"))),
        "reasoning": int(_number(tokens.get("reasoning"))),
        "cache": int(_number(cache.get("read")) + _number(cache.get("write"))),
    }
    return counts if any(counts.values()) else {}


def _model_label(model: Any) -> str:
    if isinstance(model, dict):
        return "/".join(
            str(model[key]) for key in ("providerID", "id") if model.get(key)
        )
    return ""


def message_view(
    message: dict[str, Any],
    attributions: dict[str, list[str]] | None = None,
    running: bool = True,
) -> MessageView:
    """Build a message's view; ATTRIBUTIONS maps message and call ids to labels.

    With RUNNING false the session has no active run, so tool calls still marked
    pending or running were cut off (by an interrupt or a server restart) and show
    as interrupted.
    """
    view = _message_view(message)
    if not running:
        view.interrupted = not view.completed and view.kind == "assistant"
        for part in view.parts:
            if part.kind == "tool" and part.tool_status in ("pending", "running"):
                part.tool_status = "interrupted"
    if attributions:
        view.attributions = attributions.get(view.id, [])
        for part in view.parts:
            if part.call_id:
                part.attributions = attributions.get(part.call_id, [])
    return view


def _message_view(message: dict[str, Any]) -> MessageView:
    times = message.get("time") or {}
    view = MessageView(
        id=str(message.get("id") or ""),
        kind=str(message.get("type") or "unknown"),
        created=time_from_ms(times.get("created")),
        completed=time_from_ms(times.get("completed")),
    )
    if view.kind in ("user", "synthetic", "system"):
        view.text = str(message.get("text") or "")
        shown, hidden = cap_text(view.text)
        view.html = render_markdown(shown)
        if hidden:
            view.parts = [PartView(kind="text", hidden_bytes=hidden)]
        view.attachments = [
            str(item.get("name") or item.get("uri") or "file")
            for item in message.get("files") or []
            if isinstance(item, dict)
        ]
    elif view.kind == "assistant":
        view.agent = str(message.get("agent") or "")
        view.model = _model_label(message.get("model"))
        view.parts = [
            part_view(part, index)
            for index, part in enumerate(message.get("content") or [])
            if isinstance(part, dict)
        ]
        if view.completed is None:
            _mark_streaming_parts(view, message.get("content") or [])
        error = message.get("error")
        if isinstance(error, dict):
            view.error = str(error.get("message") or error.get("type") or "error")
        view.cost = _number(message.get("cost"))
        view.tokens = _token_counts(message.get("tokens"))
    elif view.kind == "shell":
        view.text = str(message.get("command") or "")
        output, hidden = cap_text(
            strip_terminal_codes(str(message.get("output") or ""))
        )
        view.parts = [PartView(kind="shell", tool_output=output, hidden_bytes=hidden)]
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
    raw_parts = [part for part in content if isinstance(part, dict)]
    for raw, part in zip(raw_parts, view.parts, strict=True):
        if part.kind != "text" or raw.get("text"):
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
                call_id=call_id,
            )
        )
    return views


@dataclass
class PermissionView:
    id: str
    session_id: str
    action: str
    resources: list[str]
    call_id: str = ""

    @property
    def dom_id(self) -> str:
        return f"permission-{self.id}"


def permission_views(requests: list[dict[str, Any]]) -> list[PermissionView]:
    views = []
    for request in requests:
        source = request.get("source") or {}
        views.append(
            PermissionView(
                id=str(request.get("id") or ""),
                session_id=str(request.get("sessionID") or ""),
                action=str(request.get("action") or "act"),
                resources=[str(item) for item in request.get("resources") or []],
                call_id=str(source.get("callID") or ""),
            )
        )
    return views


def session_status(
    session_id: str, active: dict[str, Any], questions: list, permissions: list = ()
) -> str:
    if questions or permissions:
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
    cost: float = 0.0
    tokens: dict[str, int] = field(default_factory=dict)
    children: list[SessionSummary] = field(default_factory=list)
    # Set on a child session listed alone because its parent is not in the listing.
    parent_missing: bool = False


def session_summary(session: dict[str, Any]) -> SessionSummary:
    times = session.get("time") or {}
    return SessionSummary(
        id=str(session.get("id") or ""),
        title=str(session.get("title") or "Untitled session"),
        directory=str((session.get("location") or {}).get("directory") or ""),
        created=time_from_ms(times.get("created")),
        updated=time_from_ms(times.get("updated")),
        parent_id=str(session.get("parentID") or ""),
        cost=_number(session.get("cost")),
        tokens=_token_counts(session.get("tokens")),
    )
