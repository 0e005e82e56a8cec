"""Providers page, model and agent choice, and server access.

Tests run against a real `opencode serve`. httpx MockTransport stands in only for
OAuth results and upstream faults that the offline server cannot produce.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import sqlite3
import sys
import uuid

import httpx
import pytest
from django.core.cache import cache
from django.core.signals import got_request_exception, request_started
from django.db import connection
from django.views.debug import ExceptionReporter

from providers import catalog
from providers.catalog import warm_catalog
from providers.models import CredentialOrigin, SessionDefaults
from sessions import opencode
from sessions.watch import SessionWatcher
from tests.conftest import ENV_SAMPLE_KEY, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.django_db]

SESSION_URL = re.compile(r"^/sessions/(ses_[0-9A-Za-z]+)/$")
ATTEMPT_URL = re.compile(r"^/providers/openai/attempts/(con_[0-9A-Za-z]+)/$")


@pytest.fixture(autouse=True)
def empty_catalog_cache():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def staff_client(client, staff):
    client.force_login(staff)
    return client


def sample_key() -> str:
    return f"sk-sample-{uuid.uuid4().hex}"


def database_bytes(tmp_path) -> bytes:
    """Copy the test database, every page of it, into a file and return its bytes."""
    path = tmp_path / "copy.sqlite3"
    connection.ensure_connection()
    target = sqlite3.connect(path)
    connection.connection.backup(target)
    target.close()
    return path.read_bytes()


def text_of(response) -> str:
    return response.content.decode()


# Providers page


def test_list_shows_integrations(staff_client, opencode_settings):
    response = staff_client.get("/providers/")

    text = text_of(response)
    assert response.status_code == 200
    total = int(re.search(r"of (\d+) providers", text).group(1))
    assert total > 200
    assert 'href="/providers/openai/"' in text
    assert "environment variable: DEEPSEEK_API_KEY" in text
    assert ENV_SAMPLE_KEY not in text
    # Connected integrations come first.
    assert text.index("/providers/deepseek/") < text.index("/providers/302ai/")


def test_search_returns_fragment(staff_client, opencode_settings):
    response = staff_client.get(
        "/providers/", {"q": "GROQ"}, headers={"HX-Request": "true"}
    )

    text = text_of(response)
    assert response.status_code == 200
    assert text.lstrip().startswith('<div id="integration-results"')
    assert 'href="/providers/groq/"' in text
    assert "/providers/openai/" not in text
    assert response["Vary"].count("HX-Request") == 1


def test_connected_only_filter(staff_client, opencode_settings):
    response = staff_client.get("/providers/", {"connected": "1"})

    text = text_of(response)
    assert "/providers/deepseek/" in text
    assert "/providers/302ai/" not in text


def test_non_staff_refused(owner_client, opencode_settings):
    pages = ["/providers/", "/providers/groq/", "/providers/groq/key/"]
    for path in pages[:2]:
        assert owner_client.get(path).status_code == 403, path
    response = owner_client.post(pages[2], {"key": sample_key()})
    assert response.status_code == 403

    dashboard = text_of(owner_client.get("/"))
    assert 'href="/providers/"' not in dashboard


def test_staff_sees_providers_link(staff_client, opencode_settings):
    assert 'href="/providers/"' in text_of(staff_client.get("/"))


def test_anonymous_sent_to_login(client, opencode_settings):
    response = client.get("/providers/")

    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_unknown_integration_is_404(staff_client, opencode_settings):
    assert staff_client.get("/providers/no-such-provider/").status_code == 404
    assert staff_client.get("/providers/bad%20id/").status_code == 404


def test_detail_shows_oauth_methods(staff_client, opencode_settings):
    text = text_of(staff_client.get("/providers/openai/"))

    assert "ChatGPT Pro/Plus (browser)" in text
    assert 'action="/providers/openai/oauth/chatgpt-browser/"' in text
    assert 'action="/providers/openai/key/"' in text


@pytest.mark.django_db(transaction=True)
def test_key_connects_and_stays_secret(
    staff_client, staff, opencode_settings, api, caplog, tmp_path
):
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="httpx")
    key = sample_key()

    response = staff_client.post(
        "/providers/groq/key/", {"key": key, "label": "team account"}, follow=True
    )

    assert response.redirect_chain == [("/providers/groq/", 302)]
    detail = text_of(response)
    assert "Groq is connected with a stored key." in detail
    assert "team account" in detail
    assert "connected by sam" in detail
    connections = api.get_integration("groq")["connections"]
    assert [item["label"] for item in connections] == ["team account"]
    origin = CredentialOrigin.objects.get(credential_id=connections[0]["id"])
    assert origin.method == "key"
    assert origin.connected_by == staff

    listing = text_of(staff_client.get("/providers/", {"q": "groq"}))
    assert "stored key: team account" in listing
    dashboard = text_of(staff_client.get("/"))
    confirm = text_of(
        staff_client.get(f"/providers/groq/credentials/{connections[0]['id']}/remove/")
    )
    for page in (detail, listing, dashboard, confirm):
        assert key not in page
    # Each search below would find the key: the logs contain the request line and the
    # database contains the credential's id.
    assert "/api/integration/groq/connect/key" in caplog.text
    assert key not in caplog.text
    database = database_bytes(tmp_path)
    assert connections[0]["id"].encode() in database
    assert key.encode() not in database
    assert key not in json.dumps(dict(staff_client.session.items()))
    assert key not in staff_client.cookies.output()

    response = staff_client.post(
        f"/providers/groq/credentials/{connections[0]['id']}/remove/", follow=True
    )

    assert "Removed team account from Groq." in text_of(response)
    assert api.get_integration("groq")["connections"] == []
    assert not CredentialOrigin.objects.filter(integration_id="groq").exists()


def test_connected_key_offers_models(staff_client, opencode_settings, api):
    before = text_of(staff_client.get("/"))
    assert 'label="Groq (not connected)"' not in before
    assert 'label="Groq"' not in before

    staff_client.post("/providers/groq/key/", {"key": sample_key()})
    after = text_of(staff_client.get("/"))
    credential = api.get_integration("groq")["connections"][0]
    staff_client.post(f"/providers/groq/credentials/{credential['id']}/remove/")

    assert '<optgroup label="Groq">' in after


def test_remove_asks_first(staff_client, opencode_settings, api):
    staff_client.post("/providers/groq/key/", {"key": sample_key(), "label": "temp"})
    credential = api.get_integration("groq")["connections"][0]
    url = f"/providers/groq/credentials/{credential['id']}/remove/"

    response = staff_client.get(url)

    assert response.status_code == 200
    assert "Remove credential?" in text_of(response)
    assert api.get_integration("groq")["connections"], "GET must not remove"
    staff_client.post(url)
    assert api.get_integration("groq")["connections"] == []


def test_remove_twice_says_already_removed(staff_client, opencode_settings, api):
    staff_client.post("/providers/groq/key/", {"key": sample_key()})
    credential = api.get_integration("groq")["connections"][0]
    url = f"/providers/groq/credentials/{credential['id']}/remove/"
    staff_client.post(url)

    response = staff_client.post(url, follow=True)

    assert "That credential was already removed." in text_of(response)


@pytest.mark.parametrize(
    ("key", "message"),
    [
        ("   ", "Paste the provider&#x27;s API key."),
        ("sk-" + "x" * 20_000, "Ensure this value has at most 16384 characters"),
    ],
)
def test_bad_key_rejected_unechoed(staff_client, opencode_settings, api, key, message):
    response = staff_client.post(
        "/providers/groq/key/", {"key": key, "label": "keep me"}
    )

    text = text_of(response)
    assert response.status_code == 422
    assert message in text
    assert 'value="keep me"' in text
    if key.strip():
        assert key not in text
    assert api.get_integration("groq")["connections"] == []


def use_mock_server(monkeypatch, handler) -> None:
    """Send the providers pages' OpenCode requests to HANDLER instead."""
    client = opencode.OpenCodeClient(
        "http://opencode.test",
        "opencode",
        "secret",
        transport=httpx.MockTransport(handler),
    )
    for module in ("providers.views", "providers.oauth_views"):
        monkeypatch.setattr(f"{module}.get_client", lambda: client)


