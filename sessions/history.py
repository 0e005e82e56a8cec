"""Pages of past sessions, with child sessions nested under their parents.

OpenCode lists every session, children included, newest first, and a child always
comes before its parent because it was created later. A page therefore walks the
API's own pages until it has enough top-level sessions, attaching the children it
met on the way. Children whose parent lies beyond the page's end are "carried": the
next page starts its walk again at the first of them, skipping the top-level
sessions already shown, so each child is nested under its parent on the page that
shows the parent. A child whose parent never appears (deleted, or filtered out) is
listed on its own, marked as such.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from sessions.opencode import OpenCodeClient
from sessions.transcript import SessionSummary, session_summary

# Sessions asked of OpenCode per request while walking.
API_PAGE_SIZE = 100
# API pages one history page may walk before it ends early.
MAX_API_PAGES_PER_PAGE = 20


class InvalidCursor(ValueError):
    """A page link whose cursor was not made by `encode_cursor`."""


@dataclass
class Cursor:
    api_cursor: str = ""  # OpenCode's cursor of the API page the walk starts on
    offset: int = 0  # position in that API page
    # Top-level sessions already shown on an earlier page.
    skip: list[str] = field(default_factory=list)
    # How many items from the start were walked before, by the previous page.
    seen: int = 0


def encode_cursor(cursor: Cursor) -> str:
    payload = {
        "c": cursor.api_cursor,
        "o": cursor.offset,
        "s": cursor.skip,
        "n": cursor.seen,
    }
    raw = json.dumps(payload, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(token: str) -> Cursor:
    if not token:
        return Cursor()
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        payload = json.loads(raw)
        cursor = Cursor(
            api_cursor=str(payload["c"]),
            offset=int(payload["o"]),
            skip=[str(item) for item in payload["s"]],
            seen=int(payload["n"]),
        )
    except (binascii.Error, ValueError, KeyError, TypeError) as error:
        raise InvalidCursor(
            "This page link is invalid; start again from the newest."
        ) from error
    if cursor.offset < 0 or cursor.seen < 0:
        raise InvalidCursor("This page link is invalid; start again from the newest.")
    return cursor


@dataclass
class _Position:
    api_cursor: str
    offset: int
    ordinal: int  # items walked from the start of this page's walk


@dataclass
class HistoryPage:
    sessions: list[SessionSummary]
    next_cursor: str = ""


def build_history_page(
    client: OpenCodeClient,
    cursor: Cursor,
    per_page: int,
    *,
    directory: str = "",
    search: str = "",
) -> HistoryPage:
    skip = set(cursor.skip)
    skipped_at: dict[str, int] = {}  # ordinal where each skipped session was met
    parents: list[tuple[_Position, SessionSummary]] = []
    children: dict[str, list[tuple[_Position, SessionSummary]]] = defaultdict(list)
    api_cursor, offset, ordinal = cursor.api_cursor, cursor.offset, 0
    cut: _Position | None = None

    for _ in range(MAX_API_PAGES_PER_PAGE):
        page = client.list_sessions(
            limit=API_PAGE_SIZE, cursor=api_cursor, directory=directory, search=search
        )
        items: list[dict[str, Any]] = page.get("data") or []
        for index in range(offset, len(items)):
            position = _Position(api_cursor, index, ordinal)
            ordinal += 1
            summary = session_summary(items[index])
            if summary.parent_id:
                children[summary.parent_id].append((position, summary))
            elif summary.id in skip:
                skipped_at[summary.id] = position.ordinal
            elif len(parents) == per_page:
                cut = position
                break
            else:
                parents.append((position, summary))
        next_api_cursor = (page.get("cursor") or {}).get("next") or ""
        if cut or len(items) < API_PAGE_SIZE or not next_api_cursor:
            break
        api_cursor, offset = next_api_cursor, 0
    else:
        # The walk hit its bound: end this page where the walk stopped.
        cut = _Position(api_cursor, offset, ordinal)

    return _assemble(parents, children, skip, skipped_at, cursor.seen, cut)


def _assemble(
    parents: list[tuple[_Position, SessionSummary]],
    children: dict[str, list[tuple[_Position, SessionSummary]]],
    skip: set[str],
    skipped_at: dict[str, int],
    seen: int,
    cut: _Position | None,
) -> HistoryPage:
    shown = {summary.id: summary for _, summary in parents}
    lost: list[tuple[_Position, SessionSummary]] = []
    carried: list[_Position] = []
    for parent_id, found in children.items():
        if parent_id in skip:
            continue  # nested under its parent on an earlier page
        for position, child in found:
            if parent_id in shown:
                shown[parent_id].children.append(child)
            elif cut is not None and position.ordinal >= seen:
                carried.append(position)
            else:
                child.parent_missing = True
                lost.append((position, child))

    rows = sorted(parents + lost, key=lambda pair: pair[0].ordinal)
    sessions = [summary for _, summary in rows]
    if cut is None:
        return HistoryPage(sessions)
    if not carried:
        return HistoryPage(sessions, encode_cursor(Cursor(cut.api_cursor, cut.offset)))

    # The next walk starts at the first carried child, so it must skip every
    # top-level session shown so far that lies after that point.
    restart = min(carried, key=lambda position: position.ordinal)
    still_ahead = {
        session_id
        for session_id in skip
        if skipped_at.get(session_id, cut.ordinal) > restart.ordinal
    }
    shown_ahead = {
        summary.id
        for position, summary in parents
        if position.ordinal > restart.ordinal
    }
    next_cursor = Cursor(
        api_cursor=restart.api_cursor,
        offset=restart.offset,
        skip=sorted(still_ahead | shown_ahead),
        seen=cut.ordinal - restart.ordinal,
    )
    return HistoryPage(sessions, encode_cursor(next_cursor))
