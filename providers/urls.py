from django.urls import path, register_converter

from providers import converters, oauth_views, views

register_converter(converters.IntegrationIdConverter, "integration_id")
register_converter(converters.CredentialIdConverter, "credential_id")
register_converter(converters.OAuthAttemptIdConverter, "attempt_id")
register_converter(converters.MethodIdConverter, "method_id")

app_name = "providers"

urlpatterns = [
    path("", views.integration_list, name="list"),
    path("<integration_id:integration_id>/", views.integration_detail, name="detail"),
    path("<integration_id:integration_id>/key/", views.connect_key, name="connect-key"),
    path(
        "<integration_id:integration_id>/credentials/<credential_id:credential_id>/"
        "remove/",
        views.remove_credential,
        name="remove-credential",
    ),
    path(
        "<integration_id:integration_id>/oauth/<method_id:method_id>/",
        oauth_views.start_oauth,
        name="oauth-start",
    ),
    path(
        "<integration_id:integration_id>/attempts/<attempt_id:attempt_id>/",
        oauth_views.oauth_attempt,
        name="oauth-attempt",
    ),
    path(
        "<integration_id:integration_id>/attempts/<attempt_id:attempt_id>/code/",
        oauth_views.complete_oauth,
        name="oauth-code",
    ),
    path(
        "<integration_id:integration_id>/attempts/<attempt_id:attempt_id>/cancel/",
        oauth_views.cancel_oauth,
        name="oauth-cancel",
    ),
]
