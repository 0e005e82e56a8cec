"""Review of past sessions: the history list, a part's full text and exports."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_not_required
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.cache import cache_page
from django.views.decorators.http import require_GET

from sessions.archive import load_archive, search_archives
from sessions.export import transcript_markdown
from sessions.fragments import earlier_messages_html, message_html
from sessions.history import InvalidCursor, build_history_page, decode_cursor
from sessions.models import Action, SessionArchive
from sessions.opencode import MESSAGE_ID, OpenCodeError, OpenCodeNotFound, get_client
from sessions.rendering import highlight_stylesheet
from sessions.teamwork import attach_starters
from sessions.transcript import (
    TRANSCRIPT_WINDOW,
    SessionSummary,
    message_view,
    part_full_text,
    session_summary,
)
from sessions.workspaces import configured_directories

SESSIONS_PER_PAGE = 50
ARCHIVE_MATCHES_SHOWN = 50


class HistoryFilterForm(forms.Form):
    q = forms.CharField(required=False, max_length=200, strip=True, label="Search")
    workspace = forms.ChoiceField(required=False, label="Workspace")
    teammate = forms.ChoiceField(required=False, label="Started by")
    cursor = forms.CharField(required=False, max_length=8000, widget=forms.HiddenInput)
    page = forms.IntegerField(required=False, min_value=1, widget=forms.HiddenInput)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["workspace"].choices = [("", "All workspaces")] + [
            (directory, directory) for directory in configured_directories()
        ]
        usernames = get_user_model().objects.order_by("username")
        self.fields["teammate"].choices = [("", "Anyone")] + [
            (user.get_username(), user.get_username()) for user in usernames
        ]


def _sessions_started_by(
    username: str, directory: str, query: str, page_number: int
) -> tuple[list[SessionSummary], Any]:
    """List, newest first, the sessions a teammate started through this dashboard.

    QUERY, when given, keeps the sessions whose archived title or transcript
    contains it.
    """
    starts = Action.objects.filter(kind=Action.Kind.START, user__username=username)
    if directory:
        starts = starts.filter(workspace=directory)
    if query:
        matching = search_archives(query, directory).values("session_id")
        starts = starts.filter(session_id__in=matching)
    page = Paginator(starts.order_by("-created_at"), SESSIONS_PER_PAGE).get_page(
        page_number
    )
    archives = {
        archive.session_id: archive
        for archive in SessionArchive.objects.filter(
            session_id__in=[start.session_id for start in page]
        ).only("session_id", "session")
    }
    client = get_client()
    sessions = []
    for start in page:
        if start.session_id in archives:
            raw = archives[start.session_id].session
        else:
            try:
                raw = client.get_session(start.session_id)
            except OpenCodeNotFound:
                continue
        sessions.append(session_summary(raw))
    return sessions, page


@require_GET
def session_list(request: HttpRequest) -> HttpResponse:
    form = HistoryFilterForm(request.GET)
    context: dict[str, Any] = {"form": form, "sessions": [], "archive_matches": []}
    if not form.is_valid():
        return render(request, "sessions/session_list.html", context, status=400)

    query = form.cleaned_data["q"]
    directory = form.cleaned_data["workspace"]
    teammate = form.cleaned_data["teammate"]
    token = form.cleaned_data["cursor"]
    context["is_first_page"] = not token and not form.cleaned_data["page"]
    try:
        if teammate:
            sessions, page = _sessions_started_by(
                teammate, directory, query, form.cleaned_data["page"] or 1
            )
            context["paginator_page"] = page
        else:
            history = build_history_page(
                get_client(),
                decode_cursor(token),
                SESSIONS_PER_PAGE,
                directory=directory,
                search=query,
            )
            sessions = history.sessions
            context["next_cursor"] = history.next_cursor
        context["sessions"] = attach_starters(sessions)
    except InvalidCursor as error:
        context["page_error"] = str(error)
        return render(request, "sessions/session_list.html", context, status=400)
    except OpenCodeError as error:
        context["upstream_error"] = error

    if query:
        context["archive_matches"] = search_archives(query, directory)[
            :ARCHIVE_MATCHES_SHOWN
        ]
    context["filters"] = {
        key: value
        for key, value in request.GET.items()
        if key in ("q", "workspace", "teammate") and value
    }
    return render(request, "sessions/session_list.html", context)


class TranscriptUnavailable(Exception):
    """OpenCode failed and no archive of the session exists."""

    def __init__(self, error: OpenCodeError) -> None:
        super().__init__(str(error))
        self.error = error


def _transcript_source(session_id: str) -> tuple[dict, list, SessionArchive | None]:
    """Return the session and its messages from OpenCode, or else from the archive.

    Raises Http404 when neither has the session, and TranscriptUnavailable when
    OpenCode failed some other way and there is no archive to fall back on.
    """
    try:
        client = get_client()
        return client.get_session(session_id), client.all_messages(session_id), None
    except OpenCodeError as error:
        archive = load_archive(session_id)
        if archive is not None:
            return archive.session, archive.messages, archive
        if isinstance(error, OpenCodeNotFound):
            raise Http404("No session or archive has this id") from None
        raise TranscriptUnavailable(error) from error


def _unavailable(request: HttpRequest, problem: TranscriptUnavailable) -> HttpResponse:
    context = {"error": problem.error}
    return render(request, "sessions/unavailable.html", context, status=502)


def _find_message(session_id: str, message_id: str) -> dict[str, Any]:
    try:
        return get_client().get_message(session_id, message_id)
    except OpenCodeError:
        archive = load_archive(session_id)
        found = [
            m
            for m in (archive.messages if archive else [])
            if m.get("id") == message_id
        ]
        if not found:
            raise Http404("No message has this id") from None
        return found[0]


@require_GET
def earlier_messages(request: HttpRequest, session_id: str) -> HttpResponse:
    """Render the window of messages just before `?before=<message id>`."""
    before = request.GET.get("before", "")
    if not MESSAGE_ID.fullmatch(before):
        return HttpResponse("The before parameter must be a message id.", status=400)
    try:
        _, messages, _ = _transcript_source(session_id)
    except TranscriptUnavailable as problem:
        return _unavailable(request, problem)
    ids = [message.get("id") for message in messages]
    if before not in ids:
        raise Http404("No message has this id")
    end = ids.index(before)
    start = max(0, end - TRANSCRIPT_WINDOW)
    shown = messages[start:end]
    pieces = [
        earlier_messages_html(session_id, shown[0]["id"] if shown else "", start),
        *(message_html(session_id, message_view(item)) for item in shown),
    ]
    return HttpResponse("".join(pieces))


@login_not_required
@require_GET
@cache_page(24 * 60 * 60)
def highlight_css(request: HttpRequest) -> HttpResponse:
    """Serve the code-highlighting styles that Pygments generates."""
    return HttpResponse(highlight_stylesheet(), content_type="text/css; charset=utf-8")


@require_GET
def part_text(
    request: HttpRequest, session_id: str, message_id: str, index: int
) -> HttpResponse:
    """Serve one part's whole text as plain text, however large."""
    text = part_full_text(_find_message(session_id, message_id), index)
    if text is None:
        raise Http404("No part at this position")
    response = HttpResponse(text, content_type="text/plain; charset=utf-8")
    response["Content-Disposition"] = "inline"
    return response


@require_GET
def export_markdown(request: HttpRequest, session_id: str) -> HttpResponse:
    try:
        session, messages, _ = _transcript_source(session_id)
    except TranscriptUnavailable as problem:
        return _unavailable(request, problem)
    response = HttpResponse(
        transcript_markdown(session, messages),
        content_type="text/markdown; charset=utf-8",
    )
    response["Content-Disposition"] = f'attachment; filename="{session_id}.md"'
    return response


@require_GET
def export_json(request: HttpRequest, session_id: str) -> HttpResponse:
    try:
        session, messages, archive = _transcript_source(session_id)
    except TranscriptUnavailable as problem:
        return _unavailable(request, problem)
    payload = {
        "session": session,
        "messages": messages,
        "archived_at": archive.archived_at.isoformat() if archive else None,
    }
    response = JsonResponse(payload, json_dumps_params={"ensure_ascii": False})
    response["Content-Disposition"] = f'attachment; filename="{session_id}.json"'
    return response
