"""Per-user interface settings, stored server-side so every device shows the same."""

from django.conf import settings
from django.db import models


class Preference(models.Model):
    class Theme(models.TextChoices):
        SYSTEM = "system", "System"
        LIGHT = "light", "Light"
        DARK = "dark", "Dark"

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="preference"
    )
    theme = models.CharField(max_length=8, choices=Theme.choices, default=Theme.SYSTEM)
    # Desktop only: on narrow screens the sidebar is a drawer that starts closed.
    sidebar_collapsed = models.BooleanField(default=False)

    def __str__(self) -> str:
        return f"{self.user}: {self.theme} theme"

    @classmethod
    def for_user(cls, user) -> "Preference":
        """Return the user's stored preference, or an unsaved default one."""
        if not user.is_authenticated:
            return cls()
        try:
            return cls.objects.get(user=user)
        except cls.DoesNotExist:
            return cls(user=user)