GROQ = {
    "id": "groq",
    "name": "Groq",
    "methods": [{"type": "key"}, {"type": "env", "names": ["GROQ_API_KEY"]}],
    "connections": [],
}


def test_failed_connect_masks_key(staff_client, monkeypatch, caplog):
    key = sample_key()
    caplog.set_level(logging.DEBUG)

    def handler(request):
        if request.method == "GET":
            return httpx.Response(200, json={"data": GROQ})
        # An upstream error that repeats the key back must not carry it to the page.
        return httpx.Response(
            400, json={"_tag": "InvalidRequestError", "message": f"bad key {key}"}
        )

    use_mock_server(monkeypatch, handler)

    response = staff_client.post("/providers/groq/key/", {"key": key, "label": "ops"})

    text = text_of(response)
    assert response.status_code == 502
    assert "bad key [hidden]" in text
    assert key not in text
    assert 'value="ops"' in text
    assert key not in caplog.text


def test_error_report_hides_key(staff_client, monkeypatch, settings):
    """A crash inside httpx while sending a key leaves it out of the 500 page and of
    the report Django mails or logs for it (DEBUG off, as in production)."""
    key = sample_key()
    reports = []

    def handler(request):
        if request.method == "GET":
            return httpx.Response(200, json={"data": GROQ})
        raise RuntimeError("transport broke")

    def report(sender, request, **kwargs):
        reporter = ExceptionReporter(request, *sys.exc_info())
        reports.append(reporter.get_traceback_html())
        reports.append(reporter.get_traceback_text())

    use_mock_server(monkeypatch, handler)
    settings.DEBUG = False
    staff_client.raise_request_exception = False
    got_request_exception.connect(report)
    try:
        response = staff_client.post("/providers/groq/key/", {"key": key})
    finally:
        got_request_exception.disconnect(report)

    assert response.status_code == 500
    assert key not in text_of(response)
    assert len(reports) == 2
    for text in reports:
        assert "transport broke" in text  # the report covers the failure
        assert "httpx/_transports/mock.py" in text  # and the frames inside httpx
        assert key not in text


