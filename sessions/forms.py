"""Validation for everything a teammate types or picks."""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.exceptions import ValidationError

from providers.forms import ModelAgentForm
from sessions.transcript import QuestionView
from sessions.workspaces import configured_directories

# A prompt larger than this is refused instead of sent; 1 MB of text fits.
PROMPT_MAX_CHARACTERS = 1_048_576


def _clean_prompt(value: str) -> str:
    if not value.strip():
        raise ValidationError("Write a prompt before sending.", code="blank")
    return value


class PromptForm(forms.Form):
    prompt = forms.CharField(
        strip=False,
        max_length=PROMPT_MAX_CHARACTERS,
        widget=forms.Textarea(attrs={"rows": 3, "dir": "auto"}),
        error_messages={"required": "Write a prompt before sending."},
    )

    def clean_prompt(self) -> str:
        return _clean_prompt(self.cleaned_data["prompt"])


class NewSessionForm(ModelAgentForm, PromptForm):
    """Workspace, prompt, and the model and agent (from `catalog=`) of a new session."""

    workspace = forms.ChoiceField(
        error_messages={
            "required": "Choose a workspace.",
            "invalid_choice": "%(value)s is not one of the configured workspaces.",
        }
    )
    field_order = ["workspace", "model", "agent", "prompt"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["workspace"].choices = [
            (directory, directory) for directory in configured_directories()
        ]


class QuestionReplyForm(forms.Form):
    """Answers to one question request: field `answer-N` and `custom-N` per question.

    `answers` (after validation) contains one list per question, in question order: the
    chosen option labels, then the custom text when one was typed.
    """

    def __init__(self, question: QuestionView, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.question = question
        for item in question.items:
            choices = [(option.label, option.label) for option in item.options]
            if item.multiple:
                field: forms.Field = forms.MultipleChoiceField(
                    choices=choices, required=False
                )
            else:
                field = forms.ChoiceField(choices=choices, required=False)
            self.fields[f"answer-{item.index}"] = field
            if item.custom:
                self.fields[f"custom-{item.index}"] = forms.CharField(
                    required=False, max_length=10_000, strip=True
                )

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        answers = []
        for item in self.question.items:
            chosen = cleaned.get(f"answer-{item.index}") or []
            if isinstance(chosen, str):
                chosen = [chosen]
            custom = cleaned.get(f"custom-{item.index}") or ""
            answer = list(chosen) + ([custom] if custom else [])
            if f"custom-{item.index}" in self.errors:
                pass  # the custom field's own error explains what is wrong
            elif not answer:
                self.add_error(
                    f"answer-{item.index}",
                    "Choose an option"
                    + (" or type your own answer." if item.custom else "."),
                )
            elif not item.multiple and len(answer) > 1:
                self.add_error(
                    f"custom-{item.index}",
                    "This question takes one answer: choose an option or type your "
                    "own, not both.",
                )
            answers.append(answer)
        self.answers = answers
        return cleaned

    def item_states(self) -> list[dict[str, Any]]:
        """Per question: what the teammate picked and typed, and its errors."""
        states = []
        for item in self.question.items:
            picked = self.data.getlist(f"answer-{item.index}") if self.is_bound else []
            states.append(
                {
                    "item": item,
                    "picked": set(picked),
                    "custom": self.data.get(f"custom-{item.index}", "")
                    if self.is_bound
                    else "",
                    "errors": self.errors.get(f"answer-{item.index}", [])
                    + self.errors.get(f"custom-{item.index}", []),
                }
            )
        return states
