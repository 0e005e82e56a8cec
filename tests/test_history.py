"""History pages: nesting children under parents while paging through OpenCode."""

from __future__ import annotations

from typing import Any

import pytest

from sessions.history import (
    Cursor,
    InvalidCursor,
    build_history_page,
    decode_cursor,
    encode_cursor,
)


class ListingClient:
    """Serve a fixed newest-first listing in pages, with offsets as cursors."""

    def __init__(self, sessions: list[dict[str, Any]]) -> None:
        self.sessions = sessions
        self.requests = 0

    def list_sessions(self, *, limit, cursor="", directory="", search=""):
        self.requests += 1
        start = int(cursor or 0)
        page = self.sessions[start : start + limit]
        return {"data": page, "cursor": {"next": str(start + limit)}}


def _session(session_id: str, created: int, parent: str = "") -> dict[str, Any]:
    session = {"id": session_id, "title": session_id, "time": {"created": created}}
    if parent:
        session["parentID"] = parent
    return session


def families(parents: int, children_each: int) -> list[dict[str, Any]]:
    """Build a newest-first listing where each parent's children follow it in time."""
    created = []
    clock = 0
    for number in range(parents):
        parent_id = f"ses_parent{number:03d}"
        clock += 1
        created.append(_session(parent_id, clock))
        for child in range(children_each):
            clock += 1
            created.append(_session(f"ses_child{number:03d}x{child}", clock, parent_id))
    return list(reversed(created))


def walk_all(client: ListingClient, per_page: int) -> list[list]:
    pages = []
    cursor = Cursor()
    while True:
        page = build_history_page(client, cursor, per_page)
        pages.append(page.sessions)
        if not page.next_cursor:
            return pages
        cursor = decode_cursor(page.next_cursor)
        assert len(pages) < 100, "paging must end"


def test_250_sessions_mostly_children():
    listing = families(parents=50, children_each=4)
    assert len(listing) == 250

    pages = walk_all(ListingClient(listing), per_page=20)

    assert [len(page) for page in pages] == [20, 20, 10]
    shown = [session for page in pages for session in page]
    assert len({session.id for session in shown}) == 50
    assert all(not session.parent_id for session in shown)
    for session in shown:
        assert len(session.children) == 4, session.id
        assert all(child.parent_id == session.id for child in session.children)


def test_page_boundary_carries_children():
    # Children of the 21st parent come before the cut of page one.
    listing = families(parents=25, children_each=3)

    pages = walk_all(ListingClient(listing), per_page=20)

    second_page = {session.id: session for session in pages[1]}
    assert len(second_page) == 5
    for session in second_page.values():
        assert len(session.children) == 3


def test_child_of_distant_parent_stays_reachable():
    parent = _session("ses_longrunning", 1)
    others = [_session(f"ses_other{number:02d}", 2 + number) for number in range(30)]
    child = _session("ses_latechild", 100, parent="ses_longrunning")
    listing = [child, *reversed(others), parent]

    pages = walk_all(ListingClient(listing), per_page=10)

    shown = [session for page in pages for session in page]
    ids = [session.id for session in shown]
    assert ids.count("ses_longrunning") == 1
    nested = [c.id for s in shown for c in s.children]
    assert ids.count("ses_latechild") + nested.count("ses_latechild") == 1
    assert len(set(ids)) == len(ids), "no session is listed twice"
    assert len([i for i in ids if i.startswith("ses_other")]) == 30


def test_orphan_child_listed_alone():
    listing = [_session("ses_orphan", 5, parent="ses_deleted"), _session("ses_top", 1)]

    [page] = walk_all(ListingClient(listing), per_page=10)

    assert [session.id for session in page] == ["ses_orphan", "ses_top"]
    assert page[0].parent_missing is True


def test_cursor_round_trip():
    cursor = Cursor(api_cursor="abc", offset=3, skip=["ses_a"], seen=7)

    assert decode_cursor(encode_cursor(cursor)) == cursor


@pytest.mark.parametrize("token", ["!!!", "eyJ4IjoxfQ", "bm90IGpzb24"])
def test_invalid_cursor_rejected(token):
    with pytest.raises(InvalidCursor):
        decode_cursor(token)
