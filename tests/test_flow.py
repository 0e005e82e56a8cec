"""The whole flow through Django's views against a real `opencode serve`."""

from __future__ import annotations

import re

import pytest

from sessions.models import Action
from tests.conftest import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.django_db]

SESSION_URL = re.compile(r"^/sessions/(ses_[0-9A-Za-z]+)/$")


def start_session(client, opencode_server, prompt: str, workspace: int = 0) -> str:
    response = client.post(
        "/sessions/new/",
        {"workspace": opencode_server.workspaces[workspace], "prompt": prompt},
    )
    assert response.status_code == 302, response.content[:500]
    match = SESSION_URL.match(response["Location"])
    assert match, response["Location"]
    return match.group(1)


def page_text(client, session_id: str) -> str:
    response = client.get(f"/sessions/{session_id}/")
    assert response.status_code == 200
    return response.content.decode()


def wait_for_page(client, session_id: str, needle: str) -> str:
    def page_with_needle() -> str | None:
        text = page_text(client, session_id)
        return text if needle in text else None

    return wait_for(page_with_needle)


def wait_for_question(api, session_id: str) -> dict:
    return wait_for(lambda: (api.list_questions(session_id) or [None])[0])


def test_dashboard_shows_workspaces(owner_client, opencode_settings, opencode_server):
    response = owner_client.get("/")

    text = response.content.decode()
    assert response.status_code == 200
    for directory in opencode_server.workspaces:
        assert f'value="{directory}"' in text
        assert directory.rsplit("/", 1)[1] in text


def test_start_session_shows_reply(
    owner_client, opencode_settings, opencode_server, owner
):
    session_id = start_session(owner_client, opencode_server, "hello agent")

    text = wait_for_page(owner_client, session_id, "Scripted reply to: hello agent")
    assert "hello agent" in text
    assert 'class="flash"' not in text, "transcript messages must not leak into flashes"
    assert Action.objects.filter(
        session_id=session_id, kind="start", user=owner
    ).exists()


def test_session_in_second_workspace(
    owner_client, opencode_settings, opencode_server, api
):
    session_id = start_session(owner_client, opencode_server, "in beta", workspace=1)

    session = api.get_session(session_id)
    assert session["location"]["directory"] == opencode_server.workspaces[1]


def test_follow_up_prompt(owner_client, opencode_settings, opencode_server):
    session_id = start_session(owner_client, opencode_server, "first prompt")
    wait_for_page(owner_client, session_id, "Scripted reply to: first prompt")

    response = owner_client.post(
        f"/sessions/{session_id}/prompt/",
        {"prompt": "second prompt"},
        headers={"HX-Request": "true"},
    )

    assert response.status_code == 200
    assert 'id="composer"' in response.content.decode()
    wait_for_page(owner_client, session_id, "Scripted reply to: second prompt")


def test_follow_up_without_javascript(owner_client, opencode_settings, opencode_server):
    session_id = start_session(owner_client, opencode_server, "plain one")

    response = owner_client.post(
        f"/sessions/{session_id}/prompt/", {"prompt": "plain two"}
    )

    assert response.status_code == 302
    assert response["Location"] == f"/sessions/{session_id}/"
    wait_for_page(owner_client, session_id, "Scripted reply to: plain two")


def test_single_choice_question(owner_client, opencode_settings, opencode_server, api):
    session_id = start_session(owner_client, opencode_server, "go [[ask-single]]")
    question = wait_for_question(api, session_id)
    question_id = question["id"]
    reply_url = f"/sessions/{session_id}/questions/{question_id}/reply/"

    text = wait_for_page(owner_client, session_id, question_id)
    assert f'action="{reply_url}"' in text
    assert f'hx-post="{reply_url}"' in text
    assert 'type="radio" name="answer-0" value="Red"' in text
    assert 'type="radio" name="answer-0" value="Blue"' in text
    assert "Calm and quiet" in text
    assert 'name="custom-0"' not in text  # the scripted question sets custom: false

    response = owner_client.post(reply_url, {"answer-0": "Blue"})

    assert response.status_code == 302
    wait_for(lambda: not api.list_questions(session_id))
    text = wait_for_page(owner_client, session_id, "Tool result received")
    assert "&quot;Which colour should the button be?&quot;=&quot;Blue&quot;" in text
    assert Action.objects.filter(session_id=session_id, kind="answer").exists()


def test_multi_select_and_custom_answer(
    owner_client, opencode_settings, opencode_server, api
):
    session_id = start_session(owner_client, opencode_server, "go [[ask-multi]]")
    question_id = wait_for_question(api, session_id)["id"]

    text = wait_for_page(owner_client, session_id, question_id)
    assert 'type="checkbox" name="answer-0" value="Lint"' in text
    assert 'type="checkbox" name="answer-0" value="Tests"' in text
    assert 'type="radio" name="answer-1" value="main"' in text
    assert 'name="custom-0"' not in text
    assert 'name="custom-1"' in text

    response = owner_client.post(
        f"/sessions/{session_id}/questions/{question_id}/reply/",
        {"answer-0": ["Lint", "Tests"], "custom-1": "feature/x"},
        headers={"HX-Request": "true"},
    )

    assert response.status_code == 200
    assert "Answer sent." in response.content.decode()
    messages = wait_for(
        lambda: [
            m
            for m in api.all_messages(session_id)
            if any(
                p.get("name") == "question"
                and p.get("state", {}).get("status") == "completed"
                for p in m.get("content") or []
            )
        ]
    )
    tool = next(p for p in messages[0]["content"] if p.get("name") == "question")
    assert tool["state"]["structured"]["answers"] == [["Lint", "Tests"], ["feature/x"]]


