"""Pages and form posts. Each view reads or writes OpenCode and renders; the poller
pushes the resulting changes to every viewer, so views never push themselves."""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlencode

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from sessions.forms import NewSessionForm, PromptForm, QuestionReplyForm
from sessions.models import Action
from sessions.opencode import OpenCodeError, OpenCodeNotFound, get_client
from sessions.transcript import (
    SessionSummary,
    message_view,
    question_views,
    session_status,
    session_summary,
)
from sessions.watch import group_name
from sessions.workspaces import configured_directories, resolve_workspaces

logger = logging.getLogger(__name__)

# HTTP status for a form that failed validation; htmx is configured to swap it.
UNPROCESSABLE = 422
# HTTP status when OpenCode failed behind a form post.
BAD_GATEWAY = 502

RECENT_SESSIONS = 10
SESSIONS_PER_PAGE = 50
SEARCH_MAX_CHARACTERS = 200


def _nudge_watcher(session_id: str) -> None:
    """Ask the session's poller, in whichever process runs it, to poll now."""
    async_to_sync(get_channel_layer().group_send)(
        group_name(session_id), {"type": "session.nudge"}
    )


def _record(request: HttpRequest, kind: str, session_id: str, **fields: Any) -> None:
    Action.objects.create(user=request.user, kind=kind, session_id=session_id, **fields)


def _summaries(raw_sessions: list[dict[str, Any]]) -> list[SessionSummary]:
    """Build session rows, each with the teammate who started it from here."""
    sessions = [session_summary(item) for item in raw_sessions]
    starts = Action.objects.filter(
        kind=Action.Kind.START, session_id__in=[session.id for session in sessions]
    ).select_related("user")
    starters = {start.session_id: str(start.user or "") for start in starts}
    for session in sessions:
        session.started_by = starters.get(session.id, "")
    return sessions


@require_GET
def dashboard(request: HttpRequest) -> HttpResponse:
    return _render_dashboard(request, NewSessionForm())


def _render_dashboard(
    request: HttpRequest, form: NewSessionForm, status: int = 200
) -> HttpResponse:
    client = get_client()
    workspaces, recent, upstream_error = [], [], None
    try:
        workspaces = resolve_workspaces(client)
        recent = _summaries(
            client.list_sessions(limit=RECENT_SESSIONS).get("data") or []
        )
    except OpenCodeError as error:
        upstream_error = error
    context = {
        "form": form,
        "workspaces": workspaces,
        "recent_sessions": recent,
        "upstream_error": upstream_error,
    }
    return render(request, "sessions/dashboard.html", context, status=status)


@require_POST
def new_session(request: HttpRequest) -> HttpResponse:
    form = NewSessionForm(request.POST)
    if not form.is_valid():
        return _render_dashboard(request, form, status=UNPROCESSABLE)

    directory = form.cleaned_data["workspace"]
    client = get_client()
    try:
        session = client.create_session(directory)
        session_id = session["id"]
        _record(request, Action.Kind.START, session_id, workspace=directory)
        client.send_prompt(session_id, form.cleaned_data["prompt"])
    except OpenCodeError as error:
        form.add_error(None, f"{error.headline}: {error}")
        return _render_dashboard(request, form, status=BAD_GATEWAY)

    _record(request, Action.Kind.PROMPT, session_id, workspace=directory)
    return redirect("sessions:detail", session_id=session_id)


def _list_filters(request: HttpRequest) -> tuple[str, str, str]:
    """Read the title search and workspace filter; return them and an error."""
    search = request.GET.get("search", "").strip()[:SEARCH_MAX_CHARACTERS]
    directory = request.GET.get("directory", "")
    if directory and directory not in configured_directories():
        return search, "", f"{directory} is not a configured workspace: showing all."
    return search, directory, ""


@require_GET
def session_list(request: HttpRequest) -> HttpResponse:
    cursor = request.GET.get("cursor", "")[:2000]
    search, directory, filter_error = _list_filters(request)
    client = get_client()
    sessions, next_cursor, upstream_error = [], "", None
    try:
        page = client.list_sessions(
            limit=SESSIONS_PER_PAGE, cursor=cursor, directory=directory, search=search
        )
    except OpenCodeError as error:
        upstream_error = error
    else:
        sessions = _summaries(page.get("data") or [])
        if len(sessions) >= SESSIONS_PER_PAGE:
            next_cursor = (page.get("cursor") or {}).get("next") or ""
    filters = {"search": search, "directory": directory}
    context = {
        "sessions": sessions,
        "next_cursor": next_cursor,
        "is_first_page": not cursor,
        "upstream_error": upstream_error,
        "search": search,
        "directory": directory,
        "filter_error": filter_error,
        "filter_query": urlencode(
            {key: value for key, value in filters.items() if value}
        ),
    }
    return render(request, "sessions/session_list.html", context)


def _session_context(session_id: str) -> dict[str, Any]:
    """Fetch everything the session page shows; raise Http404 for unknown ids."""
    client = get_client()
    try:
        session = client.get_session(session_id)
    except OpenCodeNotFound:
        raise Http404("No OpenCode session has this id") from None
    raw_messages = client.all_messages(session_id)
    raw_questions = client.list_questions(session_id)
    questions = question_views(raw_questions, raw_messages)
    return {
        "session": session_summary(session),
        "transcript_messages": [message_view(item) for item in raw_messages],
        "question_forms": [QuestionReplyForm(question) for question in questions],
        "status": session_status(session_id, client.active_sessions(), raw_questions),
    }


