"""The page shell through Django's views: theme and sidebar preferences, the
sidebar's OpenCode call and the session search."""

from __future__ import annotations

import socket

import pytest

from interface.context_processors import SIDEBAR_SESSIONS
from interface.models import Preference
from sessions.opencode import OpenCodeClient

pytestmark = pytest.mark.django_db


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_theme_saved_for_htmx(owner_client, owner, opencode_settings):
    response = owner_client.post(
        "/preferences/", {"theme": "dark"}, headers={"HX-Request": "true"}
    )
    assert response.status_code == 204
    assert Preference.objects.get(user=owner).theme == "dark"

    page = owner_client.get("/").content.decode()
    assert '<html lang="en" data-theme="dark">' in page
    assert '<meta name="color-scheme" content="dark">' in page


def test_theme_form_redirects_back(owner_client, owner):
    response = owner_client.post(
        "/preferences/", {"theme": "light", "next": "/sessions/?search=a"}
    )
    assert response.status_code == 302
    assert response["Location"] == "/sessions/?search=a"
    assert Preference.objects.get(user=owner).theme == "light"


def test_preferences_ignore_foreign_next(owner_client):
    response = owner_client.post(
        "/preferences/", {"theme": "light", "next": "https://example.com/"}
    )
    assert response.status_code == 302
    assert response["Location"] == "/"


def test_sidebar_state_saved(owner_client, owner, opencode_settings):
    owner_client.post("/preferences/", {"sidebar": "collapsed"})
    preference = Preference.objects.get(user=owner)
    assert preference.sidebar_collapsed is True
    assert preference.theme == "system"
    page = owner_client.get("/sessions/").content.decode()
    assert 'data-sidebar="collapsed"' in page
    assert 'aria-expanded="false"' in page


def test_invalid_theme_rejected(owner_client, owner):
    response = owner_client.post("/preferences/", {"theme": "purple"})
    assert response.status_code == 400
    assert b"purple is not a theme" in response.content
    assert not Preference.objects.filter(user=owner).exists()


def test_preferences_need_post_and_login(client, owner_client):
    assert owner_client.get("/preferences/").status_code == 405
    client.logout()
    response = client.post("/preferences/", {"theme": "dark"})
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_default_theme_is_system(owner_client, opencode_settings):
    page = owner_client.get("/").content.decode()
    assert 'data-theme="system"' in page
    assert '<meta name="color-scheme" content="light dark">' in page


def test_sidebar_survives_unreachable_server(owner_client, settings):
    settings.OPENCODE_URL = f"http://127.0.0.1:{closed_port()}"
    settings.OPENCODE_WORKSPACES = ["/srv/alpha"]
    response = owner_client.get("/sessions/")
    assert response.status_code == 200
    page = response.content.decode()
    assert "Recent sessions are unavailable: OpenCode is unreachable." in page
    assert ">alpha</a>" in page


@pytest.mark.integration
def test_sidebar_costs_one_call(owner_client, opencode_settings, monkeypatch):
    calls = []
    send = OpenCodeClient._send

    def recording_send(self, call):
        calls.append(call)
        return send(self, call)

    monkeypatch.setattr(OpenCodeClient, "_send", recording_send)
    owner_client.get("/sessions/")
    sidebar_calls = [
        call for call in calls if call.params.get("limit") == SIDEBAR_SESSIONS
    ]
    assert len(sidebar_calls) == 1
    assert len(calls) == 2  # the page's own list and the sidebar's

    calls.clear()
    response = owner_client.post(
        "/sessions/ses_00000000000000000000000000/prompt/",
        {"prompt": ""},
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 422
    assert calls == []  # a fragment never loads the sidebar


@pytest.mark.integration
def test_sidebar_marks_current_session(owner_client, opencode_settings, api):
    directory = opencode_settings.OPENCODE_WORKSPACES[0]
    session_id = api.create_session(directory)["id"]
    page = owner_client.get(f"/sessions/{session_id}/").content.decode()
    assert f'href="/sessions/{session_id}/" dir="auto" aria-current="page"' in page


@pytest.mark.integration
def test_session_search_filters_titles(owner_client, opencode_settings, api):
    directory = opencode_settings.OPENCODE_WORKSPACES[0]
    session = api.create_session(directory)
    # New sessions are titled with their creation time, which makes a unique term.
    term = session["title"].split("T")[-1]
    assert term

    found = owner_client.get("/sessions/", {"search": term}).content.decode()
    main = found.split('<main id="main"')[1]
    assert f"/sessions/{session['id']}/" in main
    assert main.count('class="session-row"') == 1

    missing = owner_client.get("/sessions/", {"search": "no such title qq"})
    page = missing.content.decode()
    assert f"/sessions/{session['id']}/" not in page.split('<main id="main"')[1]
    assert "No sessions match “no such title qq”" in page


@pytest.mark.integration
def test_session_list_filters_workspace(owner_client, opencode_settings, api):
    alpha, beta = opencode_settings.OPENCODE_WORKSPACES
    beta_id = api.create_session(beta)["id"]
    page = owner_client.get("/sessions/", {"directory": alpha}).content.decode()
    main = page.split('<main id="main"')[1]
    assert f"/sessions/{beta_id}/" not in main
    assert f"in <code>{alpha}</code>" in main


@pytest.mark.integration
def test_session_list_rejects_unknown_workspace(owner_client, opencode_settings):
    response = owner_client.get("/sessions/", {"directory": "/not/configured"})
    assert response.status_code == 200
    assert (
        "/not/configured is not a configured workspace: showing all."
        in response.content.decode()
    )
