"""Staff pages that connect model providers through OpenCode's connector auth.

A provider key travels from the form straight into `POST
/api/integration/<id>/connect/key`. It is never stored, logged, put in the Django
session or rendered back: the key field renders empty, error messages have the key
masked, and `sensitive_post_parameters` hides it from Django's error reports.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import wraps
from typing import Any
from urllib.parse import urlsplit

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django.views.decorators.vary import vary_on_headers

from providers.catalog import forget_catalog
from providers.forms import ConnectKeyForm, OAuthCodeForm, OAuthStartForm
from providers.integrations import (
    KIND_KEY,
    KIND_OAUTH,
    Integration,
    Origin,
    filter_integrations,
    integration_view,
)
from providers.models import CredentialOrigin
from sessions.opencode import (
    OpenCodeClient,
    OpenCodeError,
    OpenCodeNotFound,
    OpenCodeUpstreamError,
    get_client,
)

logger = logging.getLogger(__name__)

UNPROCESSABLE = 422
BAD_GATEWAY = 502

# Seconds between status polls of a pending OAuth attempt from an open page.
OAUTH_POLL_SECONDS = 2
# OAuth attempts remembered per browser session, newest kept.
OAUTH_ATTEMPTS_KEPT = 5
OAUTH_SESSION_KEY = "oauth_attempts"

# Attempt states: OpenCode's own (pending, complete, failed, expired) plus two that
# only this dashboard knows.
STATUS_PENDING = "pending"
STATUS_COMPLETE = "complete"
STATUS_CANCELLED = "cancelled"
STATUS_GONE = "gone"
FINAL_STATUSES = {STATUS_COMPLETE, "failed", "expired", STATUS_CANCELLED, STATUS_GONE}


def staff_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Reject non-staff with 403; LoginRequiredMiddleware already sent anonymous
    visitors to the login page."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not request.user.is_staff:
            raise PermissionDenied("Only staff can manage model providers.")
        return view(request, *args, **kwargs)

    return wrapper


def _mask(text: str, secret: str) -> str:
    return text.replace(secret, "[hidden]") if secret else text


def _origins(integration_ids: list[str] | None = None) -> dict[str, Origin]:
    records = CredentialOrigin.objects.select_related("connected_by")
    if integration_ids is not None:
        records = records.filter(integration_id__in=integration_ids)
    return {
        record.credential_id: Origin(record.method, str(record.connected_by or ""))
        for record in records
    }


def _get_integration(client: OpenCodeClient, integration_id: str) -> Integration:
    """Fetch one integration; raise Http404 when OpenCode does not know the id."""
    raw = client.get_integration(integration_id)
    if not raw:
        raise Http404("OpenCode has no integration with this id")
    return integration_view(raw, _origins([integration_id]))


def _record_new_credentials(
    request: HttpRequest, integration_id: str, before: set[str], method: str
) -> None:
    """Note how the credentials that appeared since `before` were connected.

    OpenCode replaces an integration's credential when it is connected again, so
    records of credentials that are gone are dropped here too.
    """
    after = _get_integration(get_client(), integration_id).credential_ids
    CredentialOrigin.objects.filter(integration_id=integration_id).exclude(
        credential_id__in=after
    ).delete()
    for credential_id in after - before:
        CredentialOrigin.objects.update_or_create(
            credential_id=credential_id,
            defaults={
                "integration_id": integration_id,
                "method": method,
                "connected_by": request.user,
            },
        )
    forget_catalog()


# The list and one integration


@require_GET
@staff_required
@vary_on_headers("HX-Request")
def integration_list(request: HttpRequest) -> HttpResponse:
    query = request.GET.get("q", "")[:200]
    connected_only = request.GET.get("connected") == "1"
    integrations, total, upstream_error = [], 0, None
    try:
        raw = get_client().list_integrations() or []
    except OpenCodeError as error:
        upstream_error = error
    else:
        origins = _origins()
        views = [integration_view(item, origins) for item in raw]
        total = len(views)
        integrations = filter_integrations(views, query, connected_only)
    context = {
        "integrations": integrations,
        "total": total,
        "query": query,
        "connected_only": connected_only,
        "upstream_error": upstream_error,
    }
    if request.htmx:
        return render(request, "providers/partials/integration_results.html", context)
    return render(request, "providers/integration_list.html", context)


def _render_detail(
    request: HttpRequest,
    integration: Integration,
    *,
    key_form: ConnectKeyForm | None = None,
    oauth_form: OAuthStartForm | None = None,
    status: int = 200,
) -> HttpResponse:
    oauth_forms = [
        oauth_form
        if oauth_form is not None and oauth_form.method.id == method.id
        else OAuthStartForm(method)
        for method in integration.oauth_methods
    ]
    context = {
        "integration": integration,
        "key_form": key_form or ConnectKeyForm(),
        "oauth_forms": oauth_forms,
    }
    return render(request, "providers/integration_detail.html", context, status=status)


def _render_upstream_error(request: HttpRequest, error: OpenCodeError) -> HttpResponse:
    context = {"upstream_error": error}
    return render(request, "providers/upstream_error.html", context, status=BAD_GATEWAY)


@require_GET
@staff_required
def integration_detail(request: HttpRequest, integration_id: str) -> HttpResponse:
    try:
        integration = _get_integration(get_client(), integration_id)
    except OpenCodeError as error:
        return _render_upstream_error(request, error)
    return _render_detail(request, integration)


# Keys and credentials


@sensitive_post_parameters("key")
@require_POST
@staff_required
def connect_key(request: HttpRequest, integration_id: str) -> HttpResponse:
    client = get_client()
    try:
        integration = _get_integration(client, integration_id)
    except OpenCodeError as error:
        return _render_upstream_error(request, error)
    if not integration.accepts_key:
        raise Http404("This integration does not take a key")

    form = ConnectKeyForm(request.POST)
    if not form.is_valid():
        return _render_detail(request, integration, key_form=form, status=UNPROCESSABLE)

    key = form.cleaned_data["key"]
    try:
        client.connect_key(integration.id, key, form.cleaned_data["label"])
        _record_new_credentials(
            request, integration.id, integration.credential_ids, KIND_KEY
        )
    except OpenCodeError as error:
        form.add_error(None, _mask(f"{error.headline}: {error}", key))
        return _render_detail(request, integration, key_form=form, status=BAD_GATEWAY)

    messages.success(request, f"{integration.name} is connected with a stored key.")
    return redirect("providers:detail", integration_id=integration.id)


@require_http_methods(["GET", "POST"])
@staff_required
def remove_credential(
    request: HttpRequest, integration_id: str, credential_id: str
) -> HttpResponse:
    client = get_client()
    try:
        integration = _get_integration(client, integration_id)
    except OpenCodeError as error:
        return _render_upstream_error(request, error)
    credential = integration.credential(credential_id)
    if credential is None:
        messages.info(request, "That credential was already removed.")
        return redirect("providers:detail", integration_id=integration.id)

    context = {"integration": integration, "credential": credential}
    if request.method == "GET":
        return render(request, "providers/credential_remove.html", context)

    try:
        client.remove_credential(credential_id)
    except OpenCodeError as error:
        context["upstream_error"] = error
        return render(
            request, "providers/credential_remove.html", context, status=BAD_GATEWAY
        )
    CredentialOrigin.objects.filter(credential_id=credential_id).delete()
    forget_catalog()
    label = credential.label or credential.description
    messages.success(request, f"Removed {label} from {integration.name}.")
    return redirect("providers:detail", integration_id=integration.id)


# OAuth


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
@staff_required
def start_oauth(
    request: HttpRequest, integration_id: str, method_id: str
) -> HttpResponse:
    client = get_client()
    try:
        integration = _get_integration(client, integration_id)
    except OpenCodeError as error:
        return _render_upstream_error(request, error)
    method = integration.oauth_method(method_id)
    if method is None:
        raise Http404("This integration has no OAuth method with this id")

    form = OAuthStartForm(method, request.POST)
    if not form.is_valid():
        return _render_detail(
            request, integration, oauth_form=form, status=UNPROCESSABLE
        )
    try:
        attempt = client.start_oauth(
            integration.id, method.id, form.inputs, form.cleaned_data["label"]
        )
    except OpenCodeError as error:
        form.add_error(None, f"{error.headline}: {error}")
        return _render_detail(request, integration, oauth_form=form, status=BAD_GATEWAY)

    attempt_id = str(attempt.get("attemptID") or "")
    if not attempt_id:
        logger.warning(
            "OpenCode started OAuth for %s without an attempt id", integration.id
        )
        form.add_error(None, "OpenCode started the sign-in but returned no attempt id.")
        return _render_detail(request, integration, oauth_form=form, status=BAD_GATEWAY)
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
        # OpenCode 1.18.33 answers 500 for an attempt id it does not know, which is
        # what a cancelled, expired or forgotten (server restart) attempt becomes.
        if error.status != 500:
            raise
        status, message = STATUS_GONE, ""
    else:
        status = str(raw.get("status") or STATUS_PENDING)
        message = str(raw.get("message") or "")
    if status == STATUS_COMPLETE:
        _record_new_credentials(
            request, entry["integration"], set(entry["before"]), KIND_OAUTH
        )
    if status in FINAL_STATUSES:
        entry.update(status=status, message=message)
        _save_attempt(request, attempt_id, entry)
    return status, message


@require_GET
@staff_required
@vary_on_headers("HX-Request")
def oauth_attempt(
    request: HttpRequest, integration_id: str, attempt_id: str
) -> HttpResponse:
    entry = _attempt_entry(request, integration_id, attempt_id)
    context: dict[str, Any] = {
        "entry": entry,
        "attempt_id": attempt_id,
        "integration_id": integration_id,
        "poll_seconds": OAUTH_POLL_SECONDS,
        "code_form": OAuthCodeForm(),
    }
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


@sensitive_post_parameters("code")
@require_POST
@staff_required
def complete_oauth(
    request: HttpRequest, integration_id: str, attempt_id: str
) -> HttpResponse:
    entry = _attempt_entry(request, integration_id, attempt_id)
    form = OAuthCodeForm(request.POST)
    if form.is_valid():
        code = form.cleaned_data["code"]
        try:
            get_client().complete_oauth(attempt_id, code)
        except OpenCodeError as error:
            form.add_error(None, _mask(f"{error.headline}: {error}", code))
        else:
            return redirect(
                "providers:oauth-attempt",
                integration_id=integration_id,
                attempt_id=attempt_id,
            )
    context = {
        "entry": entry,
        "attempt_id": attempt_id,
        "integration_id": integration_id,
        "poll_seconds": OAUTH_POLL_SECONDS,
        "code_form": form,
        "status": entry["status"],
    }
    status = (
        UNPROCESSABLE if not form.is_bound or form.has_error("code") else BAD_GATEWAY
    )
    return render(request, "providers/oauth_attempt.html", context, status=status)


@require_POST
@staff_required
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
