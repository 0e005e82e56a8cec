"""Fault paths of the OpenCode client that a real server cannot easily produce."""

from __future__ import annotations

import json

import httpx
import pytest

from sessions import opencode


def client_answering(handler) -> opencode.OpenCodeClient:
    return opencode.OpenCodeClient(
        "http://opencode.test",
        "opencode",
        "secret",
        transport=httpx.MockTransport(handler),
    )


def async_client_answering(handler) -> opencode.AsyncOpenCodeClient:
    return opencode.AsyncOpenCodeClient(
        "http://opencode.test",
        "opencode",
        "secret",
        transport=httpx.MockTransport(handler),
    )


def test_basic_auth_sent():
    seen = []

    def handler(request):
        seen.append(request.headers["Authorization"])
        return httpx.Response(200, json={"healthy": True})

    assert client_answering(handler).health() == {"healthy": True}
    assert seen == ["Basic b3BlbmNvZGU6c2VjcmV0"]  # opencode:secret


def test_401_is_unauthorized():
    client = client_answering(
        lambda request: httpx.Response(
            401,
            json={"_tag": "UnauthorizedError", "message": "Authentication required"},
        )
    )

    with pytest.raises(opencode.OpenCodeUnauthorized) as raised:
        client.get_session("ses_AAAAAAAAAAAAAAAAAAAAAAAAAA")
    assert "OPENCODE_SERVER_PASSWORD" in str(raised.value)
    assert "secret" not in str(raised.value)


def test_404_is_not_found():
    client = client_answering(
        lambda request: httpx.Response(
            404,
            json={"_tag": "SessionNotFoundError", "message": "Session not found: x"},
        )
    )

    with pytest.raises(opencode.OpenCodeNotFound, match="Session not found"):
        client.get_session("ses_AAAAAAAAAAAAAAAAAAAAAAAAAA")


def test_500_is_upstream_error():
    client = client_answering(
        lambda request: httpx.Response(
            500,
            json={
                "name": "UnknownError",
                "data": {"message": "Unexpected server error."},
            },
        )
    )

    with pytest.raises(opencode.OpenCodeUpstreamError) as raised:
        client.resolve_location("/missing")
    assert raised.value.status == 500
    assert raised.value.tag == "UnknownError"
    assert "Unexpected server error." in str(raised.value)


def test_invalid_json_is_upstream_error():
    client = client_answering(
        lambda request: httpx.Response(200, text="<html>proxy</html>")
    )

    with pytest.raises(opencode.OpenCodeUpstreamError, match="invalid JSON"):
        client.active_sessions()


def test_timeout_is_timeout():
    def handler(request):
        raise httpx.ReadTimeout("slow", request=request)

    with pytest.raises(opencode.OpenCodeTimeout) as raised:
        client_answering(handler).active_sessions()
    assert isinstance(raised.value, opencode.OpenCodeUnreachable)


def test_refused_connection_is_unreachable():
    def handler(request):
        raise httpx.ConnectError("refused", request=request)

    with pytest.raises(opencode.OpenCodeUnreachable, match="ConnectError"):
        client_answering(handler).active_sessions()


def test_reply_sends_answers_in_order():
    bodies = []

    def handler(request):
        bodies.append((request.url.path, json.loads(request.content)))
        return httpx.Response(204)

    result = client_answering(handler).reply_question(
        "ses_AAAAAAAAAAAAAAAAAAAAAAAAAA",
        "que_BBBBBBBBBBBBBBBBBBBBBBBBBB",
        [["a", "b"], ["c"]],
    )

    assert result is None
    assert bodies == [
        (
            "/api/session/ses_AAAAAAAAAAAAAAAAAAAAAAAAAA/question/que_BBBBBBBBBBBBBBBBBBBBBBBBBB/reply",
            {"answers": [["a", "b"], ["c"]]},
        )
    ]


def _paged_handler(total: int):
    messages = [{"id": f"msg_{index:026d}", "type": "user"} for index in range(total)]
    requests = []

    def handler(request):
        requests.append(dict(request.url.params))
        start = int(request.url.params.get("cursor") or 0)
        limit = int(request.url.params["limit"])
        page = messages[start : start + limit]
        return httpx.Response(
            200, json={"data": page, "cursor": {"next": str(start + limit)}}
        )

    return handler, requests


def test_all_messages_walks_pages():
    handler, requests = _paged_handler(450)

    messages = client_answering(handler).all_messages("ses_AAAAAAAAAAAAAAAAAAAAAAAAAA")

    assert len(messages) == 450
    assert [request.get("cursor") for request in requests] == [None, "200", "400"]
    assert "order" not in requests[1], "a cursor must not be combined with order"


async def test_async_all_messages_walks_pages():
    handler, requests = _paged_handler(200)
    client = async_client_answering(handler)

    messages = await client.all_messages("ses_AAAAAAAAAAAAAAAAAAAAAAAAAA")
    await client.aclose()

    assert len(messages) == 200
    assert len(requests) == 2  # a full page needs one more request to see the end


def test_missing_url_is_unreachable(settings):
    settings.OPENCODE_URL = ""

    with pytest.raises(opencode.OpenCodeUnreachable, match="OPENCODE_URL is not set"):
        opencode.get_client()


def test_server_password_hidden_in_output():
    body = {"data": [{"type": "user", "text": "OPENCODE_SERVER_PASSWORD=secret"}]}

    client = client_answering(lambda request: httpx.Response(200, json=body))

    [message] = client.list_questions("ses_AAAAAAAAAAAAAAAAAAAAAAAAAA")
    assert message["text"] == "OPENCODE_SERVER_PASSWORD=[hidden]"
