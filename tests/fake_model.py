"""A scripted OpenAI-compatible chat model for driving a real `opencode serve`.

OpenCode streams `POST /v1/chat/completions`. This server reads the newest user or
tool message and replies from a fixed script, so tests get the same reply every run:

- a tool result comes back  -> text "Tool result received: <content>"
- prompt contains `[[ask-single]]` -> `question` tool, one single-choice question
- prompt contains `[[ask-multi]]`  -> `question` tool, a multi-select question and a
  single-choice question with a custom answer allowed
- prompt contains `[[write:NAME]]` -> `write` tool on NAME in the working directory
- prompt contains `[[bash:CMD]]`   -> `bash` tool running CMD
- prompt contains `[[todo]]`       -> `todowrite` tool with three items
- prompt contains `[[slow]]`       -> 30 words, one every 100 ms
- prompt contains `[[hostile]]`    -> markdown carrying script tags, handlers, links
- prompt contains `[[model]]`      -> "Answered by model <the model id OpenCode sent>"
- anything else                    -> "Scripted reply to: <prompt>"

Run it alone with `python tests/fake_model.py PORT`.
"""

from __future__ import annotations

import json
import re
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

SINGLE_QUESTION = {
    "questions": [
        {
            "question": "Which colour should the button be?",
            "header": "Colour",
            "options": [
                {"label": "Red", "description": "Warm and loud"},
                {"label": "Blue", "description": "Calm and quiet"},
            ],
            "multiple": False,
            "custom": False,
        }
    ]
}

MULTI_QUESTION = {
    "questions": [
        {
            "question": "Which checks should run?",
            "header": "Checks",
            "options": [
                {"label": "Lint", "description": "ruff check"},
                {"label": "Types", "description": "mypy"},
                {"label": "Tests", "description": "pytest"},
            ],
            "multiple": True,
            "custom": False,
        },
        {
            "question": "Which branch name?",
            "header": "Branch",
            "options": [{"label": "main", "description": "The default branch"}],
            "multiple": False,
            "custom": True,
        },
    ]
}

HOSTILE_TEXT = (
    "Look: <script>alert('x')</script> and <img src=x onerror=alert(1)> "
    'and [click me](javascript:alert(2)) and <a href="javascript:alert(3)">raw</a>'
)

SLOW_WORDS = [f"word{number}" for number in range(30)]

DIRECTIVE = re.compile(r"\[\[([a-z-]+)(?::([^\]]+))?\]\]")


def _text_of(message: dict[str, Any]) -> str:
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            part.get("text", "") for part in content if isinstance(part, dict)
        )
    return ""


def _working_directory(messages: list[dict[str, Any]]) -> str:
    """Find the session's directory in OpenCode's system prompt."""
    for message in messages:
        if message.get("role") != "system":
            continue
        found = re.search(r"Working directory: (\S+)", _text_of(message))
        if found:
            return found.group(1)
    return "/tmp"


def plan_reply(request: dict[str, Any]) -> dict[str, Any]:
    """Choose the reply: {"text"}, {"words", "delay"} or {"tool", "args"}."""
    messages = request.get("messages", [])
    if not request.get("tools"):
        # OpenCode's title generator calls without tools; give it a short title.
        user_texts = [_text_of(m) for m in messages if m.get("role") == "user"]
        title = (user_texts[-1] if user_texts else "Session")[:40]
        title = DIRECTIVE.sub("", title).strip() or "Scripted session"
        return {"text": title}

    last = messages[-1] if messages else {}
    if last.get("role") == "tool":
        return {"text": f"Tool result received: {_text_of(last)}"}

    prompt = _text_of(last)
    directive = DIRECTIVE.search(prompt)
    name = directive.group(1) if directive else ""
    if name == "ask-single":
        return {"tool": "question", "args": SINGLE_QUESTION}
    if name == "ask-multi":
        return {"tool": "question", "args": MULTI_QUESTION}
    if name == "write":
        path = f"{_working_directory(messages)}/{directive.group(2) or 'notes.txt'}"
        return {"tool": "write", "args": {"path": path, "content": "scripted\n"}}
    if name == "bash":
        command = directive.group(2) or "echo hello"
        return {"tool": "bash", "args": {"command": command, "description": "Run it"}}
    if name == "todo":
        todos = [
            {
                "id": "1",
                "content": "Write tests",
                "status": "completed",
                "priority": "high",
            },
            {
                "id": "2",
                "content": "Fix bug",
                "status": "in_progress",
                "priority": "high",
            },
            {"id": "3", "content": "Ship", "status": "pending", "priority": "low"},
        ]
        return {"tool": "todowrite", "args": {"todos": todos}}
    if name == "slow":
        return {"words": SLOW_WORDS, "delay": 0.1}
    if name == "hostile":
        return {"text": HOSTILE_TEXT}
    if name == "model":
        return {"text": f"Answered by model {request.get('model')}"}
    # Only the user's own words, without OpenCode's wrapping, keep replies short.
    return {"text": f"Scripted reply to: {prompt.strip()[:200]}"}


def _chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
    body = {
        "id": "chatcmpl-scripted",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": "scripted",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }
    return f"data: {json.dumps(body)}\n\n".encode()


class ScriptedModelHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    requests_seen: list[dict[str, Any]] = []

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass

    def do_GET(self) -> None:  # noqa: N802
        body = json.dumps({"object": "list", "data": [{"id": "scripted"}]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:  # noqa: N802
        length = int(self.headers.get("Content-Length") or 0)
        request = json.loads(self.rfile.read(length) or b"{}")
        type(self).requests_seen.append(request)
        plan = plan_reply(request)

        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Connection", "close")
        self.end_headers()

        self.wfile.write(_chunk({"role": "assistant", "content": ""}))
        tools = [(plan["tool"], plan["args"])] if "tool" in plan else []
        if tools:
            stamp = time.time_ns()
            calls = [
                {
                    "index": index,
                    "id": f"call_{stamp}_{index}",
                    "type": "function",
                    "function": {"name": tool, "arguments": json.dumps(args)},
                }
                for index, (tool, args) in enumerate(tools)
            ]
            self.wfile.write(_chunk({"tool_calls": calls}))
            self.wfile.write(_chunk({}, finish="tool_calls"))
        else:
            words = plan.get("words") or [plan["text"]]
            for index, word in enumerate(words):
                piece = word if index == 0 else " " + word
                self.wfile.write(_chunk({"content": piece}))
                self.wfile.flush()
                time.sleep(plan.get("delay", 0))
            self.wfile.write(_chunk({}, finish="stop"))
        self.wfile.write(b"data: [DONE]\n\n")
        self.wfile.flush()
        self.close_connection = True


class ScriptedModelServer(ThreadingHTTPServer):
    def handle_error(self, request, client_address) -> None:
        # OpenCode hangs up mid-stream when a run is interrupted or its server
        # stops; that is expected, so skip the traceback the base class prints.
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


def start(port: int = 0) -> ThreadingHTTPServer:
    """Start the model on 127.0.0.1 in a daemon thread; port 0 picks a free one."""
    server = ScriptedModelServer(("127.0.0.1", port), ScriptedModelHandler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


if __name__ == "__main__":
    chosen_port = int(sys.argv[1]) if len(sys.argv) > 1 else 0
    running = start(chosen_port)
    print(f"scripted model on http://127.0.0.1:{running.server_address[1]}/v1")
    threading.Event().wait()
