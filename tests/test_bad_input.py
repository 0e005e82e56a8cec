"""Odd and hostile input: every case is accepted intact or refused clearly."""

from __future__ import annotations

import subprocess

import httpx
import pytest
from django.test import Client

from opencode_ui.login import MAX_FAILURES
from sessions.watch import registry
from tests.conftest import wait_for
from tests.test_consumers import connect_viewer, receive_until
from tests.test_flow import start_session, wait_for_page

pytestmark = [pytest.mark.integration, pytest.mark.django_db]

SCRIPTS = "Grüße 👋🏽 مرحبا بالعالم שלום 漢字 e\u0301 👨‍👩‍👧 \u202eevil"


def _user_text(api, session_id: str) -> str:
    messages = wait_for(lambda: api.all_messages(session_id))
    return messages[0]["text"]


def test_every_script_kept_intact(
    owner_client, opencode_settings, opencode_server, api
):
    session_id = start_session(owner_client, opencode_server, SCRIPTS)

    assert _user_text(api, session_id) == SCRIPTS
    text = wait_for_page(owner_client, session_id, "Scripted reply to")
    assert "Grüße 👋🏽 مرحبا بالعالم" in text
    assert 'dir="auto"' in text


def test_one_megabyte_prompt_accepted(
    owner_client, opencode_settings, opencode_server, api
):
    prompt = ("0123456789abcdef" * 65536)[:1_000_000]

    session_id = start_session(owner_client, opencode_server, prompt)

    assert _user_text(api, session_id) == prompt


def test_oversized_prompt_refused(owner_client, opencode_settings, opencode_server):
    prompt = "x" * 1_048_577

    response = owner_client.post(
        "/sessions/new/", {"workspace": opencode_server.workspaces[0], "prompt": prompt}
    )

    assert response.status_code == 422
    assert (
        "Ensure this value has at most 1048576 characters" in response.content.decode()
    )


def test_control_characters_accepted(
    owner_client, opencode_settings, opencode_server, api
):
    prompt = "bell\x07 tab\t escape\x1b[31m red"

    session_id = start_session(owner_client, opencode_server, prompt)

    assert _user_text(api, session_id) == prompt
    text = wait_for_page(owner_client, session_id, "Scripted reply to")
    assert "\x07" not in text
    assert "\x1b" not in text


@pytest.mark.parametrize(
    "path",
    [
        "/sessions/ses_short/",
        "/sessions/ses_AAAAAAAAAAAAAAAAAAAAAAAAAA/questions/que_../reply/",
        "/sessions/ses_AAAAAAAAAAAAAAAAAAAAAAAAAA/messages/msg_x/parts/0/",
        "/sessions/ses_AAAAAAAAAAAAAAAAAAAAAAAAAA/messages/"
        "msg_AAAAAAAAAAAAAAAAAAAAAAAAAA/parts/-1/",
        "/sessions/%00/",
        "/sessions/ses_AAAAAAAAAAAAAAAAAAAAAAAAAA%2F..%2F/",
        "/sessions/" + "a" * 5000 + "/",
    ],
)
def test_odd_paths_are_404(owner_client, opencode_settings, path):
    assert owner_client.get(path).status_code == 404


def test_hostile_title_and_workspace_escaped(
    owner_client, opencode_settings, opencode_server, tmp_path, api
):
    workspace = tmp_path / "<b>ws<i>&amp;"
    workspace.mkdir()
    subprocess.run(["git", "init", "-q", str(workspace)], check=True)
    opencode_settings.OPENCODE_WORKSPACES = [str(workspace)]
    created = owner_client.post(
        "/sessions/new/", {"workspace": str(workspace), "prompt": "hello"}
    )
    session_id = created["Location"].split("/")[2]
    httpx.patch(
        f"{opencode_server.url}/session/{session_id}",
        json={"title": '<img src=x onerror="alert(1)">'},
        auth=("opencode", opencode_server.password),
    ).raise_for_status()

    pages = [
        owner_client.get("/").content.decode(),
        owner_client.get("/sessions/").content.decode(),
        owner_client.get(f"/sessions/{session_id}/").content.decode(),
    ]

    for text in pages:
        assert "<img src=x" not in text
        assert "<b>ws<i>" not in text
        assert "&lt;b&gt;ws&lt;i&gt;&amp;amp;" in text
    assert "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;" in pages[2]


