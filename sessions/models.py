"""What OpenCode does not keep for us: which teammate did what."""

from django.conf import settings
from django.db import models


class Action(models.Model):
    """One thing a teammate did to an OpenCode session through the dashboard."""

    class Kind(models.TextChoices):
        START = "start", "started the session"
        PROMPT = "prompt", "sent a prompt"
        ANSWER = "answer", "answered a question"
        REJECT = "reject", "dismissed a question"
        INTERRUPT = "interrupt", "interrupted the run"

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    kind = models.CharField(max_length=16, choices=Kind.choices)
    session_id = models.CharField(max_length=80, db_index=True)
    workspace = models.CharField(max_length=1024, blank=True)
    # The upstream id this action refers to, such as a question request id.
    target_id = models.CharField(max_length=80, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.user} {self.get_kind_display()} {self.session_id}"