# OAuth


def test_oauth_start_poll_cancel(staff_client, opencode_settings, api):
    """Start the browser sign-in on the real server, poll it, then cancel it.

    The offline server can never complete it: that path is tested with a mock below.
    """
    response = staff_client.post("/providers/openai/oauth/chatgpt-browser/", {})

    assert response.status_code == 302, text_of(response)[:500]
    attempt_id = ATTEMPT_URL.match(response["Location"]).group(1)
    page = text_of(staff_client.get(response["Location"]))
    assert 'href="https://auth.openai.com/oauth/authorize?' in page
    assert 'rel="noopener noreferrer"' in page
    assert "Waiting for the sign-in to finish" in page
    assert 'hx-trigger="every 2s"' in page
    assert api.oauth_status(attempt_id)["status"] == "pending"

    fragment = staff_client.get(response["Location"], headers={"HX-Request": "true"})
    assert text_of(fragment).lstrip().startswith('<div id="oauth-status"')

    cancelled = staff_client.post(
        f"/providers/openai/attempts/{attempt_id}/cancel/", follow=True
    )

    text = text_of(cancelled)
    assert "The sign-in was cancelled." in text
    assert 'hx-trigger="every 2s"' not in text
    with pytest.raises(opencode.OpenCodeUpstreamError):
        api.oauth_status(attempt_id)


def test_oauth_attempt_of_other_browser_is_404(staff_client, opencode_settings):
    response = staff_client.get(
        "/providers/openai/attempts/con_AAAAAAAAAAAAAAAAAAAAAAAAAA/"
    )

    assert response.status_code == 404


