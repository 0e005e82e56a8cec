"""Validation for provider keys, OAuth inputs and the model and agent choice."""

from __future__ import annotations

from typing import Any

from django import forms

from providers.catalog import Catalog
from providers.integrations import OAuthMethod

# Long enough for any provider key or JSON service-account blob seen in practice.
KEY_MAX_CHARACTERS = 16_384
LABEL_MAX_CHARACTERS = 100


def _label_field() -> forms.CharField:
    return forms.CharField(
        required=False,
        max_length=LABEL_MAX_CHARACTERS,
        strip=True,
    )


class ConnectKeyForm(forms.Form):
    """A provider key; the widget never renders a value back into the page."""

    key = forms.CharField(
        max_length=KEY_MAX_CHARACTERS,
        strip=True,
        widget=forms.PasswordInput(
            render_value=False, attrs={"autocomplete": "off", "spellcheck": "false"}
        ),
        error_messages={"required": "Paste the provider's API key."},
    )
    label = _label_field()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("auto_id", "key_%s")
        super().__init__(*args, **kwargs)


class OAuthStartForm(forms.Form):
    """The inputs an OAuth method requires, as fields named `input-<key>`."""

    label = _label_field()

    def __init__(self, method: OAuthMethod, *args: Any, **kwargs: Any) -> None:
        # One form per method shares a page, so element ids carry the method id.
        kwargs.setdefault("auto_id", f"oauth_{method.id}_%s")
        super().__init__(*args, **kwargs)
        self.method = method
        for prompt in method.prompts:
            name = f"input-{prompt.key}"
            if prompt.kind == "select":
                choices = [(option.value, option.label) for option in prompt.options]
                self.fields[name] = forms.ChoiceField(
                    label=prompt.message, choices=choices, required=False
                )
            else:
                self.fields[name] = forms.CharField(
                    label=prompt.message,
                    required=False,
                    max_length=2000,
                    widget=forms.TextInput(attrs={"placeholder": prompt.placeholder}),
                )

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        # A prompt with a `when` condition applies only when the earlier input
        # matches, so inputs are gathered in prompt order.
        inputs: dict[str, str] = {}
        for prompt in self.method.prompts:
            if not prompt.applies(inputs):
                continue
            value = cleaned.get(f"input-{prompt.key}") or ""
            if not value:
                self.add_error(f"input-{prompt.key}", f"{prompt.message}: required.")
                continue
            inputs[prompt.key] = value
        self.inputs = inputs
        return cleaned


class OAuthCodeForm(forms.Form):
    code = forms.CharField(
        max_length=KEY_MAX_CHARACTERS,
        strip=True,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
        error_messages={"required": "Paste the code the provider showed you."},
    )


class ModelAgentForm(forms.Form):
    """Model and agent choice; the choices come from the OpenCode catalog.

    A blank choice means the server's default on a new session and "keep the
    current one" on a running session.
    """

    blank_label = "Server default"

    model = forms.ChoiceField(
        required=False,
        error_messages={
            "invalid_choice": "%(value)s is not a model this OpenCode server offers."
        },
    )
    agent = forms.ChoiceField(
        required=False,
        error_messages={
            "invalid_choice": "%(value)s is not an agent this OpenCode server offers."
        },
    )

    def __init__(self, *args: Any, catalog: Catalog | None = None, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.catalog = catalog or Catalog()
        self.fields["model"].choices = self.catalog.model_choices(self.blank_label)
        self.fields["agent"].choices = self.catalog.agent_choices(self.blank_label)


class SessionChoiceForm(ModelAgentForm):
    blank_label = "Keep the current one"

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        if not self.errors and not cleaned.get("model") and not cleaned.get("agent"):
            raise forms.ValidationError("Choose a model or an agent to switch to.")
        return cleaned
