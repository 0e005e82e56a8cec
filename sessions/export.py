"""A session's transcript as a Markdown document."""

from __future__ import annotations

import json
from typing import Any

from sessions.rendering import strip_terminal_codes
from sessions.transcript import session_summary, time_from_ms


def _fence(text: str, language: str = "") -> str:
    """Wrap TEXT in a code fence longer than any backtick run inside it."""
    longest = 0
    run = 0
    for character in text:
        run = run + 1 if character == "`" else 0
        longest = max(longest, run)
    fence = "`" * max(3, longest + 1)
    return f"{fence}{language}\n{text}\n{fence}"


def _stamp(message: dict[str, Any]) -> str:
    created = time_from_ms((message.get("time") or {}).get("created"))
    return created.strftime("%Y-%m-%d %H:%M:%S UTC") if created else "time unknown"


def _assistant_blocks(message: dict[str, Any]) -> list[str]:
    blocks = []
    for part in message.get("content") or []:
        if not isinstance(part, dict):
            continue
        kind = part.get("type")
        if kind == "text":
            blocks.append(str(part.get("text") or ""))
        elif kind == "reasoning":
            blocks.append(
                "> Reasoning: " + str(part.get("text") or "").replace("\n", "\n> ")
            )
        elif kind == "tool":
            state = part.get("state") or {}
            output = "\n".join(
                str(item.get("text") or "")
                for item in state.get("content") or []
                if isinstance(item, dict)
            )
            name = part.get("name", "tool")
            status = state.get("status", "pending")
            block = f"**Tool `{name}`** ({status})\n\n" + _fence(
                json.dumps(state.get("input") or {}, indent=2), "json"
            )
            if output:
                block += "\n\n" + _fence(strip_terminal_codes(output))
            blocks.append(block)
        else:
            blocks.append(_fence(json.dumps(part, indent=2), "json"))
    return blocks


def transcript_markdown(session: dict[str, Any], messages: list[dict[str, Any]]) -> str:
    summary = session_summary(session)
    lines = [f"# {summary.title}", "", f"- Session: `{summary.id}`"]
    if summary.directory:
        lines.append(f"- Workspace: `{summary.directory}`")
    if summary.created:
        lines.append(f"- Started: {summary.created:%Y-%m-%d %H:%M:%S} UTC")
    lines.append("")
    for message in messages:
        kind = message.get("type")
        if kind == "user":
            heading, blocks = "Prompt", [str(message.get("text") or "")]
        elif kind == "assistant":
            heading, blocks = (
                f"Agent ({message.get('agent', '')})",
                _assistant_blocks(message),
            )
        elif kind == "shell":
            heading = "Shell"
            blocks = [
                _fence(f"$ {message.get('command', '')}\n{message.get('output', '')}")
            ]
        else:
            heading = str(kind or "Message").capitalize()
            blocks = [str(message.get("text") or message.get("summary") or "")]
        lines.append(f"## {heading} · {_stamp(message)}")
        lines.append("")
        lines.extend(block + "\n" for block in blocks if block)
    return "\n".join(lines).rstrip() + "\n"
