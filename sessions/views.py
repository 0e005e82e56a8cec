"""Pages and form posts. Each view reads or writes OpenCode and renders; the poller
pushes the resulting changes to every viewer, so views never push themselves."""

from __future__ import annotations

import logging
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from sessions.archive import load_archive, store_archive
from sessions.forms import NewSessionForm, PromptForm, QuestionReplyForm
from sessions.fragments import earlier_messages_html
from sessions.history import Cursor, build_history_page
from sessions.models import Action, SessionArchive
from sessions.opencode import OpenCodeError, OpenCodeNotFound, get_client
from sessions.transcript import (
    STATUS_IDLE,
    TRANSCRIPT_WINDOW,
    SessionSummary,
    message_view,
    question_views,
    session_status,
    session_summary,
)
from sessions.watch import group_name
from sessions.workspaces import resolve_workspaces

logger = logging.getLogger(__name__)

# HTTP status for a form that failed validation; htmx is configured to swap it.
UNPROCESSABLE = 422
# HTTP status when OpenCode failed behind a form post.
BAD_GATEWAY = 502

RECENT_SESSIONS = 10


def _nudge_watcher(session_id: str) -> None:
    """Ask the session's poller, in whichever process runs it, to poll now."""
    async_to_sync(get_channel_layer().group_send)(
        group_name(session_id), {"type": "session.nudge"}
    )


def _record(request: HttpRequest, kind: str, session_id: str, **fields: Any) -> None:
    Action.objects.create(user=request.user, kind=kind, session_id=session_id, **fields)


def attach_starters(sessions: list[SessionSummary]) -> list[SessionSummary]:
    """Set each session's `started_by` to the teammate who started it from here."""
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
        recent = attach_starters(
            build_history_page(client, Cursor(), RECENT_SESSIONS).sessions
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


def _transcript_context(
    session_id: str, raw_messages: list[dict[str, Any]], show_all: bool
) -> dict[str, Any]:
    """Views of the newest messages (or all), and the control for earlier ones."""
    shown = raw_messages if show_all else raw_messages[-TRANSCRIPT_WINDOW:]
    hidden_count = len(raw_messages) - len(shown)
    return {
        "transcript_messages": [message_view(item) for item in shown],
        "earlier_messages": earlier_messages_html(
            session_id, shown[0]["id"] if shown else "", hidden_count
        ),
    }


def _session_context(session_id: str, show_all: bool = False) -> dict[str, Any]:
    """Fetch everything the session page shows, archiving the session when idle."""
    client = get_client()
    session = client.get_session(session_id)
    raw_messages = client.all_messages(session_id)
    raw_questions = client.list_questions(session_id)
    status = session_status(session_id, client.active_sessions(), raw_questions)
    if status == STATUS_IDLE:
        store_archive(session, raw_messages)
    questions = question_views(raw_questions, raw_messages)
    return {
        "session": session_summary(session),
        **_transcript_context(session_id, raw_messages, show_all),
        "question_forms": [QuestionReplyForm(question) for question in questions],
        "status": status,
    }


def _archived_context(
    archive: SessionArchive, error: OpenCodeError, show_all: bool
) -> dict[str, Any]:
    return {
        "session": session_summary(archive.session),
        **_transcript_context(archive.session_id, archive.messages, show_all),
        "question_forms": [],
        "status": "",
        "archive": archive,
        "archive_reason": error,
    }


def _render_session(
    request: HttpRequest,
    session_id: str,
    prompt_form: PromptForm | None = None,
    status: int = 200,
    replacing: QuestionReplyForm | None = None,
) -> HttpResponse:
    show_all = request.GET.get("all") == "1"
    try:
        context = _session_context(session_id, show_all)
    except OpenCodeError as error:
        archive = load_archive(session_id)
        if archive is not None:
            context = _archived_context(archive, error, show_all)
        elif isinstance(error, OpenCodeNotFound):
            raise Http404("No OpenCode session has this id") from None
        else:
            # The page still renders, with what was typed, so nothing is lost.
            context = {
                "upstream_error": error,
                "transcript_messages": [],
                "question_forms": [],
                "session": None,
                "status": "",
            }
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
