"""Pages and form posts. Each view reads or writes OpenCode and renders; the poller
pushes the resulting changes to every viewer, so views never push themselves."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from asgiref.sync import async_to_sync
from channels.exceptions import ChannelFull
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_POST
from redis.exceptions import RedisError

from providers.catalog import (
    defaults_for,
    load_catalog,
    model_ref,
    model_value,
    remember_choice,
    start_loading_catalog,
    switch_session,
)
from providers.forms import SessionChoiceForm
from sessions.archive import load_archive, store_archive
from sessions.forms import NewSessionForm, PromptForm, QuestionReplyForm
from sessions.fragments import earlier_messages_html
from sessions.history import Cursor, build_history_page
from sessions.models import Action, Resolution, SessionArchive
from sessions.opencode import OpenCodeError, OpenCodeNotFound, get_client
from sessions.teamwork import (
    AlreadyResolved,
    attach_starters,
    attribution_labels,
    claims_for,
    first_line,
    single_reply,
)
from sessions.transcript import (
    STATUS_IDLE,
    TRANSCRIPT_WINDOW,
    PermissionView,
    QuestionView,
    message_view,
    permission_views,
    question_views,
    session_status,
    session_summary,
)
from sessions.watch import request_poll
from sessions.workspaces import resolve_workspaces

logger = logging.getLogger(__name__)

# HTTP status for a form that failed validation; htmx is configured to swap it.
UNPROCESSABLE = 422
# HTTP status when OpenCode failed behind a form post.
BAD_GATEWAY = 502

RECENT_SESSIONS = 10
# Seconds after an interrupt during which a still-working session reads "stopping".
STOPPING_WINDOW = 60


def nudge_watcher(session_id: str, stopping: bool = False) -> None:
    """Ask the session's poller, in whichever process runs it, to poll now.

    A nudge only hurries the poller, so when the channel layer fails the change
    the user made still takes effect and shows at the next scheduled poll.
    """
    try:
        async_to_sync(request_poll)(session_id, stopping)
    except (RedisError, ChannelFull) as error:
        logger.warning("Poller of %s not nudged: %s", session_id, error)


def record_action(
    request: HttpRequest, kind: str, session_id: str, **fields: Any
) -> None:
    if "workspace" not in fields:
        fields["workspace"] = _workspace_of(session_id)
    Action.objects.create(user=request.user, kind=kind, session_id=session_id, **fields)


def _workspace_of(session_id: str) -> str:
    """Find a session's directory from our records, or else from OpenCode."""
    start = Action.objects.filter(session_id=session_id).exclude(workspace="").first()
    if start is not None:
        return start.workspace
    archive = load_archive(session_id)
    if archive is not None:
        return archive.directory
    try:
        return session_summary(get_client().get_session(session_id)).directory
    except OpenCodeError:
        return ""


@require_GET
def dashboard(request: HttpRequest) -> HttpResponse:
    return _render_dashboard(request)


def _render_dashboard(
    request: HttpRequest, form: NewSessionForm | None = None, status: int = 200
) -> HttpResponse:
    """Render the dashboard with FORM, or a new form with the user's defaults."""
    client = get_client()
    if form is None:
        # The model list is slow to build on a cold server, so it loads alongside.
        pending_catalog = start_loading_catalog(client)
    workspaces, recent, upstream_error = [], [], None
    try:
        workspaces = resolve_workspaces(client)
        recent = attach_starters(
            build_history_page(client, Cursor(), RECENT_SESSIONS).sessions
        )
    except OpenCodeError as error:
        upstream_error = error
    if form is None:
        catalog = pending_catalog.result()
        initial = defaults_for(request.user, catalog)
        form = NewSessionForm(catalog=catalog, initial=initial)
    context = {
        "form": form,
        "upstream_error": upstream_error or form.catalog.error,
        "workspaces": workspaces,
        "recent_sessions": recent,
    }
    return render(request, "sessions/dashboard.html", context, status=status)


@require_POST
def new_session(request: HttpRequest) -> HttpResponse:
    client = get_client()
    form = NewSessionForm(request.POST, catalog=load_catalog(client))
    if not form.is_valid():
        return _render_dashboard(request, form, status=UNPROCESSABLE)

    directory = form.cleaned_data["workspace"]
    model, agent = form.cleaned_data["model"], form.cleaned_data["agent"]
    try:
        session = client.create_session(
            directory, model=model_ref(model) if model else None, agent=agent
        )
        session_id = session["id"]
        record_action(
            request,
            Action.Kind.START,
            session_id,
            workspace=directory,
            summary=first_line(form.cleaned_data["prompt"]),
        )
        admitted = client.send_prompt(session_id, form.cleaned_data["prompt"])
    except OpenCodeError as error:
        form.add_error(None, f"{error.headline}: {error}")
        return _render_dashboard(request, form, status=BAD_GATEWAY)

    record_action(
        request,
        Action.Kind.PROMPT,
        session_id,
        workspace=directory,
        target_id=str((admitted or {}).get("id") or ""),
    )
    remember_choice(request.user, model, agent)
    return redirect("sessions:detail", session_id=session_id)


