"""Security headers and the pages shown when a request is refused."""

from __future__ import annotations

import logging

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from redis.exceptions import RedisError

logger = logging.getLogger(__name__)

# No inline script or style, no framing, no plugins; WebSockets to this host only.
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "font-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)


class ContentSecurityPolicyMiddleware:
    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        response.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        response.setdefault("Referrer-Policy", "same-origin")
        response.setdefault("Cross-Origin-Opener-Policy", "same-origin")
        # Tells the page's script that an error response came from this app, whose
        # error fragments keep the form, and not from a proxy in front of it.
        response.setdefault("OpenCode-UI", "1")
        return response


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """Explain a rejected form post in the page instead of Django's bare 403."""
    logger.warning(
        "CSRF check failed for %s %s: %s", request.method, request.path, reason
    )
    message = (
        "Your form could not be sent because its security token is missing or out "
        "of date. Reload the page and try again; what you typed is still in the form."
    )
    return rejected_response(
        request, "Form not sent", message, status=403, form_sent=True
    )


class SharedStoreOutageMiddleware:
    """Explain, with a 503, that Redis, shared by all processes, is down.

    Only deployments with REDIS_URL use Redis: for the cache (login limits, inbox
    count) and the channel layer.
    """

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(
        self, request: HttpRequest, exception: Exception
    ) -> HttpResponse | None:
        if not isinstance(exception, RedisError):
            return None
        logger.error(
            "Redis failed during %s %s: %s", request.method, request.path, exception
        )
        form_sent = request.method == "POST"
        retry = (
            "Send the form again in a minute: what you typed is still in it."
            if form_sent
            else "Reload this page in a minute."
        )
        message = (
            "The dashboard cannot reach Redis, the store its processes share. "
            f"{retry} If this goes on, tell whoever runs the dashboard."
        )
        return rejected_response(
            request, "Dashboard store unavailable", message, 503, form_sent=form_sent
        )


def rejected_response(
    request: HttpRequest,
    heading: str,
    message: str,
    status: int,
    *,
    form_sent: bool = False,
) -> HttpResponse:
    """Explain a refused request: in the page's notice area for htmx, else a page.

    The htmx response leaves the form as it was, so nothing typed is lost.
    """
    if request.headers.get("HX-Request"):
        response = render(request, "partials/page_notice.html", {"message": message})
        response.status_code = status
        response["HX-Retarget"] = "#page-notice"
        response["HX-Reswap"] = "innerHTML"
        return response
    context = {"heading": heading, "message": message, "form_sent": form_sent}
    return render(request, "refused.html", context, status=status)