def _render_session(
    request: HttpRequest,
    session_id: str,
    prompt_form: PromptForm | None = None,
    status: int = 200,
    replacing: QuestionReplyForm | None = None,
) -> HttpResponse:
    try:
        context = _session_context(session_id)
    except OpenCodeError as error:
        # The page still renders, with what was typed, so nothing is lost.
        context = {
            "upstream_error": error,
            "transcript_messages": [],
            "question_forms": [],
        }
        context["session"] = None
        context["status"] = ""
    if replacing is not None:
        context["question_forms"] = [
            replacing if form.question.id == replacing.question.id else form
            for form in context["question_forms"]
        ]
    context["session_id"] = session_id
    context["prompt_form"] = prompt_form or PromptForm()
    return render(request, "sessions/session_detail.html", context, status=status)


@require_GET
def session_detail(request: HttpRequest, session_id: str) -> HttpResponse:
    return _render_session(request, session_id)


def _composer_response(
    request: HttpRequest, session_id: str, form: PromptForm, status: int
) -> HttpResponse:
    if request.htmx:
        context = {"session_id": session_id, "prompt_form": form}
        return render(
            request, "sessions/partials/composer.html", context, status=status
        )
    return _render_session(request, session_id, prompt_form=form, status=status)


@require_POST
def send_prompt(request: HttpRequest, session_id: str) -> HttpResponse:
    form = PromptForm(request.POST)
    if not form.is_valid():
        return _composer_response(request, session_id, form, UNPROCESSABLE)
    try:
        get_client().send_prompt(session_id, form.cleaned_data["prompt"])
    except OpenCodeNotFound:
        raise Http404("No OpenCode session has this id") from None
    except OpenCodeError as error:
        form.add_error(None, f"{error.headline}: {error}")
        return _composer_response(request, session_id, form, BAD_GATEWAY)

    _record(request, Action.Kind.PROMPT, session_id)
    _nudge_watcher(session_id)
    if request.htmx:
        return _composer_response(request, session_id, PromptForm(), 200)
    return redirect("sessions:detail", session_id=session_id)


def _pending_question(session_id: str, question_id: str):
    """Return the pending question's view, or None when it is no longer pending."""
    client = get_client()
    try:
        raw_questions = client.list_questions(session_id)
    except OpenCodeNotFound:
        raise Http404("No OpenCode session has this id") from None
    matching = [item for item in raw_questions if item.get("id") == question_id]
    if not matching:
        return None
    # The tool call's input carries each question's `custom` flag.
    raw_messages = client.list_messages(session_id, limit=20, order="desc").get("data")
    return question_views(matching, raw_messages or [])[0]


def _question_gone(
    request: HttpRequest, session_id: str, question_id: str
) -> HttpResponse:
    notice = "This question was already answered or dismissed."
    if request.htmx:
        context = {"question_id": question_id, "notice": notice}
        return render(request, "sessions/partials/question_done.html", context)
    messages.info(request, notice)
    return redirect("sessions:detail", session_id=session_id)


def _question_done(
    request: HttpRequest, session_id: str, question_id: str, notice: str
) -> HttpResponse:
    _nudge_watcher(session_id)
    if request.htmx:
        context = {"question_id": question_id, "notice": notice}
        return render(request, "sessions/partials/question_done.html", context)
    messages.success(request, notice)
    return redirect("sessions:detail", session_id=session_id)


def _question_form_response(
    request: HttpRequest, session_id: str, form: QuestionReplyForm, status: int
) -> HttpResponse:
    if request.htmx:
        context = {"question": form.question, "form": form}
        return render(
            request, "sessions/partials/question.html", context, status=status
        )
    return _render_session(request, session_id, status=status, replacing=form)


@require_POST
def reply_question(
    request: HttpRequest, session_id: str, question_id: str
) -> HttpResponse:
    try:
        question = _pending_question(session_id, question_id)
    except OpenCodeError as error:
        messages.error(request, f"{error.headline}: {error}")
        return redirect("sessions:detail", session_id=session_id)
    if question is None:
        return _question_gone(request, session_id, question_id)

    form = QuestionReplyForm(question, request.POST)
    if not form.is_valid():
        return _question_form_response(request, session_id, form, UNPROCESSABLE)
    try:
        get_client().reply_question(session_id, question_id, form.answers)
    except OpenCodeNotFound:
        return _question_gone(request, session_id, question_id)
    except OpenCodeError as error:
        form.add_error(None, f"{error.headline}: {error}")
        return _question_form_response(request, session_id, form, BAD_GATEWAY)

    _record(request, Action.Kind.ANSWER, session_id, target_id=question_id)
    return _question_done(request, session_id, question_id, "Answer sent.")


@require_POST
def reject_question(
    request: HttpRequest, session_id: str, question_id: str
) -> HttpResponse:
    try:
        get_client().reject_question(session_id, question_id)
    except OpenCodeNotFound:
        return _question_gone(request, session_id, question_id)
    except OpenCodeError as error:
        messages.error(request, f"{error.headline}: {error}")
        if request.htmx:
            response = HttpResponse(status=204)
            response["HX-Redirect"] = reverse("sessions:detail", args=[session_id])
            return response
        return redirect("sessions:detail", session_id=session_id)

    _record(request, Action.Kind.REJECT, session_id, target_id=question_id)
    return _question_done(request, session_id, question_id, "Question dismissed.")
