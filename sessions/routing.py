from django.urls import re_path

from sessions import consumers
from sessions.opencode import SESSION_ID

websocket_urlpatterns = [
    re_path(
        rf"^ws/sessions/(?P<session_id>{SESSION_ID.pattern})/$",
        consumers.SessionConsumer.as_asgi(),
    ),
]