class FakeOAuthServer:
    """Serves one integration whose OAuth attempt reports `statuses` in turn."""

    ATTEMPT = "con_BBBBBBBBBBBBBBBBBBBBBBBBBB"

    def __init__(self, statuses, mode="auto"):
        self.statuses = list(statuses)
        self.mode = mode
        self.connections = []
        self.requests = []

    def integration(self):
        return {
            "id": "example",
            "name": "Example",
            "methods": [
                {
                    "id": "device",
                    "type": "oauth",
                    "label": "Example account",
                    "prompts": [
                        {"type": "text", "key": "team", "message": "Team name"},
                    ],
                }
            ],
            "connections": self.connections,
        }

    def __call__(self, request):
        self.requests.append(request)
        path = request.url.path
        if path == "/api/integration/example":
            return httpx.Response(200, json={"data": self.integration()})
        if path.endswith("/connect/oauth"):
            attempt = {
                "attemptID": self.ATTEMPT,
                "url": "https://example.test/device",
                "instructions": "Enter code WXYZ-1234",
                "mode": self.mode,
                "time": {"created": 1, "expires": 2},
            }
            return httpx.Response(200, json={"data": attempt})
        if path.endswith("/complete"):
            return httpx.Response(204)
        if request.method == "DELETE":
            return httpx.Response(204)
        if path == f"/api/integration/attempt/{self.ATTEMPT}":
            status = (
                self.statuses.pop(0) if len(self.statuses) > 1 else self.statuses[0]
            )
            if status == "complete":
                self.connections = [
                    {
                        "type": "credential",
                        "id": "cred_CCCCCCCCCCCCCCCCCCCCCCCCCC",
                        "label": "default",
                    }
                ]
            if isinstance(status, int):
                return httpx.Response(status, json={"name": "UnknownError"})
            body = {"status": status, "time": {"created": 1, "expires": 2}}
            if status == "failed":
                body["message"] = "access denied"
            return httpx.Response(200, json={"data": body})
        return httpx.Response(404, json={"message": f"unexpected {path}"})


def start_fake_attempt(staff_client, monkeypatch, server) -> str:
    use_mock_server(monkeypatch, server)
    response = staff_client.post(
        "/providers/example/oauth/device/", {"input-team": "core", "label": "ours"}
    )
    assert response.status_code == 302, text_of(response)[:500]
    return response["Location"]


def test_oauth_polls_until_complete(staff_client, monkeypatch):
    server = FakeOAuthServer(["pending", "complete"])
    url = start_fake_attempt(staff_client, monkeypatch, server)
    start = json.loads(server.requests[1].content)
    assert start == {"methodID": "device", "inputs": {"team": "core"}, "label": "ours"}

    first = text_of(staff_client.get(url, headers={"HX-Request": "true"}))
    second = text_of(staff_client.get(url, headers={"HX-Request": "true"}))

    assert "Waiting for the sign-in to finish" in first
    assert 'hx-trigger="every 2s"' in first
    assert "Connected." in second
    assert 'hx-trigger="every 2s"' not in second
    origin = CredentialOrigin.objects.get(
        credential_id="cred_CCCCCCCCCCCCCCCCCCCCCCCCCC"
    )
    assert origin.method == "oauth"
    detail = text_of(staff_client.get("/providers/example/"))
    assert "OAuth" in detail
    polls = [r for r in server.requests if r.url.path.endswith(server.ATTEMPT)]
    staff_client.get(url, headers={"HX-Request": "true"})
    assert len(
        [r for r in server.requests if r.url.path.endswith(server.ATTEMPT)]
    ) == len(polls), "a finished attempt is not asked about again"


@pytest.mark.parametrize(
    ("status", "shown"),
    [
        ("failed", "The sign-in failed: access denied."),
        ("expired", "The sign-in expired before it finished."),
        (500, "OpenCode no longer knows this sign-in"),
    ],
)
def test_oauth_final_states_stop_polling(staff_client, monkeypatch, status, shown):
    server = FakeOAuthServer([status])
    url = start_fake_attempt(staff_client, monkeypatch, server)

    text = text_of(staff_client.get(url, headers={"HX-Request": "true"}))

    assert shown in text
    assert 'hx-trigger="every 2s"' not in text


def test_oauth_poll_stops_on_refused_credentials(staff_client, monkeypatch):
    server = FakeOAuthServer([401])
    url = start_fake_attempt(staff_client, monkeypatch, server)

    text = text_of(staff_client.get(url, headers={"HX-Request": "true"}))

    assert "OpenCode refused our credentials" in text
    assert 'hx-trigger="every 2s"' not in text
    assert "Check again" in text