def _transcript_context(
    session_id: str,
    raw_messages: list[dict[str, Any]],
    show_all: bool,
    running: bool = False,
) -> dict[str, Any]:
    """Views of the newest messages (or all), and the control for earlier ones."""
    shown = raw_messages if show_all else raw_messages[-TRANSCRIPT_WINDOW:]
    hidden_count = len(raw_messages) - len(shown)
    labels = attribution_labels(session_id)
    return {
        "session_attributions": labels.get("session", []),
        "transcript_messages": [
            message_view(item, labels, running=running) for item in shown
        ],
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
    raw_permissions = client.list_permissions(session_id)
    status = session_status(
        session_id, client.active_sessions(), raw_questions, raw_permissions
    )
    if status == STATUS_IDLE:
        store_archive(session, raw_messages)
    questions = question_views(raw_questions, raw_messages)
    permissions = permission_views(raw_permissions)
    claims = claims_for([item.id for item in [*questions, *permissions]])
    question_forms = [QuestionReplyForm(question) for question in questions]
    for form in question_forms:
        form.claimed_by = claims.get(form.question.id, "")
    return {
        "session": attach_starters([session_summary(session)])[0],
        "choice_form": SessionChoiceForm(catalog=load_catalog(client)),
        "current_model": model_value(session.get("model")),
        "current_agent": session.get("agent") or "",
        **_transcript_context(
            session_id, raw_messages, show_all, running=status != STATUS_IDLE
        ),
        "question_forms": question_forms,
        "permission_cards": [(item, claims.get(item.id, "")) for item in permissions],
        "status": status,
        "stopping": status != STATUS_IDLE and _recently_interrupted(session_id),
    }


def _recently_interrupted(session_id: str) -> bool:
    since = timezone.now() - timedelta(seconds=STOPPING_WINDOW)
    return Action.objects.filter(
        session_id=session_id, kind=Action.Kind.INTERRUPT, created_at__gte=since
    ).exists()


def _archived_context(
    archive: SessionArchive, error: OpenCodeError, show_all: bool
) -> dict[str, Any]:
    return {
        "session": attach_starters([session_summary(archive.session)])[0],
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
    choice_form: SessionChoiceForm | None = None,
) -> HttpResponse:
    show_all = request.GET.get("all") == "1"
    try:
        context = _session_context(session_id, show_all)
    except OpenCodeError as error:
        archive = load_archive(session_id)
        if archive is not None:
            context = _archived_context(archive, error, show_all)
        elif isinstance(error, OpenCodeNotFound) and prompt_form is None:
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
    if choice_form is not None:
        context["choice_form"] = choice_form
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
        admitted = get_client().send_prompt(session_id, form.cleaned_data["prompt"])
    except OpenCodeNotFound:
        form.add_error(None, "This session no longer exists on the OpenCode server.")
        return _composer_response(request, session_id, form, 404)
    except OpenCodeError as error:
        form.add_error(None, f"{error.headline}: {error}")
        return _composer_response(request, session_id, form, BAD_GATEWAY)

    record_action(
        request,
        Action.Kind.PROMPT,
        session_id,
        target_id=str((admitted or {}).get("id") or ""),
    )
    nudge_watcher(session_id)
    if request.htmx:
        return _composer_response(request, session_id, PromptForm(), 200)
    return redirect("sessions:detail", session_id=session_id)


def _pending_question(session_id: str, question_id: str) -> QuestionView | None:
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


def back_url(request: HttpRequest, session_id: str) -> str:
    """Where a plain form post returns: its safe `next` field, else the session."""
    target = request.POST.get("next", "")
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return reverse("sessions:detail", args=[session_id])


def request_done(
    request: HttpRequest,
    session_id: str,
    request_id: str,
    notice: str,
    level=messages.SUCCESS,
) -> HttpResponse:
    """Replace a question or permission card with NOTICE, or go back with it."""
    if request.htmx:
        context = {"request_id": request_id, "notice": notice}
        return render(request, "sessions/partials/request_done.html", context)
    messages.add_message(request, level, notice)
    return redirect(back_url(request, session_id))


def request_resolved(
    request: HttpRequest,
    kind: str,
    answered: QuestionView | PermissionView,
    notice: str,
    reply: str = "",
) -> HttpResponse:
    """Record who answered a question or permission request, then confirm it."""
    record_action(
        request,
        kind,
        answered.session_id,
        target_id=answered.id,
        call_id=answered.call_id,
        reply=reply,
    )
    nudge_watcher(answered.session_id)
    return request_done(request, answered.session_id, answered.id, notice)


def upstream_failure(
    request: HttpRequest, session_id: str, notice: str
) -> HttpResponse:
    """Report a failed upstream call without touching the form that made it.

    htmx puts NOTICE in the page's notice area and leaves the card, and what was
    picked in it, as they are. A plain post goes back with NOTICE as a message.
    """
    if request.htmx:
        response = render(
            request,
            "partials/page_notice.html",
            {"message": notice},
            status=BAD_GATEWAY,
        )
        response["HX-Retarget"] = "#page-notice"
        response["HX-Reswap"] = "innerHTML"
        return response
    messages.error(request, notice)
    return redirect(back_url(request, session_id))


def already_resolved_notice(request_id: str) -> str:
    resolution = Resolution.objects.filter(request_id=request_id).select_related("user")
    found = resolution.first()
    if found is not None and found.user is not None:
        return f"This was already answered by {found.user.get_username()}."
    return "This was already answered or dismissed."


def _question_form_response(
    request: HttpRequest, session_id: str, form: QuestionReplyForm, status: int
) -> HttpResponse:
    if request.htmx:
        context = {"question": form.question, "form": form}
        return render(
            request, "sessions/partials/question.html", context, status=status
        )
    return _render_session(request, session_id, status=status, replacing=form)


def _find_question_or_done(
    request: HttpRequest, session_id: str, question_id: str
) -> QuestionView | HttpResponse:
    try:
        question = _pending_question(session_id, question_id)
    except OpenCodeError as error:
        notice = f"{error.headline}: {error}. Nothing was sent; try again."
        return upstream_failure(request, session_id, notice)
    if question is None:
        notice = already_resolved_notice(question_id)
        return request_done(request, session_id, question_id, notice, messages.INFO)
    return question


@require_POST
def reply_question(
    request: HttpRequest, session_id: str, question_id: str
) -> HttpResponse:
    question = _find_question_or_done(request, session_id, question_id)
    if isinstance(question, HttpResponse):
        return question
    form = QuestionReplyForm(question, request.POST)
    if not form.is_valid():
        return _question_form_response(request, session_id, form, UNPROCESSABLE)

    try:
        with single_reply(question_id, session_id, request.user):
            get_client().reply_question(session_id, question_id, form.answers)
    except AlreadyResolved as error:
        return request_done(request, session_id, question_id, str(error), messages.INFO)
    except OpenCodeNotFound:
        notice = "This question was already answered or dismissed."
        return request_done(request, session_id, question_id, notice, messages.INFO)
    except OpenCodeError as error:
        form.add_error(None, f"{error.headline}: {error}")
        return _question_form_response(request, session_id, form, BAD_GATEWAY)

    return request_resolved(
        request, Action.Kind.ANSWER, question, notice="Answer sent."
    )


@require_POST
def reject_question(
    request: HttpRequest, session_id: str, question_id: str
) -> HttpResponse:
    question = _find_question_or_done(request, session_id, question_id)
    if isinstance(question, HttpResponse):
        return question
    try:
        with single_reply(question_id, session_id, request.user):
            get_client().reject_question(session_id, question_id)
    except AlreadyResolved as error:
        return request_done(request, session_id, question_id, str(error), messages.INFO)
    except OpenCodeNotFound:
        notice = "This question was already answered or dismissed."
        return request_done(request, session_id, question_id, notice, messages.INFO)
    except OpenCodeError as error:
        notice = f"{error.headline}: {error}. The question is still open."
        return upstream_failure(request, session_id, notice)

    return request_resolved(
        request, Action.Kind.REJECT, question, notice="Question dismissed."
    )


def _choice_response(
    request: HttpRequest,
    session_id: str,
    form: SessionChoiceForm,
    status: int,
    current: tuple[str, str] = ("", ""),
) -> HttpResponse:
    if request.htmx:
        context = {
            "session_id": session_id,
            "choice_form": form,
            "current_model": current[0],
            "current_agent": current[1],
            "choice_saved": status == 200,
        }
        return render(
            request, "sessions/partials/session_choice.html", context, status=status
        )
    return _render_session(request, session_id, status=status, choice_form=form)


@require_POST
def choose_model_agent(request: HttpRequest, session_id: str) -> HttpResponse:
    client = get_client()
    form = SessionChoiceForm(request.POST, catalog=load_catalog(client))
    if not form.is_valid():
        return _choice_response(request, session_id, form, UNPROCESSABLE)
    try:
        session = client.get_session(session_id)
        current = switch_session(
            client, session, form.cleaned_data["model"], form.cleaned_data["agent"]
        )
    except OpenCodeNotFound:
        raise Http404("No OpenCode session has this id") from None
    except OpenCodeError as error:
        form.add_error(None, f"{error.headline}: {error}")
        return _choice_response(request, session_id, form, BAD_GATEWAY)

    remember_choice(request.user, *current)
    nudge_watcher(session_id)
    if request.htmx:
        fresh = SessionChoiceForm(catalog=form.catalog)
        return _choice_response(request, session_id, fresh, 200, current)
    messages.success(request, "Model and agent saved for this session.")
    return redirect("sessions:detail", session_id=session_id)
