"""Provider records this dashboard keeps. Keys and tokens are never stored here."""

from django.conf import settings
from django.db import models


class CredentialOrigin(models.Model):
    """How a credential stored on the OpenCode server was connected from here.

    OpenCode lists a stored credential only by id and label, so this record is what
    tells a stored key from an OAuth sign-in. It never contains the key itself.
    """

    class Method(models.TextChoices):
        KEY = "key", "stored key"
        OAUTH = "oauth", "OAuth"

    credential_id = models.CharField(max_length=80, unique=True)
    integration_id = models.CharField(max_length=100, db_index=True)
    method = models.CharField(max_length=8, choices=Method.choices)
    connected_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.integration_id} {self.credential_id} ({self.method})"


class SessionDefaults(models.Model):
    """The model and agent a teammate last chose, offered for their next session."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="session_defaults",
    )
    # `providerID/modelID`, as the model choice fields submit it; blank for the
    # server's default.
    model = models.CharField(max_length=300, blank=True)
    agent = models.CharField(max_length=100, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "session defaults"

    def __str__(self) -> str:
        model = self.model or "default model"
        return f"{self.user}: {model}, {self.agent or 'default agent'}"
