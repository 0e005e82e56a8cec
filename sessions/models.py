"""Records OpenCode does not keep for us: which teammate did what."""

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
        PERMISSION = "permission", "decided a permission request"

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    kind = models.CharField(max_length=16, choices=Kind.choices)
    session_id = models.CharField(max_length=80, db_index=True)
    workspace = models.CharField(max_length=1024, blank=True)
    # The upstream id this action refers to: the prompt's message id, or a question
    # or permission request id.
    target_id = models.CharField(max_length=80, blank=True)
    # The tool call a question or permission belongs to.
    call_id = models.CharField(max_length=200, blank=True)
    # The permission reply chosen: once, always or reject.
    reply = models.CharField(max_length=16, blank=True)
    # For a start: the first line of the first prompt, to name untitled sessions.
    summary = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.user} {self.get_kind_display()} {self.session_id}"


class SessionArchive(models.Model):
    """A session's messages as OpenCode last returned them, kept for review.

    Written when a session goes idle, so its transcript can be read and searched
    even when the OpenCode server is down or has deleted the session.
    """

    session_id = models.CharField(max_length=80, unique=True)
    parent_id = models.CharField(max_length=80, blank=True, db_index=True)
    title = models.CharField(max_length=500, blank=True)
    directory = models.CharField(max_length=1024, blank=True, db_index=True)
    session = models.JSONField(default=dict)
    messages = models.JSONField(default=list)
    # User and assistant text in one string, for full-text search.
    transcript_text = models.TextField(blank=True)
    # Digest of `messages`, so an unchanged session is not written again.
    fingerprint = models.CharField(max_length=64)
    created_at = models.DateTimeField(null=True)
    archived_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.session_id} {self.title}"


class Resolution(models.Model):
    """The one reply this dashboard sent to a question or permission request.

    The unique request id makes a second teammate's reply fail here, before
    anything reaches OpenCode.
    """

    request_id = models.CharField(max_length=80, unique=True)
    session_id = models.CharField(max_length=80)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.request_id} by {self.user}"


class Claim(models.Model):
    """A teammate saying "I am on it" for a pending question or permission request."""

    request_id = models.CharField(max_length=80, unique=True)
    session_id = models.CharField(max_length=80)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+"
    )
    created_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.request_id} claimed by {self.user}"
