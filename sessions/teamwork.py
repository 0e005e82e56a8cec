"""Teamwork records: attribution, one reply per request, claims and the inbox."""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from django.core.cache import cache
from django.db import IntegrityError, transaction

from sessions.models import Action, Claim, Resolution
from sessions.opencode import OpenCodeClient, OpenCodeError
from sessions.rendering import strip_terminal_codes
from sessions.transcript import (
    PermissionView,
    QuestionView,
    SessionSummary,
    permission_views,
    question_views,
)
from sessions.workspaces import configured_directories

logger = logging.getLogger(__name__)

# OpenCode names a session this way until a title is generated for it.
DEFAULT_TITLE_PREFIX = "New session - "
PERMISSION_REPLY_LABELS = {
    "once": "allowed once",
    "always": "always allowed",
    "reject": "rejected",
}
# Seconds the header badge's count of pending requests may be reused.
INBOX_COUNT_TTL = 5
INBOX_COUNT_KEY = "inbox-count"


def first_line(text: str, limit: int = 120) -> str:
    """Return TEXT's first line, without control characters, cut to LIMIT."""
    text = strip_terminal_codes(text)
    line = text.strip().splitlines()[0] if text.strip() else ""
    return line if len(line) <= limit else line[: limit - 1] + "…"


def attach_starters(sessions: list[SessionSummary]) -> list[SessionSummary]:
    """Set who started each session here, and name untitled ones by their prompt."""
    starts = Action.objects.filter(
        kind=Action.Kind.START, session_id__in=[session.id for session in sessions]
    ).select_related("user")
    by_session = {start.session_id: start for start in starts}
    for session in sessions:
        start = by_session.get(session.id)
        if start is None:
            continue
        session.started_by = str(start.user or "")
        if session.title.startswith(DEFAULT_TITLE_PREFIX) and start.summary:
            session.title = start.summary
    return sessions


def _name(action: Action) -> str:
    return action.user.get_username() if action.user else "a former teammate"


def attribution_labels(session_id: str) -> dict[str, list[str]]:
    """Map message ids, tool call ids and "session" to who-did-what labels."""
    labels: dict[str, list[str]] = defaultdict(list)
    actions = Action.objects.filter(session_id=session_id).select_related("user")
    for action in actions.order_by("created_at"):
        name = _name(action)
        if action.kind == Action.Kind.START:
            labels["session"].append(f"started by {name}")
        elif action.kind == Action.Kind.PROMPT and action.target_id:
            labels[action.target_id].append(f"sent by {name}")
        elif action.kind == Action.Kind.ANSWER and action.call_id:
            labels[action.call_id].append(f"answered by {name}")
        elif action.kind == Action.Kind.REJECT and action.call_id:
            labels[action.call_id].append(f"dismissed by {name}")
        elif action.kind == Action.Kind.PERMISSION and action.call_id:
            verdict = PERMISSION_REPLY_LABELS.get(action.reply, action.reply)
            labels[action.call_id].append(f"{verdict} by {name}")
        elif action.kind == Action.Kind.INTERRUPT and action.target_id:
            labels[action.target_id].append(f"interrupted by {name}")
    return dict(labels)


class AlreadyResolved(Exception):
    """Another teammate's reply to this request already went out."""

    def __init__(self, resolved_by: str) -> None:
        super().__init__(f"This was already answered by {resolved_by}.")
        self.resolved_by = resolved_by


def reserve_reply(request_id: str, session_id: str, user) -> Resolution:
    """Reserve the single reply to REQUEST_ID for USER, or raise AlreadyResolved."""
    try:
        with transaction.atomic():
            return Resolution.objects.create(
                request_id=request_id, session_id=session_id, user=user
            )
    except IntegrityError:
        existing = Resolution.objects.select_related("user").get(request_id=request_id)
        name = existing.user.get_username() if existing.user else "a former teammate"
        raise AlreadyResolved(name) from None


@contextmanager
def single_reply(request_id: str, session_id: str, user) -> Iterator[Resolution]:
    """Reserve the one reply to REQUEST_ID, and give it back if sending it fails.

    Raises AlreadyResolved when a teammate's reply was reserved first.
    """
    resolution = reserve_reply(request_id, session_id, user)
    try:
        yield resolution
    except BaseException:
        resolution.delete()
        raise


def claim_request(request_id: str, session_id: str, user) -> Claim:
    claim, _ = Claim.objects.update_or_create(
        request_id=request_id, defaults={"session_id": session_id, "user": user}
    )
    return claim


def claims_for(request_ids: list[str]) -> dict[str, str]:
    """Map request ids to the username of the teammate who claimed each."""
    claims = Claim.objects.filter(request_id__in=request_ids).select_related("user")
    return {claim.request_id: claim.user.get_username() for claim in claims}


@dataclass
class InboxWorkspace:
    directory: str
    questions: list[QuestionView] = field(default_factory=list)
    permissions: list[PermissionView] = field(default_factory=list)
    error: str = ""
    error_object: OpenCodeError | None = None


def collect_inbox(client: OpenCodeClient) -> list[InboxWorkspace]:
    """Gather pending questions and permission requests from every workspace.

    OpenCode lists them per location, so each configured directory is asked.
    """
    workspaces = []
    for directory in configured_directories():
        workspace = InboxWorkspace(directory)
        try:
            raw_questions = client.pending_questions_at(directory) or []
            raw_permissions = client.pending_permissions_at(directory) or []
            workspace.questions = _questions_with_flags(client, raw_questions)
            workspace.permissions = permission_views(raw_permissions)
        except OpenCodeError as error:
            logger.warning("Inbox could not read %s: %s", directory, error)
            workspace.error = f"{error.headline}: {error}"
            workspace.error_object = error
        workspaces.append(workspace)
    return workspaces


def _questions_with_flags(
    client: OpenCodeClient, raw_questions: list
) -> list[QuestionView]:
    """Build question views, reading each session's latest messages for `custom`."""
    views = []
    for session_id in dict.fromkeys(item.get("sessionID") for item in raw_questions):
        requests = [
            item for item in raw_questions if item.get("sessionID") == session_id
        ]
        page = client.list_messages(session_id, limit=20, order="desc")
        views.extend(question_views(requests, page.get("data") or []))
    return views


def remember_pending_count(total: int) -> None:
    """Store a fresh count, so the badge agrees with an inbox just gathered."""
    cache.set(INBOX_COUNT_KEY, total, INBOX_COUNT_TTL)


def pending_count(client: OpenCodeClient) -> int | None:
    """Count pending requests across workspaces; None when OpenCode fails."""
    cached = cache.get(INBOX_COUNT_KEY)
    if cached is not None:
        return cached
    total = 0
    try:
        for directory in configured_directories():
            total += len(client.pending_questions_at(directory) or [])
            total += len(client.pending_permissions_at(directory) or [])
    except OpenCodeError:
        return None
    remember_pending_count(total)
    return total
