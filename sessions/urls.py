from django.urls import path, register_converter

from sessions import converters, review_views, team_views, views

register_converter(converters.SessionIdConverter, "session_id")
register_converter(converters.QuestionIdConverter, "question_id")
register_converter(converters.MessageIdConverter, "message_id")
register_converter(converters.PermissionIdConverter, "permission_id")
register_converter(converters.RequestIdConverter, "request_id")

app_name = "sessions"

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("sessions/", review_views.session_list, name="list"),
    path("highlight.css", review_views.highlight_css, name="highlight-css"),
    path("sessions/new/", views.new_session, name="new"),
    path("inbox/", team_views.inbox, name="inbox"),
    path("inbox/badge/", team_views.inbox_badge, name="inbox-badge"),
    path("upstream/status/", team_views.upstream_status, name="upstream-status"),
    path("audit/", team_views.audit, name="audit"),
    path("audit/export.csv", team_views.audit_csv, name="audit-csv"),
    path(
        "sessions/<session_id:session_id>/interrupt/",
        team_views.interrupt,
        name="interrupt",
    ),
    path(
        "sessions/<session_id:session_id>/permissions/<permission_id:permission_id>"
        "/reply/",
        team_views.reply_permission,
        name="permission-reply",
    ),
    path(
        "sessions/<session_id:session_id>/claim/<request_id:request_id>/",
        team_views.claim,
        name="claim",
    ),
    path("sessions/<session_id:session_id>/", views.session_detail, name="detail"),
    path("sessions/<session_id:session_id>/prompt/", views.send_prompt, name="prompt"),
    path(
        "sessions/<session_id:session_id>/earlier/",
        review_views.earlier_messages,
        name="earlier",
    ),
    path(
        "sessions/<session_id:session_id>/export.md",
        review_views.export_markdown,
        name="export-markdown",
    ),
    path(
        "sessions/<session_id:session_id>/export.json",
        review_views.export_json,
        name="export-json",
    ),
    path(
        "sessions/<session_id:session_id>/messages/<message_id:message_id>"
        "/parts/<int:index>/",
        review_views.part_text,
        name="part",
    ),
    path(
        "sessions/<session_id:session_id>/model-agent/",
        views.choose_model_agent,
        name="model-agent",
    ),
    path(
        "sessions/<session_id:session_id>/questions/<question_id:question_id>/reply/",
        views.reply_question,
        name="question-reply",
    ),
    path(
        "sessions/<session_id:session_id>/questions/<question_id:question_id>/reject/",
        views.reject_question,
        name="question-reject",
    ),
]