@pytest.mark.django_db(transaction=True)
async def test_pushed_fragments_escaped(opencode_settings, owner, api, opencode_server):
    session = api.create_session(opencode_server.workspaces[0])
    viewer = await connect_viewer(session["id"], owner)
    api.send_prompt(session["id"], "show [[hostile]]")
    registry.nudge(session["id"])

    fragment = await receive_until(viewer, "Look:")

    assert "<script>" not in fragment
    assert "&lt;script&gt;" in fragment
    assert "<img" not in fragment
    await viewer.disconnect()


def test_security_headers(owner_client, opencode_settings):
    response = owner_client.get("/")

    policy = response["Content-Security-Policy"]
    assert "script-src 'self'" in policy
    assert "'unsafe-inline'" not in policy
    assert "frame-ancestors 'none'" in policy
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"


def test_https_makes_cookies_secure(settings):
    from importlib import reload

    from opencode_ui import settings as project_settings

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DJANGO_HTTPS", "true")
        reloaded = reload(project_settings)
        assert reloaded.SESSION_COOKIE_SECURE is True
        assert reloaded.CSRF_COOKIE_SECURE is True
    reload(project_settings)


def test_csrf_failure_is_explained(owner, opencode_settings, opencode_server):
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(owner)

    plain = browser.post("/sessions/new/", {"prompt": "no token"})
    htmx = browser.post(
        "/sessions/new/", {"prompt": "no token"}, headers={"HX-Request": "true"}
    )

    assert plain.status_code == 403
    assert "security token is missing or out of date" in plain.content.decode()
    assert htmx.status_code == 403
    assert htmx["HX-Retarget"] == "#page-notice"
    assert "security token" in htmx.content.decode()


def test_login_rate_limited(client, owner):
    for _ in range(MAX_FAILURES):
        failed = client.post(
            "/accounts/login/", {"username": "dana", "password": "wrong"}
        )
        assert failed.status_code == 200

    blocked = client.post(
        "/accounts/login/", {"username": "dana", "password": "dana-password-1"}
    )

    assert blocked.status_code == 429
    assert "Too many failed logins" in blocked.content.decode()
    assert 'value="dana"' in blocked.content.decode()
    assert "_auth_user_id" not in client.session


def test_server_password_never_shown(owner_client, opencode_settings, opencode_server):
    session_id = start_session(owner_client, opencode_server, "leak [[bash:env]]")

    page = wait_for_page(owner_client, session_id, "Tool result received")
    exported = owner_client.get(f"/sessions/{session_id}/export.json").content.decode()

    assert opencode_server.password not in page
    assert opencode_server.password not in exported
    assert "OPENCODE_SERVER_PASSWORD=[hidden]" in page


def test_prompt_to_deleted_session_keeps_text(
    owner_client, opencode_settings, opencode_server
):
    session_id = start_session(owner_client, opencode_server, "short-lived")
    httpx.delete(
        f"{opencode_server.url}/session/{session_id}",
        auth=("opencode", opencode_server.password),
    ).raise_for_status()

    response = owner_client.post(
        f"/sessions/{session_id}/prompt/",
        {"prompt": "my careful follow-up"},
        headers={"HX-Request": "true"},
    )

    text = response.content.decode()
    assert response.status_code == 404
    assert "my careful follow-up</textarea>" in text
    assert "This session no longer exists on the OpenCode server." in text


def test_single_choice_with_custom_refused(
    owner_client, opencode_settings, opencode_server, api
):
    from tests.test_flow import wait_for_question

    session_id = start_session(owner_client, opencode_server, "go [[ask-multi]]")
    question_id = wait_for_question(api, session_id)["id"]

    response = owner_client.post(
        f"/sessions/{session_id}/questions/{question_id}/reply/",
        {"answer-0": ["Lint"], "answer-1": "main", "custom-1": "also mine"},
        headers={"HX-Request": "true"},
    )

    assert response.status_code == 422
    assert "takes one answer" in response.content.decode()
    assert api.list_questions(session_id)


def test_claim_of_unknown_request_refused(
    owner_client, opencode_settings, opencode_server
):
    session_id = start_session(owner_client, opencode_server, "nothing pending")

    response = owner_client.post(
        f"/sessions/{session_id}/claim/que_AAAAAAAAAAAAAAAAAAAAAAAAAA/",
        headers={"HX-Request": "true"},
    )

    assert response.status_code == 409
    assert "no longer pending" in response.content.decode()
