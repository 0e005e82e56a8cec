"""Teamwork against a real `opencode serve`: attribution, inbox, claims, control."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from sessions.models import Action, Resolution
from sessions.teamwork import AlreadyResolved, reserve_reply
from tests.conftest import wait_for
from tests.test_flow import start_session, wait_for_page, wait_for_question

pytestmark = [pytest.mark.integration, pytest.mark.django_db]


def wait_for_permission(api, session_id: str) -> dict:
    return wait_for(lambda: (api.list_permissions(session_id) or [None])[0])


@pytest.fixture
def teammate_client(client, teammate):
    """A second browser, logged in as Lee."""
    from django.test import Client

    other = Client()
    other.force_login(teammate)
    return other


def test_each_action_is_attributed(
    owner_client, teammate_client, opencode_settings, opencode_server, api
):
    session_id = start_session(owner_client, opencode_server, "first [[ask-single]]")
    question = wait_for_question(api, session_id)
    teammate_client.post(
        f"/sessions/{session_id}/questions/{question['id']}/reply/", {"answer-0": "Red"}
    )
    wait_for(lambda: not api.list_questions(session_id))
    owner_client.post(
        f"/sessions/{session_id}/prompt/", {"prompt": "again [[ask-single]]"}
    )
    second = wait_for_question(api, session_id)
    owner_client.post(f"/sessions/{session_id}/questions/{second['id']}/reject/")

    text = wait_for_page(owner_client, session_id, "dismissed by dana")

    assert "started by dana" in text
    assert text.count("sent by dana") == 2
    assert "answered by lee" in text
    kinds = list(
        Action.objects.filter(session_id=session_id)
        .order_by("created_at")
        .values_list("kind", "user__username")
    )
    assert kinds == [
        ("start", "dana"),
        ("prompt", "dana"),
        ("answer", "lee"),
        ("prompt", "dana"),
        ("reject", "dana"),
    ]


def test_second_teammate_told_who_answered(
    owner_client, teammate_client, opencode_settings, opencode_server, api
):
    session_id = start_session(owner_client, opencode_server, "pick [[ask-single]]")
    question_id = wait_for_question(api, session_id)["id"]
    url = f"/sessions/{session_id}/questions/{question_id}/reply/"

    first = teammate_client.post(
        url, {"answer-0": "Blue"}, headers={"HX-Request": "true"}
    )
    second = owner_client.post(url, {"answer-0": "Red"}, headers={"HX-Request": "true"})

    assert "Answer sent." in first.content.decode()
    assert second.status_code == 200
    assert "This was already answered by lee." in second.content.decode()
    assert Resolution.objects.filter(request_id=question_id).count() == 1
    answers = Action.objects.filter(session_id=session_id, kind="answer")
    assert [action.user.username for action in answers] == ["lee"]
    text = wait_for_page(owner_client, session_id, "Tool result received")
    assert "=&quot;Blue&quot;" in text
    assert "=&quot;Red&quot;" not in text


def test_reservation_allows_one_reply(owner, teammate):
    reserve_reply(
        "que_AAAAAAAAAAAAAAAAAAAAAAAAAA", "ses_AAAAAAAAAAAAAAAAAAAAAAAAAA", owner
    )

    with pytest.raises(AlreadyResolved) as raised:
        reserve_reply(
            "que_AAAAAAAAAAAAAAAAAAAAAAAAAA", "ses_AAAAAAAAAAAAAAAAAAAAAAAAAA", teammate
        )
    assert raised.value.resolved_by == "dana"


def test_inbox_spans_workspaces(owner_client, opencode_settings, opencode_server, api):
    asking = start_session(owner_client, opencode_server, "ask [[ask-single]]", 0)
    writing = start_session(owner_client, opencode_server, "go [[write:inbox.txt]]", 1)
    question_id = wait_for_question(api, asking)["id"]
    permission_id = wait_for_permission(api, writing)["id"]

    response = owner_client.get("/inbox/")

    # The sidebar also names the workspaces, so look at the page's own content.
    text = response.content.decode().split('<main id="main"')[1]
    alpha, beta = opencode_server.workspaces
    assert response.status_code == 200
    assert text.index(alpha) < text.index(question_id) < text.index(beta)
    assert text.index(beta) < text.index(permission_id)
    assert 'value="Blue"' in text
    assert "Allow once" in text
    badge = owner_client.get("/inbox/badge/").content.decode()
    assert 'class="badge-count">' in badge

    answered = owner_client.post(
        f"/sessions/{asking}/questions/{question_id}/reply/",
        {"answer-0": "Blue", "next": "/inbox/"},
    )
    assert answered.status_code == 302
    assert answered["Location"] == "/inbox/"
    owner_client.post(
        f"/sessions/{writing}/permissions/{permission_id}/reply/",
        {"reply": "reject", "next": "/inbox/"},
    )
    wait_for(lambda: question_id not in owner_client.get("/inbox/").content.decode())


def test_permission_allow_once(owner_client, opencode_settings, opencode_server, api):
    session_id = start_session(
        owner_client, opencode_server, "go [[write:allowed.txt]]"
    )
    permission = wait_for_permission(api, session_id)

    page = wait_for_page(owner_client, session_id, permission["id"])
    assert "The agent asks permission" in page
    assert "allowed.txt" in page
    response = owner_client.post(
        f"/sessions/{session_id}/permissions/{permission['id']}/reply/",
        {"reply": "once"},
        headers={"HX-Request": "true"},
    )

    assert "Allowed once." in response.content.decode()
    written = Path(opencode_server.workspaces[0]) / "allowed.txt"
    wait_for(written.exists)
    assert written.read_text() == "scripted\n"
    text = wait_for_page(owner_client, session_id, "Tool result received")
    assert "allowed once by dana" in text


def test_permission_bad_reply_rejected(
    owner_client, opencode_settings, opencode_server, api
):
    session_id = start_session(owner_client, opencode_server, "go [[write:x.txt]]")
    permission_id = wait_for_permission(api, session_id)["id"]

    response = owner_client.post(
        f"/sessions/{session_id}/permissions/{permission_id}/reply/",
        {"reply": "sometimes"},
        headers={"HX-Request": "true"},
    )

    assert "Choose allow once, always allow or reject." in response.content.decode()
    assert api.list_permissions(session_id), "nothing may reach OpenCode"


def test_claim_shows_on_cards(owner_client, opencode_settings, opencode_server, api):
    session_id = start_session(owner_client, opencode_server, "ask [[ask-single]]")
    question_id = wait_for_question(api, session_id)["id"]

    response = owner_client.post(
        f"/sessions/{session_id}/claim/{question_id}/", headers={"HX-Request": "true"}
    )

    assert "<strong>dana</strong> is on it." in response.content.decode()
    assert (
        "<strong>dana</strong> is on it."
        in owner_client.get("/inbox/").content.decode()
    )
    page = owner_client.get(f"/sessions/{session_id}/").content.decode()
    assert "<strong>dana</strong> is on it." in page


def test_interrupt_stops_run(owner_client, opencode_settings, opencode_server, api):
    session_id = start_session(owner_client, opencode_server, "talk [[slow]]")
    wait_for(lambda: session_id in api.active_sessions())

    first = owner_client.post(f"/sessions/{session_id}/interrupt/")
    page = owner_client.get(f"/sessions/{session_id}/").content.decode()
    second = owner_client.post(f"/sessions/{session_id}/interrupt/")

    assert first.status_code == 302
    assert second.status_code == 302
    wait_for(lambda: session_id not in api.active_sessions())
    assert "Stopping" in page or "status-idle" in page
    assert Action.objects.filter(session_id=session_id, kind="interrupt").count() == 2
    assert "word29" not in page


def test_audit_filters_and_csv(
    owner_client, teammate_client, opencode_settings, opencode_server
):
    mine = start_session(owner_client, opencode_server, "audit me")
    theirs = start_session(teammate_client, opencode_server, "audit lee", 1)

    # The sidebar lists every recent session, so look at the page's own content.
    page = owner_client.get("/audit/?teammate=lee").content.decode()
    page = page.split('<main id="main"')[1]
    exported = owner_client.get(
        f"/audit/export.csv?workspace={opencode_server.workspaces[1]}"
    )

    assert theirs in page
    assert mine not in page
    rows = list(csv.reader(io.StringIO(b"".join(exported.streaming_content).decode())))
    assert rows[0] == [
        "time",
        "teammate",
        "action",
        "session",
        "workspace",
        "target",
        "reply",
    ]
    assert {row[3] for row in rows[1:]} == {theirs}
    assert {row[2] for row in rows[1:]} == {"start", "prompt"}


def test_audit_bad_session_filter(owner_client, opencode_settings):
    response = owner_client.get("/audit/?session=../../etc")

    assert response.status_code == 400
    assert "Enter a session id such as ses_" in response.content.decode()
