"""The only code that speaks HTTP to the OpenCode server (its v2 `/api/` routes).

`OpenCodeClient` is synchronous, for views; `AsyncOpenCodeClient` is for the poller.
Both share every route through `_Routes`, authenticate with HTTP Basic, time out
after `OPENCODE_TIMEOUT` seconds and turn failures into the few exception types below.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
from django.conf import settings
from django.views.decorators.debug import sensitive_variables

logger = logging.getLogger(__name__)

# OpenCode ids are a prefix, an underscore and 26 letters or digits; accept a little
# more so a future id format still reaches the server, which is the final judge.
ID_BODY = r"[0-9A-Za-z]{10,64}"
SESSION_ID = re.compile(rf"ses_{ID_BODY}")
QUESTION_ID = re.compile(rf"que_{ID_BODY}")
MESSAGE_ID = re.compile(rf"msg_{ID_BODY}")
PERMISSION_ID = re.compile(rf"per_{ID_BODY}")
CREDENTIAL_ID = re.compile(rf"cred_{ID_BODY}")
OAUTH_ATTEMPT_ID = re.compile(rf"con_{ID_BODY}")
# Integration ids are provider names such as `openai`, `302ai` or `wafer.ai`.
INTEGRATION_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")

# The message route serves at most 200 messages a page.
MESSAGE_PAGE_LIMIT = 200
# The server-wide event stream (server-sent events) of every session.
EVENT_STREAM_PATH = "/api/event"


class OpenCodeError(Exception):
    """Base of every failure talking to OpenCode; `str()` is safe to show users."""

    headline = "OpenCode returned an error"


class OpenCodeUnreachable(OpenCodeError):
    headline = "OpenCode is unreachable"


class OpenCodeTimeout(OpenCodeUnreachable):
    headline = "OpenCode did not answer in time"


class OpenCodeUnauthorized(OpenCodeError):
    headline = "OpenCode refused our credentials"


class OpenCodeNotFound(OpenCodeError):
    headline = "Not found on the OpenCode server"


class OpenCodeUpstreamError(OpenCodeError):
    """Any other error status; `status` and OpenCode's `_tag` name it."""

    def __init__(self, message: str, status: int, tag: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.tag = tag


@dataclass(frozen=True)
class Call:
    """One request to OpenCode, built once and sent by either client."""

    method: str
    path: str
    params: dict[str, Any] = field(default_factory=dict)
    # Left out of repr() because a body may carry a provider key.
    body: Any = field(default=None, repr=False)
    # Most v2 replies wrap their payload in {"data": ...}; `unwrap` picks it out.
    unwrap: bool = True


def _location_params(directory: str) -> dict[str, str]:
    return {"location[directory]": directory}


def _error_from(response: httpx.Response, call: Call) -> OpenCodeError:
    try:
        payload = response.json()
    except ValueError:
        payload = {}
    if not isinstance(payload, dict):
        payload = {}
    tag = str(payload.get("_tag") or payload.get("name") or "")
    detail = payload.get("message") or (payload.get("data") or {}).get("message") or ""
    status = response.status_code
    if status in (401, 403):
        return OpenCodeUnauthorized(
            f"OpenCode returned {status} for {call.path}: check "
            "OPENCODE_SERVER_USERNAME and OPENCODE_SERVER_PASSWORD "
            "(or OPENCODE_SERVER_PASSWORD_FILE)"
        )
    if status == 404:
        return OpenCodeNotFound(detail or f"{call.path} was not found")
    return OpenCodeUpstreamError(
        f"OpenCode returned {status} to {call.method} {call.path}"
        + (f": {detail}" if detail else ""),
        status=status,
        tag=tag,
    )


# Placeholder for the server password wherever OpenCode's output contains it.
REDACTED = "[hidden]"


def redact_json(text: str, secret: str) -> str:
    """Replace SECRET, as it is written inside JSON strings, in the JSON TEXT."""
    if not secret:
        return text
    written = json.dumps(secret, ensure_ascii=False)[1:-1]
    return text.replace(written, REDACTED) if written in text else text


def _decode(response: httpx.Response, call: Call, secret: str = "") -> Any:
    """Parse a response, hiding SECRET (the server password) wherever it appears.

    OpenCode 1.18.33 keeps its password in its own environment, which the agent's
    shell inherits, so a command such as `env` prints it into the transcript.
    """
    if response.status_code >= 400:
        error = _error_from(response, call)
        log = logger.info if isinstance(error, OpenCodeNotFound) else logger.warning
        log("OpenCode %s %s -> %s", call.method, call.path, response.status_code)
        raise error
    if response.status_code == 204 or not response.content:
        return None
    try:
        payload = json.loads(redact_json(response.text, secret))
    except ValueError as error:
        logger.warning("OpenCode %s %s returned invalid JSON", call.method, call.path)
        raise OpenCodeUpstreamError(
            f"OpenCode returned invalid JSON to {call.method} {call.path}",
            status=response.status_code,
        ) from error
    if call.unwrap and isinstance(payload, dict) and "data" in payload:
        return payload["data"]
    return payload


def _transport_error(error: httpx.TransportError, call: Call) -> OpenCodeError:
    if isinstance(error, httpx.TimeoutException):
        logger.warning("OpenCode %s %s timed out", call.method, call.path)
        return OpenCodeTimeout(
            f"no response to {call.path} within OPENCODE_TIMEOUT seconds"
        )
    logger.warning("OpenCode %s %s failed: %s", call.method, call.path, error)
    return OpenCodeUnreachable(
        f"the connection to OPENCODE_URL failed ({type(error).__name__}); "
        "check that the server is running"
    )


class _Routes:
    """The v2 routes this dashboard uses; `_send` is sync or async per client."""

    def _send(self, call: Call) -> Any:
        raise NotImplementedError

    def health(self) -> Any:
        return self._send(Call("GET", "/api/health", unwrap=False))

    def resolve_location(self, directory: str) -> Any:
        return self._send(
            Call("GET", "/api/location", _location_params(directory), unwrap=False)
        )

    def create_session(
        self,
        directory: str,
        *,
        model: dict[str, str] | None = None,
        agent: str = "",
    ) -> Any:
        """Create a session; without `model` or `agent` the server's defaults apply.

        `model` is a ModelRef: `{"providerID": ..., "id": ...}`.
        """
        body: dict[str, Any] = {"location": {"directory": directory}}
        if model:
            body["model"] = model
        if agent:
            body["agent"] = agent
        return self._send(Call("POST", "/api/session", body=body))

    def list_sessions(
        self,
        *,
        limit: int = 50,
        cursor: str = "",
        directory: str = "",
        search: str = "",
    ) -> Any:
        params: dict[str, Any] = {"limit": limit}
        # The server rejects `order` next to `cursor`: a cursor carries its order.
        if cursor:
            params["cursor"] = cursor
        else:
            params["order"] = "desc"
        if directory:
            params["directory"] = directory
        if search:
            params["search"] = search
        return self._send(Call("GET", "/api/session", params, unwrap=False))

    def get_session(self, session_id: str) -> Any:
        return self._send(Call("GET", f"/api/session/{session_id}"))

    def active_sessions(self) -> Any:
        return self._send(Call("GET", "/api/session/active"))

    def send_prompt(self, session_id: str, text: str) -> Any:
        return self._send(
            Call(
                "POST",
                f"/api/session/{session_id}/prompt",
                body={"prompt": {"text": text}},
            )
        )

    def list_messages(
        self, session_id: str, *, limit: int = 50, cursor: str = "", order: str = "asc"
    ) -> Any:
        params: dict[str, Any] = {"limit": limit}
        if cursor:
            params["cursor"] = cursor
        else:
            params["order"] = order
        return self._send(
            Call("GET", f"/api/session/{session_id}/message", params, unwrap=False)
        )

    def get_message(self, session_id: str, message_id: str) -> Any:
        return self._send(
            Call("GET", f"/api/session/{session_id}/message/{message_id}")
        )

    def list_questions(self, session_id: str) -> Any:
        return self._send(Call("GET", f"/api/session/{session_id}/question"))

    def reply_question(
        self, session_id: str, question_id: str, answers: list[list[str]]
    ) -> Any:
        return self._send(
            Call(
                "POST",
                f"/api/session/{session_id}/question/{question_id}/reply",
                body={"answers": answers},
            )
        )

    def reject_question(self, session_id: str, question_id: str) -> Any:
        return self._send(
            Call("POST", f"/api/session/{session_id}/question/{question_id}/reject")
        )

    def list_permissions(self, session_id: str) -> Any:
        return self._send(Call("GET", f"/api/session/{session_id}/permission"))

    def reply_permission(self, session_id: str, permission_id: str, reply: str) -> Any:
        return self._send(
            Call(
                "POST",
                f"/api/session/{session_id}/permission/{permission_id}/reply",
                body={"reply": reply},
            )
        )

    def pending_questions_at(self, directory: str) -> Any:
        """List the pending questions of every session in one location."""
        return self._send(
            Call("GET", "/api/question/request", _location_params(directory))
        )

    def pending_permissions_at(self, directory: str) -> Any:
        """List the pending permission requests of every session in one location."""
        return self._send(
            Call("GET", "/api/permission/request", _location_params(directory))
        )

    def interrupt(self, session_id: str) -> Any:
        return self._send(Call("POST", f"/api/session/{session_id}/interrupt"))

    def switch_model(self, session_id: str, model: dict[str, str]) -> Any:
        return self._send(
            Call("POST", f"/api/session/{session_id}/model", body={"model": model})
        )

    def switch_agent(self, session_id: str, agent: str) -> Any:
        return self._send(
            Call("POST", f"/api/session/{session_id}/agent", body={"agent": agent})
        )

    def list_models(self) -> Any:
        return self._send(Call("GET", "/api/model"))

    def list_agents(self) -> Any:
        return self._send(Call("GET", "/api/agent"))

    def list_providers(self) -> Any:
        return self._send(Call("GET", "/api/provider"))

    # Connector auth: the server keeps provider keys and OAuth tokens. Keys pass
    # through the request body only; nothing here logs a body.

    def list_integrations(self) -> Any:
        return self._send(Call("GET", "/api/integration"))

    def get_integration(self, integration_id: str) -> Any:
        """Return one integration, or None: the server returns 200 with null data."""
        return self._send(Call("GET", f"/api/integration/{integration_id}"))

    # Every frame below these two methods, httpx's included, holds the secret, so
    # Django's error reports (active when DEBUG is off) hide all of their variables.
    @sensitive_variables()
    def connect_key(self, integration_id: str, key: str, label: str = "") -> Any:
        body = {"key": key}
        if label:
            body["label"] = label
        return self._send(
            Call("POST", f"/api/integration/{integration_id}/connect/key", body=body)
        )

    def start_oauth(
        self,
        integration_id: str,
        method_id: str,
        inputs: dict[str, str],
        label: str = "",
    ) -> Any:
        body: dict[str, Any] = {"methodID": method_id, "inputs": inputs}
        if label:
            body["label"] = label
        return self._send(
            Call("POST", f"/api/integration/{integration_id}/connect/oauth", body=body)
        )

    def oauth_status(self, attempt_id: str) -> Any:
        return self._send(Call("GET", f"/api/integration/attempt/{attempt_id}"))

    @sensitive_variables()
    def complete_oauth(self, attempt_id: str, code: str) -> Any:
        return self._send(
            Call(
                "POST",
                f"/api/integration/attempt/{attempt_id}/complete",
                body={"code": code},
            )
        )

    def cancel_oauth(self, attempt_id: str) -> Any:
        return self._send(Call("DELETE", f"/api/integration/attempt/{attempt_id}"))

    def remove_credential(self, credential_id: str) -> Any:
        return self._send(Call("DELETE", f"/api/credential/{credential_id}"))


def _collect_page(page: dict[str, Any], messages: list[dict[str, Any]]) -> str | None:
    """Append one page of messages; return the next cursor, or None after the last page.

    The server returns a `next` cursor even on the last page, so a short page ends
    the walk.
    """
    batch = page.get("data") or []
    messages.extend(batch)
    cursor = (page.get("cursor") or {}).get("next")
    if len(batch) < MESSAGE_PAGE_LIMIT or not cursor:
        return None
    return cursor


def _client_options(
    base_url: str, username: str, password: str, timeout: float
) -> dict[str, Any]:
    options: dict[str, Any] = {
        "base_url": base_url,
        "timeout": httpx.Timeout(timeout),
        "headers": {"Accept": "application/json"},
    }
    if password:
        options["auth"] = httpx.BasicAuth(username, password)
    return options


class OpenCodeClient(_Routes):
    def __init__(
        self,
        base_url: str,
        username: str = "opencode",
        password: str = "",
        timeout: float = 10.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.secret = password
        self.http = httpx.Client(
            transport=transport,
            **_client_options(base_url, username, password, timeout),
        )

    def _send(self, call: Call) -> Any:
        try:
            response = self.http.request(
                call.method, call.path, params=call.params or None, json=call.body
            )
        except httpx.TransportError as error:
            raise _transport_error(error, call) from error
        return _decode(response, call, self.secret)

    def all_messages(self, session_id: str) -> list[dict[str, Any]]:
        """Walk every page of a session's messages, oldest first."""
        messages: list[dict[str, Any]] = []
        cursor: str | None = ""
        while cursor is not None:
            page = self.list_messages(
                session_id, limit=MESSAGE_PAGE_LIMIT, cursor=cursor
            )
            cursor = _collect_page(page, messages)
        return messages

    def close(self) -> None:
        self.http.close()


class AsyncOpenCodeClient(_Routes):
    def __init__(
        self,
        base_url: str,
        username: str = "opencode",
        password: str = "",
        timeout: float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.secret = password
        self.http = httpx.AsyncClient(
            transport=transport,
            **_client_options(base_url, username, password, timeout),
        )

    async def _send(self, call: Call) -> Any:
        try:
            response = await self.http.request(
                call.method, call.path, params=call.params or None, json=call.body
            )
        except httpx.TransportError as error:
            raise _transport_error(error, call) from error
        return _decode(response, call, self.secret)

    async def all_messages(self, session_id: str) -> list[dict[str, Any]]:
        """Walk every page of a session's messages, oldest first."""
        messages: list[dict[str, Any]] = []
        cursor: str | None = ""
        while cursor is not None:
            page = await self.list_messages(
                session_id, limit=MESSAGE_PAGE_LIMIT, cursor=cursor
            )
            cursor = _collect_page(page, messages)
        return messages

    async def events(
        self, read_timeout: float, on_open: Callable[[], None] | None = None
    ) -> AsyncIterator[dict[str, Any]]:
        """Yield each event of the server-wide event stream until it ends.

        ON_OPEN is called once the server accepted the stream. Only `data:` lines
        are read, each one JSON event. A silence longer than READ_TIMEOUT seconds
        raises OpenCodeTimeout, so a dead connection is noticed.
        """
        call = Call("GET", EVENT_STREAM_PATH)
        timeout = httpx.Timeout(self.http.timeout.connect, read=read_timeout)
        headers = {"Accept": "text/event-stream"}
        try:
            async with self.http.stream(
                "GET", EVENT_STREAM_PATH, headers=headers, timeout=timeout
            ) as response:
                if response.status_code >= 400:
                    await response.aread()
                    _decode(response, call)
                if on_open is not None:
                    on_open()
                async for line in response.aiter_lines():
                    # Streamed text can carry the password as other output does.
                    event = _parse_event_line(redact_json(line, self.secret))
                    if event is not None:
                        yield event
        except httpx.TransportError as error:
            raise _transport_error(error, call) from error

    async def aclose(self) -> None:
        await self.http.aclose()


def _parse_event_line(line: str) -> dict[str, Any] | None:
    if not line.startswith("data:"):
        return None
    try:
        event = json.loads(line[5:])
    except ValueError:
        logger.warning("OpenCode sent an event that is not JSON: %.200s", line)
        return None
    return event if isinstance(event, dict) else None


def _settings_options() -> dict[str, Any]:
    if not settings.OPENCODE_URL:
        raise OpenCodeUnreachable(
            "OPENCODE_URL is not set: start the app with `manage.py runui`, which "
            "runs its own OpenCode server, or point OPENCODE_URL at one"
        )
    return {
        "base_url": settings.OPENCODE_URL,
        "username": settings.OPENCODE_SERVER_USERNAME,
        "password": settings.OPENCODE_SERVER_PASSWORD,
        "timeout": settings.OPENCODE_TIMEOUT,
    }


_shared_client: tuple[tuple, OpenCodeClient] | None = None


def get_client() -> OpenCodeClient:
    """Return the process-wide sync client, rebuilt when OpenCode settings change."""
    global _shared_client
    options = _settings_options()
    key = tuple(sorted(options.items()))
    if _shared_client is None or _shared_client[0] != key:
        _shared_client = (key, OpenCodeClient(**options))
    return _shared_client[1]


def new_async_client() -> AsyncOpenCodeClient:
    """Build an async client for the running event loop; the caller closes it."""
    return AsyncOpenCodeClient(**_settings_options())
