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


SESSION = "ses_AAAAAAAAAAAAAAAAAAAAAAAAAA"
MESSAGE = "msg_BBBBBBBBBBBBBBBBBBBBBBBBBB"


def _tool_message(name: str, tool_input: dict, output: str = "", status="completed"):
    return {
        "id": MESSAGE,
        "type": "assistant",
        "time": {"created": 1},
        "content": [
            {
                "type": "tool",
                "id": "call_1",
                "name": name,
                "state": {
                    "status": status,
                    "input": tool_input,
                    "content": [{"type": "text", "text": output}],
                },
            }
        ],
    }


def test_edit_becomes_diff():
    message = _tool_message(
        "edit",
        {
            "filePath": "/w/a.py",
            "oldString": "x = 1\ny = 2\n",
            "newString": "x = 1\ny = 3\n",
        },
    )

    [part] = message_view(message).parts

    assert part.diff_title == "/w/a.py"
    kinds = [(line.kind, line.text) for line in part.diff]
    assert ("delete", "-y = 2") in kinds
    assert ("add", "+y = 3") in kinds
    assert ("context", " x = 1") in kinds
    assert kinds[0][0] == "hunk"


def test_write_and_patch_become_diffs():
    write = message_view(
        _tool_message("write", {"filePath": "/w/n.txt", "content": "a\nb"})
    )
    patch = message_view(
        _tool_message(
            "apply_patch",
            {
                "patchText": "*** Begin Patch\n*** Update File: f\n"
                "@@\n-old\n+new\n*** End Patch"
            },
        )
    )

    assert [line.kind for line in write.parts[0].diff] == ["add", "add"]
    patch_kinds = [line.kind for line in patch.parts[0].diff]
    assert patch_kinds == ["file", "file", "hunk", "delete", "add", "file"]


def test_todos_become_checklist():
    message = _tool_message(
        "todowrite",
        {
            "todos": [
                {"content": "A", "status": "completed"},
                {"content": "B", "status": "in_progress"},
            ]
        },
    )

    todos = message_view(message).parts[0].todos

    assert [(todo.content, todo.done, todo.label) for todo in todos] == [
        ("A", True, "completed"),
        ("B", False, "in progress"),
    ]


def test_huge_output_is_cut():
    output = "y" * 20_000_000

    [part] = message_view(_tool_message("bash", {"command": "yes"}, output)).parts

    assert len(part.tool_output) == 50_000
    assert part.hidden_bytes == 20_000_000 - 50_000


def test_binary_output_not_shown():
    [part] = message_view(_tool_message("read", {}, "PNG\x00\x01\x02" * 100)).parts

    assert part.binary is True
    assert part.tool_output == ""
    assert part.hidden_bytes == 600


def test_huge_message_renders_small(settings):
    from sessions.fragments import message_html

    view = message_view(_tool_message("bash", {"command": "yes"}, "z" * 20_000_000))

    html = message_html(SESSION, view)

    assert len(html) < 100_000
    assert "19.9 MB not shown" in html  # 20,000,000 bytes less the 50,000 shown
    assert f"/sessions/{SESSION}/messages/{MESSAGE}/parts/0/" in html


def test_tokens_and_cost():
    message = {
        "id": "msg_cost",
        "type": "assistant",
        "time": {"created": 1},
        "content": [],
        "cost": 0.0123,
        "tokens": {
            "input": 10,
            "output": 5,
            "reasoning": 0,
            "cache": {"read": 2, "write": 1},
        },
    }

    view = message_view(message)

    assert view.cost == 0.0123
    assert view.tokens == {"input": 10, "output": 5, "reasoning": 0, "cache": 3}


def test_shell_and_switch_messages():
    shell = message_view(
        {
            "id": "m1",
            "type": "shell",
            "time": {},
            "command": "ls",
            "output": "\x1b[1ma\x1b[0m",
        }
    )
    agent = message_view(
        {"id": "m2", "type": "agent-switched", "time": {}, "agent": "plan"}
    )
    model = message_view(
        {
            "id": "m3",
            "type": "model-switched",
            "time": {},
            "model": {"id": "x", "providerID": "p"},
        }
    )
    compaction = message_view(
        {
            "id": "m4",
            "type": "compaction",
            "time": {},
            "summary": "**short**",
            "reason": "auto",
        }
    )

    assert shell.text == "ls"
    assert shell.parts[0].tool_output == "a"
    assert agent.agent == "plan"
    assert model.model == "p/x"
    assert "<strong>short</strong>" in compaction.html


def test_unfinished_tools_interrupted_when_idle():
    message = _tool_message("bash", {"command": "sleep 100"}, status="running")

    live = message_view(message, running=True)
    cut_off = message_view(message, running=False)

    assert live.parts[0].tool_status == "running"
    assert cut_off.parts[0].tool_status == "interrupted"
    assert cut_off.interrupted is True
