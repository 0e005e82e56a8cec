"""Reviewing past sessions against a real `opencode serve`: history, archive, export."""

from __future__ import annotations

import json
import re
import subprocess
from html import unescape

import httpx
import pytest

from sessions import review_views, views
from sessions.models import SessionArchive
from tests.conftest import wait_for
from tests.test_flow import start_session, wait_for_page

pytestmark = [pytest.mark.integration, pytest.mark.django_db]

OLDER_LINK = re.compile(r'<a href="\?([^"]*)" rel="next">Older</a>')


def _v1_create(opencode_server, directory: str, title: str, parent: str = "") -> str:
    """Seed a session through OpenCode's v1 route, the only one that sets a parent."""
    body = {"title": title}
    if parent:
        body["parentID"] = parent
    response = httpx.post(
        f"{opencode_server.url}/session",
        params={"directory": directory},
        json=body,
        auth=("opencode", opencode_server.password),
    )
    response.raise_for_status()
    return response.json()["id"]


@pytest.fixture(scope="module")
def seeded_workspace(opencode_server, tmp_path_factory):
    """A workspace with 250 sessions: 50 parents with 4 children each."""
    directory = tmp_path_factory.mktemp("seeded")
    subprocess.run(["git", "init", "-q", str(directory)], check=True)
    families = {}
    for number in range(50):
        parent = _v1_create(opencode_server, str(directory), f"parent {number:02d}")
        families[parent] = {
            _v1_create(opencode_server, str(directory), f"child {number}.{c}", parent)
            for c in range(4)
        }
    return str(directory), families


def wait_for_archive(client, session_id: str) -> SessionArchive:
    """Open the session page until it has seen the session idle and archived it."""

    def archived() -> SessionArchive | None:
        client.get(f"/sessions/{session_id}/")
        return SessionArchive.objects.filter(session_id=session_id).first()

    return wait_for(archived)


def test_history_pages_nest_children(
    owner_client, opencode_settings, seeded_workspace, monkeypatch
):
    monkeypatch.setattr(review_views, "SESSIONS_PER_PAGE", 20)
    directory, families = seeded_workspace
    opencode_settings.OPENCODE_WORKSPACES = [
        *opencode_settings.OPENCODE_WORKSPACES,
        directory,
    ]
    query = f"workspace={directory}"
    parents_seen = []
    pages = 0

    while query is not None:
        response = owner_client.get(f"/sessions/?{query}")
        assert response.status_code == 200
        text = response.content.decode()
        pages += 1
        # Top-level rows start on their own line; nested rows do not.
        for row in text.split('<li class="session-row">\n  <a href="/sessions/')[1:]:
            parent = row.split("/", 1)[0]
            if parent not in families:
                continue
            parents_seen.append(parent)
            assert "4 sub-sessions" in row
            for child in families[parent]:
                assert f'href="/sessions/{child}/"' in row
        older = OLDER_LINK.search(text)
        query = unescape(older.group(1)) if older else None

    assert pages == 3  # 20 top-level sessions a page
    assert sorted(parents_seen) == sorted(families)


def test_search_titles(owner_client, opencode_settings, opencode_server, api):
    session = api.create_session(opencode_server.workspaces[0])
    # Titles come from OpenCode; the v1 route sets one to search for.
    httpx.patch(
        f"{opencode_server.url}/session/{session['id']}",
        json={"title": "zanzibar refactor"},
        auth=("opencode", opencode_server.password),
    ).raise_for_status()

    response = owner_client.get("/sessions/?q=zanzibar")

    text = response.content.decode()
    assert f'href="/sessions/{session["id"]}/"' in text
    assert "zanzibar refactor" in text


def test_invalid_page_link_is_400(owner_client, opencode_settings):
    response = owner_client.get("/sessions/?cursor=not-a-cursor")

    assert response.status_code == 400
    assert "This page link is invalid" in response.content.decode()


def test_unknown_workspace_filter_is_400(owner_client, opencode_settings):
    response = owner_client.get("/sessions/?workspace=/etc")

    assert response.status_code == 400
    assert "/etc is not one of the available choices" in response.content.decode()


