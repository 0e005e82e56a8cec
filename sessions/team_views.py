"""Teamwork: interrupts, permission replies, claims, the inbox and the audit log."""

from __future__ import annotations

import csv
from itertools import chain

from django import forms
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from sessions.forms import QuestionReplyForm
from sessions.models import Action
from sessions.opencode import OpenCodeError, OpenCodeNotFound, get_client
from sessions.teamwork import (
    AlreadyResolved,
    claim_request,
    claims_for,
    collect_inbox,
    pending_count,
    remember_pending_count,
    single_reply,
)
from sessions.transcript import permission_views
from sessions.views import (
    already_resolved_notice,
    back_url,
    nudge_watcher,
    record_action,
    request_done,
    request_resolved,
    upstream_failure,
)
from sessions.workspaces import configured_directories

PERMISSION_REPLIES = {"once", "always", "reject"}
AUDIT_PER_PAGE = 100


@require_POST
def interrupt(request: HttpRequest, session_id: str) -> HttpResponse:
    """Stop the session's run. A second click is harmless: OpenCode ignores it."""
    client = get_client()
    try:
        latest = client.list_messages(session_id, limit=1, order="desc").get("data")
        client.interrupt(session_id)
    except OpenCodeNotFound:
        notice = "This session no longer exists on the OpenCode server."
        return upstream_failure(request, session_id, notice)
    except OpenCodeError as error:
        notice = f"{error.headline}: {error}. The run goes on."
        return upstream_failure(request, session_id, notice)

    target = latest[0]["id"] if latest and latest[0].get("type") == "assistant" else ""
    record_action(request, Action.Kind.INTERRUPT, session_id, target_id=target)
    nudge_watcher(session_id, stopping=True)
    return _interrupt_response(request, session_id)


def _interrupt_response(request: HttpRequest, session_id: str) -> HttpResponse:
    if request.htmx:
        # The poller shows "stopping" and then "idle".
        return HttpResponse(status=204)
    return redirect(back_url(request, session_id))


def _pending_permission(session_id: str, permission_id: str):
    try:
        raw = get_client().list_permissions(session_id)
    except OpenCodeNotFound:
        return None
    matching = [item for item in raw if item.get("id") == permission_id]
    return permission_views(matching)[0] if matching else None


@require_POST
def reply_permission(
    request: HttpRequest, session_id: str, permission_id: str
) -> HttpResponse:
    reply = request.POST.get("reply", "")
    if reply not in PERMISSION_REPLIES:
        notice = "Choose allow once, always allow or reject."
        return request_done(request, session_id, permission_id, notice, messages.ERROR)
    try:
        permission = _pending_permission(session_id, permission_id)
    except OpenCodeError as error:
        notice = f"{error.headline}: {error}. Nothing was sent; try again."
        return upstream_failure(request, session_id, notice)
    if permission is None:
        notice = already_resolved_notice(permission_id)
        return request_done(request, session_id, permission_id, notice, messages.INFO)

    try:
        with single_reply(permission_id, session_id, request.user):
            get_client().reply_permission(session_id, permission_id, reply)
    except AlreadyResolved as error:
        return request_done(
            request, session_id, permission_id, str(error), messages.INFO
        )
    except OpenCodeError as error:
        notice = f"{error.headline}: {error}. The request is still open."
        return upstream_failure(request, session_id, notice)

    verdicts = {
        "once": "Allowed once.",
        "always": "Always allowed.",
        "reject": "Rejected.",
    }
    return request_resolved(
        request, Action.Kind.PERMISSION, permission, verdicts[reply], reply=reply
    )


@require_POST
def claim(request: HttpRequest, session_id: str, request_id: str) -> HttpResponse:
    client = get_client()
    try:
        pending = [
            *client.list_questions(session_id),
            *client.list_permissions(session_id),
        ]
    except OpenCodeError as error:
        return upstream_failure(request, session_id, f"{error.headline}: {error}")
    if request_id not in {item.get("id") for item in pending}:
        notice = "This request is no longer pending, so there is nothing to claim."
        if request.htmx:
            context = {
                "session_id": session_id,
                "request_id": request_id,
                "notice": notice,
            }
            return render(request, "sessions/partials/claim.html", context, status=409)
        messages.info(request, notice)
        return redirect(back_url(request, session_id))

    claim_request(request_id, session_id, request.user)
    nudge_watcher(session_id)
    if request.htmx:
        context = {
            "claimed_by": request.user.get_username(),
            "session_id": session_id,
            "request_id": request_id,
        }
        return render(request, "sessions/partials/claim.html", context)
    messages.success(request, "Your teammates now see that you are on it.")
    return redirect(back_url(request, session_id))


