"""HTML fragments for the live page, rendered from the same partials as the page.

Every fragment is an htmx out-of-band swap keyed by a stable DOM id, so the
WebSocket extension can place it: `msg-<id>`, `question-<id>`, `session-status`,
`transcript`, `questions`, `upstream-banner` and `stream-<message id>-<part id>`.
"""

from __future__ import annotations

from django.conf import settings
from django.template.loader import render_to_string
from django.utils.html import escape, format_html
from django.utils.safestring import mark_safe

from sessions.forms import QuestionReplyForm
from sessions.transcript import MessageView, PermissionView, QuestionView


def message_html(session_id: str, message: MessageView, oob: str = "") -> str:
    return render_to_string(
        "sessions/partials/message.html",
        {"session_id": session_id, "message": message, "oob": oob},
    )


def earlier_messages_html(session_id: str, before: str, hidden_count: int) -> str:
    """Render the control that loads the HIDDEN_COUNT messages before BEFORE."""
    if hidden_count <= 0:
        return ""
    return render_to_string(
        "sessions/partials/earlier_messages.html",
        {"session_id": session_id, "before": before, "hidden_count": hidden_count},
    )


def question_html(question: QuestionView, oob: str = "", claimed_by: str = "") -> str:
    return render_to_string(
        "sessions/partials/question.html",
        {
            "question": question,
            "form": QuestionReplyForm(question),
            "oob": oob,
            "claimed_by": claimed_by,
        },
    )


def permission_html(
    permission: PermissionView, oob: str = "", claimed_by: str = ""
) -> str:
    return render_to_string(
        "sessions/partials/permission.html",
        {"permission": permission, "oob": oob, "claimed_by": claimed_by},
    )


def request_card_html(
    view: QuestionView | PermissionView, oob: str = "", claimed_by: str = ""
) -> str:
    """Render the card for a pending question or permission request."""
    if isinstance(view, PermissionView):
        return permission_html(view, oob, claimed_by)
    return question_html(view, oob, claimed_by)


def status_html(
    session_id: str, status: str, stopping: bool = False, stuck: bool = False
) -> str:
    return render_to_string(
        "sessions/partials/status.html",
        {
            "session_id": session_id,
            "status": status,
            "stopping": stopping,
            "stuck_after": _duration(settings.OPENCODE_STUCK_AFTER) if stuck else "",
            "oob": "outerHTML",
        },
    )


def _duration(seconds: float) -> str:
    if seconds >= 60:
        return f"{seconds / 60:.0f} min"
    return f"{seconds:.0f} s"


def banner_html(error_headline: str = "", error_detail: str = "") -> str:
    return render_to_string(
        "sessions/partials/banner.html",
        {"headline": error_headline, "detail": error_detail, "oob": "outerHTML"},
    )


# `rendered_html` below must come from our own templates: it is inserted unescaped.


def append_html(container_id: str, rendered_html: str) -> str:
    return format_html(
        '<div id="{}" hx-swap-oob="beforeend">{}</div>',
        container_id,
        mark_safe(rendered_html),
    )


def replace_children_html(container_id: str, rendered_html: str) -> str:
    return format_html(
        '<div id="{}" hx-swap-oob="innerHTML">{}</div>',
        container_id,
        mark_safe(rendered_html),
    )


def delete_html(dom_id: str) -> str:
    return format_html('<div id="{}" hx-swap-oob="delete"></div>', dom_id)


def streamed_text_html(text: str) -> str:
    """Show streamed text as plain escaped text until its part ends and is rendered."""
    return escape(text).replace("\n", "<br>")


def stream_delta_html(dom_id: str, delta: str) -> str:
    """Append one streamed chunk of text to the element DOM_ID."""
    return format_html(
        '<span id="{}" hx-swap-oob="beforeend">{}</span>',
        dom_id,
        mark_safe(streamed_text_html(delta)),
    )