def test_archive_served_when_unreachable(
    owner_client, opencode_settings, opencode_server
):
    session_id = start_session(owner_client, opencode_server, "remember quokka words")
    wait_for_page(owner_client, session_id, "Scripted reply to: remember quokka words")
    archive = wait_for(
        lambda: SessionArchive.objects.filter(session_id=session_id).first()
    )
    assert "remember quokka words" in archive.transcript_text

    opencode_settings.OPENCODE_URL = "http://127.0.0.1:9"  # nothing listens there
    page = owner_client.get(f"/sessions/{session_id}/")
    search = owner_client.get("/sessions/?q=quokka")
    exported = owner_client.get(f"/sessions/{session_id}/export.md")

    text = page.content.decode()
    assert page.status_code == 200
    assert "Showing the archived copy" in text
    assert "OpenCode is unreachable" in text
    assert "Scripted reply to: remember quokka words" in text
    assert "ws-connect" not in text
    assert f'href="/sessions/{session_id}/"' in search.content.decode()
    assert "Matches in archived transcripts" in search.content.decode()
    assert exported.status_code == 200
    assert "Scripted reply to: remember quokka words" in exported.content.decode()


def test_archive_served_after_upstream_delete(
    owner_client, opencode_settings, opencode_server
):
    session_id = start_session(owner_client, opencode_server, "soon deleted")
    wait_for_page(owner_client, session_id, "Scripted reply to: soon deleted")
    wait_for_archive(owner_client, session_id)
    httpx.delete(
        f"{opencode_server.url}/session/{session_id}",
        auth=("opencode", opencode_server.password),
    ).raise_for_status()

    text = owner_client.get(f"/sessions/{session_id}/").content.decode()

    assert "Showing the archived copy" in text
    assert f"Session not found: {session_id}" in text


def test_export_markdown_and_json(owner_client, opencode_settings, opencode_server):
    session_id = start_session(owner_client, opencode_server, "export **me**")
    wait_for_page(owner_client, session_id, "Scripted reply to: export")

    markdown = owner_client.get(f"/sessions/{session_id}/export.md")
    exported = owner_client.get(f"/sessions/{session_id}/export.json")

    assert markdown["Content-Type"] == "text/markdown; charset=utf-8"
    assert f'filename="{session_id}.md"' in markdown["Content-Disposition"]
    body = markdown.content.decode()
    assert f"- Session: `{session_id}`" in body
    assert "## Prompt" in body
    assert "export **me**" in body
    assert "Scripted reply to: export **me**" in body
    payload = json.loads(exported.content)
    assert payload["session"]["id"] == session_id
    assert [m["type"] for m in payload["messages"]] == ["user", "assistant"]


def test_huge_tool_output_cut_with_link(
    owner_client, opencode_settings, opencode_server, api
):
    command = "python3 -c \"print('x' * 300000)\""
    session_id = start_session(owner_client, opencode_server, f"run [[bash:{command}]]")

    text = wait_for_page(owner_client, session_id, "not shown")
    link = re.search(r'href="(/sessions/[^"]+/parts/\d+/)">See the full text', text)
    assert link, "the cut output links to its full text"
    assert text.count("x" * 1000) < 60, "the transcript keeps only the inline cap"
    full = owner_client.get(link.group(1))
    assert full["Content-Type"] == "text/plain; charset=utf-8"
    # OpenCode keeps about 50 KB of a command's output; the part page shows all of it.
    [tool] = [
        part
        for message in api.all_messages(session_id)
        for part in message.get("content") or []
        if part.get("name") == "bash"
    ]
    recorded = tool["state"]["content"][0]["text"]
    assert len(recorded) > 50_000
    assert recorded in full.content.decode()


def test_todo_list_rendered_as_checklist(
    owner_client, opencode_settings, opencode_server
):
    session_id = start_session(owner_client, opencode_server, "plan [[todo]]")

    text = wait_for_page(owner_client, session_id, 'class="checklist"')

    assert 'class="todo todo-completed"' in text
    assert "Write tests" in text
    assert "(in progress)" in text