def test_reject_question(owner_client, opencode_settings, opencode_server, api):
    session_id = start_session(owner_client, opencode_server, "go [[ask-single]]")
    question_id = wait_for_question(api, session_id)["id"]

    response = owner_client.post(
        f"/sessions/{session_id}/questions/{question_id}/reject/",
        headers={"HX-Request": "true"},
    )

    assert response.status_code == 200
    assert "Question dismissed." in response.content.decode()
    wait_for(lambda: not api.list_questions(session_id))
    assert Action.objects.filter(session_id=session_id, kind="reject").exists()


def test_answer_required_keeps_input(
    owner_client, opencode_settings, opencode_server, api
):
    session_id = start_session(owner_client, opencode_server, "go [[ask-multi]]")
    question_id = wait_for_question(api, session_id)["id"]

    response = owner_client.post(
        f"/sessions/{session_id}/questions/{question_id}/reply/",
        {"answer-0": ["Types"]},
        headers={"HX-Request": "true"},
    )

    text = response.content.decode()
    assert response.status_code == 422
    assert "Choose an option or type your own answer." in text
    assert 'value="Types" checked' in text
    assert api.list_questions(session_id), "nothing may reach OpenCode"


def test_second_answer_is_told_already_answered(
    owner_client, opencode_settings, opencode_server, api
):
    session_id = start_session(owner_client, opencode_server, "go [[ask-single]]")
    question_id = wait_for_question(api, session_id)["id"]
    url = f"/sessions/{session_id}/questions/{question_id}/reply/"
    owner_client.post(url, {"answer-0": "Red"})
    wait_for(lambda: not api.list_questions(session_id))

    response = owner_client.post(
        url, {"answer-0": "Blue"}, headers={"HX-Request": "true"}
    )

    assert response.status_code == 200
    assert "This was already answered by dana." in response.content.decode()


def test_history_lists_session(owner_client, opencode_settings, opencode_server):
    session_id = start_session(owner_client, opencode_server, "for the history")

    response = owner_client.get("/sessions/")

    assert response.status_code == 200
    text = response.content.decode()
    assert f'href="/sessions/{session_id}/"' in text
    assert "started by dana" in text


def test_hostile_output_is_escaped(owner_client, opencode_settings, opencode_server):
    session_id = start_session(owner_client, opencode_server, "show [[hostile]]")

    text = wait_for_page(owner_client, session_id, "Look:")
    transcript = text[text.index('id="transcript"') :]
    assert "<script>alert" not in transcript
    assert "&lt;script&gt;" in transcript
    assert "<img" not in transcript
    assert '<a href="javascript' not in transcript
    assert "[click me](javascript:alert(2))" in transcript  # left as plain text
    assert '&lt;a href="javascript:alert(3)"&gt;' in transcript


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"prompt": "   "}, "Write a prompt before sending."),
        ({"prompt": ""}, "Write a prompt before sending."),
        ({"prompt": "a\x00b"}, "Null characters are not allowed."),
    ],
)
def test_new_session_bad_prompt(
    owner_client, opencode_settings, opencode_server, fields, message
):
    data = {"workspace": opencode_server.workspaces[0], **fields}

    response = owner_client.post("/sessions/new/", data)

    assert response.status_code == 422
    assert message in response.content.decode()


def test_new_session_unknown_workspace_keeps_prompt(
    owner_client, opencode_settings, opencode_server
):
    response = owner_client.post(
        "/sessions/new/", {"workspace": "/etc", "prompt": "keep these words"}
    )

    text = response.content.decode()
    assert response.status_code == 422
    assert "/etc is not one of the configured workspaces." in text
    assert "keep these words" in text


def test_unknown_session_is_404(owner_client, opencode_settings):
    assert (
        owner_client.get("/sessions/ses_AAAAAAAAAAAAAAAAAAAAAAAAAA/").status_code == 404
    )
    assert owner_client.get("/sessions/not-a-session/").status_code == 404


def test_pages_require_login(client, opencode_settings):
    for path in ("/", "/sessions/", "/sessions/ses_AAAAAAAAAAAAAAAAAAAAAAAAAA/"):
        response = client.get(path)
        assert response.status_code == 302
        assert response["Location"].startswith("/accounts/login/")


def test_reject_without_javascript(
    owner_client, opencode_settings, opencode_server, api
):
    session_id = start_session(owner_client, opencode_server, "go [[ask-single]]")
    question_id = wait_for_question(api, session_id)["id"]

    response = owner_client.post(
        f"/sessions/{session_id}/questions/{question_id}/reject/", follow=True
    )

    assert response.redirect_chain == [(f"/sessions/{session_id}/", 302)]
    assert "Question dismissed." in response.content.decode()
    wait_for(lambda: not api.list_questions(session_id))


def test_untitled_session_named_by_prompt(
    owner_client, opencode_settings, opencode_server
):
    session_id = start_session(
        owner_client, opencode_server, "Fix the login bug\nDetails"
    )

    listing = owner_client.get("/sessions/").content.decode()
    page = owner_client.get(f"/sessions/{session_id}/").content.decode()

    assert (
        f'<a href="/sessions/{session_id}/" dir="auto">Fix the login bug</a>' in listing
    )
    assert ">Fix the login bug</h1>" in page
