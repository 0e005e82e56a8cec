"""Security headers and the pages shown when a request is refused."""

from __future__ import annotations

import logging

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

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
    if request.headers.get("HX-Request"):
        response = render(request, "partials/page_notice.html", {"message": message})
        response.status_code = 403
        response["HX-Retarget"] = "#page-notice"
        response["HX-Reswap"] = "innerHTML"
        return response
    return render(request, "403_csrf.html", {"message": message}, status=403)