def test_oauth_code_mode_sends_code(staff_client, monkeypatch):
    server = FakeOAuthServer(["pending"], mode="code")
    url = start_fake_attempt(staff_client, monkeypatch, server)
    page = text_of(staff_client.get(url))
    assert "Enter code WXYZ-1234" in page
    assert f'action="{url}code/"' in page

    response = staff_client.post(f"{url}code/", {"code": "secret-code-123"})

    assert response.status_code == 302
    complete = next(r for r in server.requests if r.url.path.endswith("/complete"))
    assert json.loads(complete.content) == {"code": "secret-code-123"}


def test_oauth_required_prompt(staff_client, monkeypatch):
    server = FakeOAuthServer(["pending"])
    use_mock_server(monkeypatch, server)

    response = staff_client.post("/providers/example/oauth/device/", {"label": "x"})

    assert response.status_code == 422
    assert "Team name: required." in text_of(response)


# Model and agent


def start_session(client, opencode_server, prompt: str, **choice) -> str:
    response = client.post(
        "/sessions/new/",
        {"workspace": opencode_server.workspaces[0], "prompt": prompt, **choice},
    )
    assert response.status_code == 302, text_of(response)[:800]
    return SESSION_URL.match(response["Location"]).group(1)


def assistant_messages(api, session_id: str) -> list[dict]:
    return [
        message
        for message in api.all_messages(session_id)
        if message.get("type") == "assistant"
        and message.get("time", {}).get("completed")
    ]


def test_dashboard_offers_models_and_agents(owner_client, opencode_settings):
    text = text_of(owner_client.get("/"))

    assert '<option value="scripted/second">Scripted Second</option>' in text
    assert '<option value="build">build</option>' in text
    assert '<option value="plan">plan</option>' in text
    assert '<option value="general">' not in text  # a subagent
    assert '<option value="title">' not in text  # hidden
    # Connected providers first: the config-defined one before OpenCode Zen.
    assert text.index('<optgroup label="Scripted">') < text.index(
        '<optgroup label="OpenCode Zen (not connected)">'
    )


def test_new_session_uses_choice(
    owner_client, owner, opencode_settings, opencode_server, api
):
    session_id = start_session(
        owner_client,
        opencode_server,
        "which [[model]]",
        model="scripted/second",
        agent="plan",
    )

    session = api.get_session(session_id)
    assert session["model"]["id"] == "second"
    assert session["agent"] == "plan"
    reply = wait_for(lambda: assistant_messages(api, session_id))[0]
    assert reply["content"][0]["text"] == "Answered by model second"
    assert reply["agent"] == "plan"
    saved = SessionDefaults.objects.get(user=owner)
    assert (saved.model, saved.agent) == ("scripted/second", "plan")

    dashboard = text_of(owner_client.get("/"))
    assert '<option value="scripted/second" selected>' in dashboard
    assert '<option value="plan" selected>' in dashboard


def test_switch_reaches_server(
    owner_client, owner, opencode_settings, opencode_server, api
):
    session_id = start_session(owner_client, opencode_server, "first [[model]]")
    wait_for(lambda: assistant_messages(api, session_id))
    page = text_of(owner_client.get(f"/sessions/{session_id}/"))
    assert f'hx-post="/sessions/{session_id}/model-agent/"' in page

    response = owner_client.post(
        f"/sessions/{session_id}/model-agent/",
        {"model": "scripted/second", "agent": "plan"},
        headers={"HX-Request": "true"},
    )

    text = text_of(response)
    assert response.status_code == 200
    assert "Model: <code>scripted/second</code>" in text
    assert "Agent: <code>plan</code>" in text
    session = api.get_session(session_id)
    assert (session["model"]["id"], session["agent"]) == ("second", "plan")
    saved = SessionDefaults.objects.get(user=owner)
    assert (saved.model, saved.agent) == ("scripted/second", "plan")

    owner_client.post(f"/sessions/{session_id}/prompt/", {"prompt": "again [[model]]"})
    replies = wait_for(
        lambda: [
            m
            for m in assistant_messages(api, session_id)
            if m["content"]
            and m["content"][0].get("text") == "Answered by model second"
        ]
    )
    assert replies[0]["agent"] == "plan"
    assert replies[0]["model"]["id"] == "second"