@require_GET
def inbox(request: HttpRequest) -> HttpResponse:
    """List every pending question and permission request, across all workspaces."""
    workspaces = collect_inbox(get_client())
    request_ids = [
        item.id
        for workspace in workspaces
        for item in [*workspace.questions, *workspace.permissions]
    ]
    remember_pending_count(len(request_ids))
    claims = claims_for(request_ids)
    for workspace in workspaces:
        workspace.question_cards = [
            (QuestionReplyForm(question), claims.get(question.id, ""))
            for question in workspace.questions
        ]
        workspace.permission_cards = [
            (permission, claims.get(permission.id, ""))
            for permission in workspace.permissions
        ]
    failures = [workspace for workspace in workspaces if workspace.error]
    context = {
        "workspaces": workspaces,
        "total": len(request_ids),
        "next_url": request.get_full_path(),
        # When every workspace failed, OpenCode itself is the problem.
        "upstream_error": failures[0].error_object
        if failures and len(failures) == len(workspaces)
        else None,
    }
    return render(request, "sessions/inbox.html", context)


@require_GET
def upstream_status(request: HttpRequest) -> HttpResponse:
    """Render the upstream banner afresh for pages waiting for OpenCode to return.

    While OpenCode still fails, the banner keeps polling. Once OpenCode responds, the
    banner clears and fires `upstream-recovered`, so the page can refresh itself.
    """
    try:
        get_client().health()
    except OpenCodeError as error:
        context = {"headline": error.headline, "detail": error, "watch_recovery": True}
        return render(request, "sessions/partials/banner.html", context)
    response = render(request, "sessions/partials/banner.html", {"headline": ""})
    response["HX-Trigger"] = "upstream-recovered"
    return response


@require_GET
def inbox_badge(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "sessions/partials/inbox_badge.html",
        {"inbox_count": pending_count(get_client())},
    )


class AuditFilterForm(forms.Form):
    teammate = forms.ChoiceField(required=False, label="Teammate")
    workspace = forms.ChoiceField(required=False, label="Workspace")
    session = forms.RegexField(
        required=False,
        regex=r"^ses_[0-9A-Za-z]{10,64}$",
        label="Session id",
        error_messages={"invalid": "Enter a session id such as ses_…"},
    )
    page = forms.IntegerField(required=False, min_value=1, widget=forms.HiddenInput)

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        users = get_user_model().objects.order_by("username")
        self.fields["teammate"].choices = [("", "Anyone")] + [
            (user.get_username(), user.get_username()) for user in users
        ]
        self.fields["workspace"].choices = [("", "All workspaces")] + [
            (directory, directory) for directory in configured_directories()
        ]

    def actions(self):
        actions = Action.objects.select_related("user").order_by("-created_at")
        if self.cleaned_data.get("teammate"):
            actions = actions.filter(user__username=self.cleaned_data["teammate"])
        if self.cleaned_data.get("workspace"):
            actions = actions.filter(workspace=self.cleaned_data["workspace"])
        if self.cleaned_data.get("session"):
            actions = actions.filter(session_id=self.cleaned_data["session"])
        return actions


@require_GET
def audit(request: HttpRequest) -> HttpResponse:
    form = AuditFilterForm(request.GET)
    if not form.is_valid():
        return render(request, "sessions/audit.html", {"form": form}, status=400)
    page = Paginator(form.actions(), AUDIT_PER_PAGE).get_page(form.cleaned_data["page"])
    query = request.GET.copy()
    query.pop("page", None)
    context = {"form": form, "page": page, "query": query.urlencode()}
    return render(request, "sessions/audit.html", context)


def _csv_cell(value: str) -> str:
    """Keep spreadsheet programs from reading a cell as a formula."""
    if value and value[0] in "=+-@\t\r":
        return "'" + value
    return value


class _Echo:
    """A file-like object whose write returns the line, for streaming CSV rows."""

    def write(self, value: str) -> str:
        return value


@require_GET
def audit_csv(request: HttpRequest) -> HttpResponse:
    form = AuditFilterForm(request.GET)
    if not form.is_valid():
        return HttpResponse("Invalid filter: " + form.errors.as_text(), status=400)
    writer = csv.writer(_Echo())
    header = ["time", "teammate", "action", "session", "workspace", "target", "reply"]
    rows = (
        [
            action.created_at.isoformat(),
            action.user.get_username() if action.user else "",
            action.kind,
            action.session_id,
            action.workspace,
            action.target_id,
            action.reply,
        ]
        for action in form.actions().iterator()
    )
    response = StreamingHttpResponse(
        (
            writer.writerow([_csv_cell(cell) for cell in row])
            for row in chain([header], rows)
        ),
        content_type="text/csv; charset=utf-8",
    )
    response["Content-Disposition"] = 'attachment; filename="opencode-ui-audit.csv"'
    return response
