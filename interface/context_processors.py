"""Template data for the page shell: the user's theme and the sidebar.

Both are lazy. Fragments rendered for htmx never touch the sidebar, so only full
pages pay for its single OpenCode call.
"""

from __future__ import annotations

from functools import cached_property
from typing import Any

from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject

from interface.models import Preference
from sessions.opencode import OpenCodeError, get_client
from sessions.teamwork import attach_starters
from sessions.transcript import SessionSummary, session_summary
from sessions.workspaces import Workspace, configured_directories

# Sessions listed in the sidebar, newest first.
SIDEBAR_SESSIONS = 8


class Sidebar:
    """Configured workspaces and recent sessions, fetched on first use."""

    def __init__(self, request: HttpRequest) -> None:
        self.request = request

    @cached_property
    def workspaces(self) -> list[Workspace]:
        # Settings alone name the workspaces, so this costs no OpenCode call.
        return [Workspace(directory) for directory in configured_directories()]

    @cached_property
    def _recent(self) -> tuple[list[SessionSummary], OpenCodeError | None]:
        try:
            page = get_client().list_sessions(limit=SIDEBAR_SESSIONS)
        except OpenCodeError as error:
            # The client has already logged the failure.
            return [], error
        sessions = [session_summary(item) for item in page.get("data") or []]
        top_level = [session for session in sessions if not session.parent_id]
        return attach_starters(top_level), None

    @property
    def recent_sessions(self) -> list[SessionSummary]:
        return self._recent[0]

    @property
    def error(self) -> OpenCodeError | None:
        return self._recent[1]

    @property
    def current_session_id(self) -> str:
        match = self.request.resolver_match
        return str(match.kwargs.get("session_id", "")) if match else ""


def shell(request: HttpRequest) -> dict[str, Any]:
    return {
        "preference": SimpleLazyObject(lambda: Preference.for_user(request.user)),
        "sidebar": Sidebar(request),
        "theme_choices": Preference.Theme.choices,
    }
