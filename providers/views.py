"""Staff pages that connect model providers through OpenCode's connector auth.

A provider key travels from the form straight into `POST
/api/integration/<id>/connect/key`. It is never stored, logged, put in the Django
session or rendered back: the key field renders empty, error messages have the key
masked, and `sensitive_post_parameters` and `sensitive_variables` hide it from the
error reports Django writes when DEBUG is off. With DEBUG on, Django's debug page
shows request data and variables by design, key included.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.debug import (
    sensitive_post_parameters,
    sensitive_variables,
)
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django.views.decorators.vary import vary_on_headers

from providers.catalog import forget_catalog
from providers.forms import ConnectKeyForm, OAuthStartForm
from providers.integrations import (
    KIND_KEY,
    Integration,
    Origin,
    filter_integrations,
    integration_view,
)
from providers.models import CredentialOrigin
from sessions.opencode import (
    OpenCodeClient,
    OpenCodeError,
    get_client,
)

logger = logging.getLogger(__name__)

UNPROCESSABLE = 422
BAD_GATEWAY = 502


def staff_view(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Reject non-staff with 403, and show an OpenCode failure that escapes the view
    as a 502 page with the banner. LoginRequiredMiddleware has already sent anonymous
    visitors to the login page."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not request.user.is_staff:
            raise PermissionDenied("Only staff can manage model providers.")
        try:
            return view(request, *args, **kwargs)
        except OpenCodeError as error:
            return _render_upstream_error(request, error)

    return wrapper


def mask_secret(text: str, secret: str) -> str:
    return text.replace(secret, "[hidden]") if secret else text


def _origins(integration_ids: list[str] | None = None) -> dict[str, Origin]:
    records = CredentialOrigin.objects.select_related("connected_by")
    if integration_ids is not None:
        records = records.filter(integration_id__in=integration_ids)
    return {
        record.credential_id: Origin(record.method, str(record.connected_by or ""))
        for record in records
    }


def get_integration(client: OpenCodeClient, integration_id: str) -> Integration:
    """Fetch one integration; raise Http404 when OpenCode does not know the id."""
    raw = client.get_integration(integration_id)
    if not raw:
        raise Http404("OpenCode has no integration with this id")
    return integration_view(raw, _origins([integration_id]))


def record_new_credentials(
    request: HttpRequest, integration_id: str, before: set[str], method: str
) -> None:
    """Note how the credentials that appeared since `before` were connected.

    OpenCode replaces an integration's credential when it is connected again, so
    records of credentials that are gone are dropped here too. The catalog is
    dropped even when OpenCode cannot list the credentials.
    """
    forget_catalog()
    try:
        after = get_integration(get_client(), integration_id).credential_ids
    except (OpenCodeError, Http404) as error:
        # The connection itself succeeded; only the "how" label is lost.
        logger.warning(
            "Could not list the credentials of %s after connecting: %s",
            integration_id,
            error,
        )
        return
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


# The list and one integration


@require_GET
@staff_view
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


def render_detail(
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
@staff_view
def integration_detail(request: HttpRequest, integration_id: str) -> HttpResponse:
    integration = get_integration(get_client(), integration_id)
    return render_detail(request, integration)


# Keys and credentials


@sensitive_variables("key")
@sensitive_post_parameters("key")
@require_POST
@staff_view
def connect_key(request: HttpRequest, integration_id: str) -> HttpResponse:
    client = get_client()
    integration = get_integration(client, integration_id)
    if not integration.accepts_key:
        raise Http404("This integration does not take a key")

    form = ConnectKeyForm(request.POST)
    if not form.is_valid():
        return render_detail(request, integration, key_form=form, status=UNPROCESSABLE)

    key = form.cleaned_data["key"]
    try:
        client.connect_key(integration.id, key, form.cleaned_data["label"])
    except OpenCodeError as error:
        form.add_error(None, mask_secret(f"{error.headline}: {error}", key))
        return render_detail(request, integration, key_form=form, status=BAD_GATEWAY)

    record_new_credentials(
        request, integration.id, integration.credential_ids, KIND_KEY
    )
    messages.success(request, f"{integration.name} is connected with a stored key.")
    return redirect("providers:detail", integration_id=integration.id)


@require_http_methods(["GET", "POST"])
@staff_view
def remove_credential(
    request: HttpRequest, integration_id: str, credential_id: str
) -> HttpResponse:
    client = get_client()
    integration = get_integration(client, integration_id)
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
