from django.apps import AppConfig


class SessionsConfig(AppConfig):
    # The label avoids a clash with django.contrib.sessions, whose label is "sessions".
    name = "sessions"
    label = "agent_sessions"
    verbose_name = "Agent sessions"
