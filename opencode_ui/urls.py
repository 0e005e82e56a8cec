from django.contrib import admin
from django.urls import include, path

from opencode_ui.login import RateLimitedLoginView

urlpatterns = [
    path("accounts/login/", RateLimitedLoginView.as_view(), name="login"),
    path("accounts/", include("django.contrib.auth.urls")),
    path("admin/", admin.site.urls),
    path("", include("interface.urls")),
    path("providers/", include("providers.urls")),
    path("", include("sessions.urls")),
]
