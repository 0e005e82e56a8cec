"""Staff pages that connect a provider through an OAuth sign-in run by OpenCode.

OpenCode starts the sign-in and returns a link or code plus an attempt id. The
attempt's link and instructions are kept in the Django session, because OpenCode's
status route returns only the state, and an open page polls that state every
`OAUTH_POLL_SECONDS` until it is final.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlsplit

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.debug import (
    sensitive_post_parameters,
    sensitive_variables,
)
from django.views.decorators.http import require_GET, require_POST
from django.views.decorators.vary import vary_on_headers

from providers.forms import OAuthCodeForm, OAuthStartForm
from providers.integrations import KIND_OAUTH
from providers.views import (
    BAD_GATEWAY,
    UNPROCESSABLE,
    get_integration,
    mask_secret,
    record_new_credentials,
    render_detail,
    staff_view,
)
from sessions.opencode import (
    OpenCodeError,
    OpenCodeNotFound,
    OpenCodeUpstreamError,
    get_client,
)

logger = logging.getLogger(__name__)

# Seconds between status polls of a pending OAuth attempt from an open page.
OAUTH_POLL_SECONDS = 2
# OAuth attempts remembered per browser session, newest kept.
OAUTH_ATTEMPTS_KEPT = 5
OAUTH_SESSION_KEY = "oauth_attempts"

# Attempt states: OpenCode's own (pending, complete, failed, expired) plus two that
# only this dashboard uses.
STATUS_PENDING = "pending"
STATUS_COMPLETE = "complete"
STATUS_CANCELLED = "cancelled"
STATUS_GONE = "gone"
FINAL_STATUSES = {STATUS_COMPLETE, "failed", "expired", STATUS_CANCELLED, STATUS_GONE}


def _attempts(request: HttpRequest) -> dict[str, dict[str, Any]]:
    return request.session.get(OAUTH_SESSION_KEY) or {}


def _save_attempt(request: HttpRequest, attempt_id: str, entry: dict[str, Any]) -> None:
    attempts = _attempts(request)
    attempts[attempt_id] = entry
    newest = sorted(attempts.items(), key=lambda item: item[1].get("created", 0))
    request.session[OAUTH_SESSION_KEY] = dict(newest[-OAUTH_ATTEMPTS_KEPT:])


def _safe_link(url: str) -> str:
    """Return `url` when it is http(s), else "" so it is shown as text, not a link."""
    return url if urlsplit(url).scheme in ("http", "https") else ""


@sensitive_post_parameters()
@require_POST
@staff_view
def start_oauth(
    request: HttpRequest, integration_id: str, method_id: str
) -> HttpResponse:
    client = get_client()
    integration = get_integration(client, integration_id)
    method = integration.oauth_method(method_id)
    if method is None:
        raise Http404("This integration has no OAuth method with this id")

    form = OAuthStartForm(method, request.POST)
    if not form.is_valid():
        return render_detail(
            request, integration, oauth_form=form, status=UNPROCESSABLE
        )
    try:
        attempt = client.start_oauth(
            integration.id, method.id, form.inputs, form.cleaned_data["label"]
        )
    except OpenCodeError as error:
        form.add_error(None, f"{error.headline}: {error}")
        return render_detail(request, integration, oauth_form=form, status=BAD_GATEWAY)

    attempt_id = str(attempt.get("attemptID") or "")
    if not attempt_id:
        logger.warning(
            "OpenCode started OAuth for %s without an attempt id", integration.id
        )
        form.add_error(None, "OpenCode started the sign-in but returned no attempt id.")
        return render_detail(request, integration, oauth_form=form, status=BAD_GATEWAY)
    url = str(attempt.get("url") or "")
    _save_attempt(
        request,
        attempt_id,
        {
            "integration": integration.id,
            "method": method.label,
            "url": url,
            "link": _safe_link(url),
            "instructions": str(attempt.get("instructions") or ""),
            "mode": str(attempt.get("mode") or "auto"),
            "created": (attempt.get("time") or {}).get("created") or 0,
            "before": sorted(integration.credential_ids),
            "status": STATUS_PENDING,
        },
    )
    return redirect(
        "providers:oauth-attempt", integration_id=integration.id, attempt_id=attempt_id
    )


def _attempt_entry(
    request: HttpRequest, integration_id: str, attempt_id: str
) -> dict[str, Any]:
    entry = _attempts(request).get(attempt_id)
    if entry is None or entry.get("integration") != integration_id:
        raise Http404("No sign-in attempt with this id was started from this browser")
    return entry


def _attempt_context(
    entry: dict[str, Any],
    integration_id: str,
    attempt_id: str,
    code_form: OAuthCodeForm,
) -> dict[str, Any]:
    return {
        "entry": entry,
        "attempt_id": attempt_id,
        "integration_id": integration_id,
        "poll_seconds": OAUTH_POLL_SECONDS,
        "code_form": code_form,
    }


def _poll_attempt(
    request: HttpRequest, attempt_id: str, entry: dict[str, Any]
) -> tuple[str, str]:
    """Ask OpenCode for the attempt's status; return (status, message).

    Final states are remembered, so a finished attempt is not asked about again.
    """
    if entry["status"] in FINAL_STATUSES:
        return entry["status"], entry.get("message", "")
    try:
        raw = get_client().oauth_status(attempt_id) or {}
    except OpenCodeUpstreamError as error:
        # OpenCode 1.18.33 returns 500 for an attempt id it does not know, which is
        # what a cancelled, expired or forgotten (server restart) attempt becomes.
        if error.status != 500:
            raise
        status, message = STATUS_GONE, ""
    else:
        status = str(raw.get("status") or STATUS_PENDING)
        message = str(raw.get("message") or "")
    if status == STATUS_COMPLETE:
        record_new_credentials(
            request, entry["integration"], set(entry["before"]), KIND_OAUTH
        )
    if status in FINAL_STATUSES:
        entry.update(status=status, message=message)
        _save_attempt(request, attempt_id, entry)
    return status, message


@require_GET
@staff_view
@vary_on_headers("HX-Request")
def oauth_attempt(
    request: HttpRequest, integration_id: str, attempt_id: str
) -> HttpResponse:
    entry = _attempt_entry(request, integration_id, attempt_id)
    context = _attempt_context(entry, integration_id, attempt_id, OAuthCodeForm())
    try:
        context["status"], context["message"] = _poll_attempt(
            request, attempt_id, entry
        )
    except OpenCodeError as error:
        # Shown with a "Check again" button; the fragment stops polling, so a
        # failing server is not asked again every few seconds.
        context["status"], context["upstream_error"] = "unknown", error
    if request.htmx:
        return render(request, "providers/partials/oauth_status.html", context)
    return render(request, "providers/oauth_attempt.html", context)


@sensitive_variables("code")
@sensitive_post_parameters("code")
@require_POST
@staff_view
def complete_oauth(
    request: HttpRequest, integration_id: str, attempt_id: str
) -> HttpResponse:
    entry = _attempt_entry(request, integration_id, attempt_id)
    form = OAuthCodeForm(request.POST)
    context = _attempt_context(entry, integration_id, attempt_id, form)
    context["status"] = entry["status"]
    if not form.is_valid():
        return render(
            request, "providers/oauth_attempt.html", context, status=UNPROCESSABLE
        )

    code = form.cleaned_data["code"]
    try:
        get_client().complete_oauth(attempt_id, code)
    except OpenCodeError as error:
        form.add_error(None, mask_secret(f"{error.headline}: {error}", code))
        return render(
            request, "providers/oauth_attempt.html", context, status=BAD_GATEWAY
        )
    return redirect(
        "providers:oauth-attempt", integration_id=integration_id, attempt_id=attempt_id
    )


@require_POST
@staff_view
def cancel_oauth(
    request: HttpRequest, integration_id: str, attempt_id: str
) -> HttpResponse:
    entry = _attempt_entry(request, integration_id, attempt_id)
    if entry["status"] not in FINAL_STATUSES:
        try:
            get_client().cancel_oauth(attempt_id)
        except OpenCodeNotFound:
            pass  # already gone on the server: cancelled is what the user wanted
        except OpenCodeError as error:
            messages.error(request, f"{error.headline}: {error}")
            return redirect(
                "providers:oauth-attempt",
                integration_id=integration_id,
                attempt_id=attempt_id,
            )
        entry["status"] = STATUS_CANCELLED
        _save_attempt(request, attempt_id, entry)
    url = reverse("providers:oauth-attempt", args=[integration_id, attempt_id])
    if request.htmx:
        response = HttpResponse(status=204)
        response["HX-Redirect"] = url
        return response
    return redirect(url)
