"""The page shell through Django's views: theme and sidebar preferences and the
sidebar's OpenCode call."""

from __future__ import annotations

import socket
from urllib.parse import quote

import pytest

from interface import context_processors
from interface.models import Preference
from sessions.opencode import OpenCodeClient, get_client

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
        "/preferences/", {"theme": "light", "next": "/sessions/?q=a"}
    )
    assert response.status_code == 302
    assert response["Location"] == "/sessions/?q=a"
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


class CountingClient:
    """Forward every method to the real client and count the calls."""

    def __init__(self, client: OpenCodeClient) -> None:
        self.client = client
        self.calls: list[str] = []

    def __getattr__(self, name: str):
        method = getattr(self.client, name)

        def counted(*args, **kwargs):
            self.calls.append(name)
            return method(*args, **kwargs)

        return counted


@pytest.mark.integration
def test_sidebar_costs_one_call(owner_client, opencode_settings, monkeypatch):
    counting = CountingClient(get_client())
    monkeypatch.setattr(context_processors, "get_client", lambda: counting)

    for path in ["/", "/sessions/"]:
        counting.calls.clear()
        assert owner_client.get(path).status_code == 200
        assert counting.calls == ["list_sessions"], path

    counting.calls.clear()
    response = owner_client.post(
        "/sessions/ses_00000000000000000000000000/prompt/",
        {"prompt": ""},
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 422
    assert counting.calls == []  # a fragment never loads the sidebar


@pytest.mark.integration
def test_sidebar_marks_current_session(owner_client, opencode_settings, api):
    directory = opencode_settings.OPENCODE_WORKSPACES[0]
    session_id = api.create_session(directory)["id"]
    page = owner_client.get(f"/sessions/{session_id}/").content.decode()
    assert f'href="/sessions/{session_id}/" dir="auto" aria-current="page"' in page


@pytest.mark.integration
def test_sidebar_links_filter_workspace(owner_client, opencode_settings):
    alpha = opencode_settings.OPENCODE_WORKSPACES[0]
    page = owner_client.get("/").content.decode()
    assert f'href="/sessions/?workspace={quote(alpha)}"' in page


def test_code_colours_follow_chosen_theme(owner_client):
    stylesheet = owner_client.get("/highlight.css").content.decode()
    media = stylesheet.index("@media (prefers-color-scheme: dark)")
    chosen = stylesheet.index(':root[data-theme="dark"] .highlight')
    system = stylesheet.index(':root[data-theme="system"] .highlight')
    # A picked dark theme needs no media query, the system theme does.
    assert chosen < media < system
    assert ':root[data-theme="light"]' not in stylesheet