def test_part_page_unknown_part_is_404(
    owner_client, opencode_settings, opencode_server, api
):
    session_id = start_session(owner_client, opencode_server, "short")
    message_id = wait_for(lambda: api.all_messages(session_id))[0]["id"]

    response = owner_client.get(
        f"/sessions/{session_id}/messages/{message_id}/parts/9/"
    )

    assert response.status_code == 404


def wait_for_replies(api, session_id: str, count: int) -> list:
    """Wait until the session has COUNT messages and the last one is complete."""

    def finished() -> list | None:
        messages = api.all_messages(session_id)
        if len(messages) == count and messages[-1].get("time", {}).get("completed"):
            return messages
        return None

    return wait_for(finished)


def test_long_transcript_loads_earlier_messages(
    owner_client, opencode_settings, opencode_server, api, monkeypatch
):
    monkeypatch.setattr(views, "TRANSCRIPT_WINDOW", 2)
    monkeypatch.setattr(review_views, "TRANSCRIPT_WINDOW", 2)
    session_id = start_session(owner_client, opencode_server, "one")
    wait_for_replies(api, session_id, 2)
    owner_client.post(f"/sessions/{session_id}/prompt/", {"prompt": "two"})
    wait_for_replies(api, session_id, 4)
    owner_client.post(f"/sessions/{session_id}/prompt/", {"prompt": "three"})
    messages = wait_for_replies(api, session_id, 6)
    ids = [message["id"] for message in messages]

    page = wait_for_page(owner_client, session_id, "Scripted reply to: three")
    earlier = owner_client.get(
        f"/sessions/{session_id}/earlier/?before={ids[4]}",
        headers={"HX-Request": "true"},
    ).content.decode()
    first = owner_client.get(
        f"/sessions/{session_id}/earlier/?before={ids[2]}"
    ).content.decode()
    everything = owner_client.get(f"/sessions/{session_id}/?all=1").content.decode()

    assert "Show 4 earlier messages" in page
    assert f'id="{ids[3]}"' not in page
    assert f'id="{ids[4]}"' in page
    assert f'id="{ids[2]}"' in earlier
    assert f'id="{ids[3]}"' in earlier
    assert "Show 2 earlier messages" in earlier
    assert "earlier message" not in first
    assert all(f'id="{message_id}"' in everything for message_id in ids)


def test_earlier_rejects_bad_message_id(
    owner_client, opencode_settings, opencode_server
):
    session_id = start_session(owner_client, opencode_server, "anything")

    response = owner_client.get(f"/sessions/{session_id}/earlier/?before=<script>")

    assert response.status_code == 400


def test_filter_by_teammate(
    client, owner, teammate, opencode_settings, opencode_server
):
    client.force_login(owner)
    mine = start_session(client, opencode_server, "dana's work")
    client.force_login(teammate)
    theirs = start_session(client, opencode_server, "lee's work")

    response = client.get("/sessions/?teammate=dana")

    # The sidebar lists every recent session, so look at the page's own list.
    text = response.content.decode().split('<main id="main"')[1]
    assert response.status_code == 200
    assert f'href="/sessions/{mine}/"' in text
    assert f'href="/sessions/{theirs}/"' not in text
    assert "started by dana" in text


def test_teammate_filter_honours_search(
    owner_client, opencode_settings, opencode_server
):
    session_id = start_session(owner_client, opencode_server, "remember the walrus")
    wait_for_archive(owner_client, session_id)

    found = owner_client.get("/sessions/?teammate=dana&q=walrus").content.decode()
    missing = owner_client.get(
        "/sessions/?teammate=dana&q=nothingmatches"
    ).content.decode()
    # The sidebar lists every recent session, so look at the page's own list.
    missing = missing.split('<main id="main"')[1]

    assert f'href="/sessions/{session_id}/"' in found
    assert f'href="/sessions/{session_id}/"' not in missing
