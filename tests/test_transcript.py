"""API payloads become view data without I/O."""

from __future__ import annotations

from datetime import UTC, datetime

from sessions.transcript import (
    STATUS_IDLE,
    STATUS_WAITING,
    STATUS_WORKING,
    message_view,
    question_views,
    session_status,
    time_from_ms,
)


def test_time_from_ms():
    assert time_from_ms(1796399756345) == datetime(
        2026, 12, 4, 15, 55, 56, 345000, tzinfo=UTC
    )
    assert time_from_ms(None) is None
    assert time_from_ms("soon") is None
    assert time_from_ms(True) is None
    assert time_from_ms(10**20) is None


def test_user_message_with_attachment():
    view = message_view(
        {
            "id": "msg_1",
            "type": "user",
            "time": {"created": 1},
            "text": "**hi**",
            "files": [{"uri": "file:///a.txt", "mime": "text/plain", "name": "a.txt"}],
        }
    )

    assert view.kind == "user"
    assert "<strong>hi</strong>" in view.html
    assert view.attachments == ["a.txt"]
    assert view.dom_id == "msg_1"


def test_assistant_parts():
    view = message_view(
        {
            "id": "msg_2",
            "type": "assistant",
            "time": {"created": 1, "completed": 2},
            "agent": "build",
            "model": {"id": "gpt", "providerID": "openai"},
            "content": [
                {"type": "reasoning", "id": "r", "text": "thinking"},
                {"type": "text", "id": "t", "text": "done"},
                {
                    "type": "tool",
                    "id": "call_1",
                    "name": "bash",
                    "state": {
                        "status": "completed",
                        "input": {"command": "ls"},
                        "content": [{"type": "text", "text": "\x1b[32mfile\x1b[0m"}],
                    },
                },
                {
                    "type": "tool",
                    "id": "call_2",
                    "name": "read",
                    "state": {
                        "status": "error",
                        "input": {},
                        "error": {"type": "unknown", "message": "no such file"},
                    },
                },
                {"type": "hologram", "id": "h"},
            ],
        }
    )

    kinds = [part.kind for part in view.parts]
    assert kinds == ["reasoning", "text", "tool", "tool", "unknown"]
    assert view.model == "openai/gpt"
    assert view.parts[2].tool_output == "file"
    assert '"command": "ls"' in view.parts[2].tool_input
    assert view.parts[3].tool_status == "error"
    assert view.parts[3].tool_error == "no such file"
    assert "hologram" in view.parts[4].raw


def test_unknown_message_kind_falls_back():
    view = message_view({"id": "msg_3", "type": "teleport", "time": {}})

    assert view.kind == "teleport"
    assert view.created is None
    assert view.parts[0].kind == "unknown"


def test_question_custom_flag_from_tool_input():
    requests = [
        {
            "id": "que_1",
            "sessionID": "ses_1",
            "questions": [
                {"question": "A?", "header": "A", "options": [], "multiple": True},
                {"question": "B?", "header": "B", "options": []},
                {"question": "C?", "header": "C", "options": []},
            ],
            "tool": {"messageID": "msg_9", "callID": "call_9"},
        }
    ]
    messages = [
        {
            "id": "msg_9",
            "type": "assistant",
            "content": [
                {
                    "type": "tool",
                    "id": "call_9",
                    "name": "question",
                    "state": {
                        "status": "running",
                        "input": {
                            "questions": [{"custom": False}, {"custom": True}, {}]
                        },
                    },
                }
            ],
        }
    ]

    [view] = question_views(requests, messages)

    assert [item.custom for item in view.items] == [False, True, True]
    assert view.items[0].multiple is True
    assert view.dom_id == "question-que_1"


def test_session_status():
    assert session_status("ses_1", {"ses_1": {"type": "running"}}, []) == STATUS_WORKING
    assert session_status("ses_1", {"ses_1": {}}, [{"id": "que_1"}]) == STATUS_WAITING
    assert session_status("ses_1", {}, []) == STATUS_IDLE
