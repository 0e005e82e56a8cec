from django.urls import path, register_converter

from sessions import converters, views

register_converter(converters.SessionIdConverter, "session_id")
register_converter(converters.QuestionIdConverter, "question_id")

app_name = "sessions"

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("sessions/", views.session_list, name="list"),
    path("sessions/new/", views.new_session, name="new"),
    path("sessions/<session_id:session_id>/", views.session_detail, name="detail"),
    path("sessions/<session_id:session_id>/prompt/", views.send_prompt, name="prompt"),
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