def test_switch_only_agent_keeps_model(
    owner_client, opencode_settings, opencode_server, api
):
    session_id = start_session(
        owner_client, opencode_server, "hello", model="scripted/second"
    )

    response = owner_client.post(
        f"/sessions/{session_id}/model-agent/", {"agent": "plan"}
    )

    assert response.status_code == 302
    session = api.get_session(session_id)
    assert (session["model"]["id"], session["agent"]) == ("second", "plan")


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        (
            {"model": "scripted/nope"},
            "scripted/nope is not a model this OpenCode server offers.",
        ),
        ({"agent": "general"}, "general is not an agent this OpenCode server offers."),
        ({}, "Choose a model or an agent to switch to."),
    ],
)
def test_switch_rejects_bad_choice(
    owner_client, opencode_settings, opencode_server, api, fields, message
):
    session_id = start_session(owner_client, opencode_server, "hello")

    response = owner_client.post(
        f"/sessions/{session_id}/model-agent/", fields, headers={"HX-Request": "true"}
    )

    assert response.status_code == 422
    assert message in text_of(response)
    session = api.get_session(session_id)
    assert (session.get("model") or {}).get("id") != "nope"
    assert session.get("agent") != "general"


def test_new_session_rejects_unknown_model(
    owner_client, opencode_settings, opencode_server
):
    response = owner_client.post(
        "/sessions/new/",
        {
            "workspace": opencode_server.workspaces[0],
            "prompt": "keep this prompt",
            "model": "scripted/nope",
        },
    )

    text = text_of(response)
    assert response.status_code == 422
    assert "scripted/nope is not a model this OpenCode server offers." in text
    assert "keep this prompt" in text


def test_first_request_warms_catalog(opencode_settings):
    request_started.connect(warm_catalog)

    warm_catalog()

    assert not request_started.disconnect(warm_catalog), "it disconnects itself"
    cached = wait_for(lambda: cache.get(catalog._cache_key()))
    assert any(option.value == "scripted/second" for option in cached.models)


# Server access


@pytest.mark.parametrize("password", ["wrong", ""], ids=["wrong", "missing"])
def test_refused_password_banner(
    staff_client, opencode_settings, opencode_server, api, caplog, password
):
    session_id = api.create_session(opencode_server.workspaces[0])["id"]
    if password:
        password = f"wrong-{uuid.uuid4().hex}"
    opencode_settings.OPENCODE_SERVER_PASSWORD = password
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="httpx")

    for path in (
        "/",
        "/sessions/",
        f"/sessions/{session_id}/",
        "/providers/",
        "/providers/groq/",
    ):
        response = staff_client.get(path)
        text = text_of(response)
        assert "OpenCode refused our credentials" in text, path
        assert "OPENCODE_SERVER_PASSWORD" in text, path
        assert "OpenCode is unreachable" not in text, path
        assert opencode_server.password not in text, path
        if password:
            assert password not in text, path
    assert "401" in caplog.text
    assert opencode_server.password not in caplog.text
    if password:
        assert password not in caplog.text


def test_unreachable_banner_differs(staff_client, opencode_settings):
    opencode_settings.OPENCODE_URL = "http://127.0.0.1:9"

    for path in ("/", "/providers/"):
        text = text_of(staff_client.get(path))
        assert "OpenCode is unreachable" in text, path
        assert "refused our credentials" not in text, path


def test_password_file_is_read(monkeypatch, tmp_path):
    from opencode_ui import env

    secret = tmp_path / "password"
    secret.write_text("from-a-file\n")
    monkeypatch.setenv("OPENCODE_SERVER_PASSWORD", "from-the-environment")
    monkeypatch.setenv("OPENCODE_SERVER_PASSWORD_FILE", str(secret))

    assert env.get_str("OPENCODE_SERVER_PASSWORD") == "from-a-file"


@pytest.mark.django_db(transaction=True)
async def test_refused_poller_backs_off(opencode_settings, opencode_server, api):
    """With a wrong password the poller polls once, then waits the longest backoff."""
    session_id = api.create_session(opencode_server.workspaces[0])["id"]

    def wrong_password_client():
        return opencode.AsyncOpenCodeClient(opencode_server.url, "opencode", "wrong")

    watcher = SessionWatcher(session_id, client_factory=wrong_password_client)
    watcher.start()
    await asyncio.sleep(2.5)
    await watcher.stop()

    assert watcher.polls == 1
    assert isinstance(watcher._error, opencode.OpenCodeUnauthorized)
