"""Django's login view with a limit on failed attempts."""

from __future__ import annotations

import logging

from django.contrib.auth.views import LoginView
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse

logger = logging.getLogger(__name__)

# Failed logins allowed per client address and per username within the window.
MAX_FAILURES = 5
WINDOW_SECONDS = 300


def _failure_keys(request: HttpRequest) -> list[str]:
    username = request.POST.get("username", "").strip().lower()[:150]
    address = request.META.get("REMOTE_ADDR", "unknown")
    return [f"login-failures:address:{address}", f"login-failures:user:{username}"]


class RateLimitedLoginView(LoginView):
    def post(self, request: HttpRequest, *args, **kwargs) -> HttpResponse:
        keys = _failure_keys(request)
        if any(cache.get(key, 0) >= MAX_FAILURES for key in keys):
            logger.warning(
                "Login blocked after %d failures from %s",
                MAX_FAILURES,
                request.META.get("REMOTE_ADDR"),
            )
            # An unbound form: binding it would run authentication.
            form = self.get_form_class()(
                request, initial={"username": request.POST.get("username", "")}
            )
            blocked = (
                f"Too many failed logins. Wait {WINDOW_SECONDS // 60} minutes and "
                "try again."
            )
            context = self.get_context_data(form=form, blocked=blocked)
            return self.render_to_response(context, status=429)
        return super().post(request, *args, **kwargs)

    def form_invalid(self, form) -> HttpResponse:
        for key in _failure_keys(self.request):
            cache.add(key, 0, WINDOW_SECONDS)
            cache.incr(key)
        return super().form_invalid(form)
