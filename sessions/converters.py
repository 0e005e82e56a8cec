"""URL converters that accept only well-formed OpenCode ids, so odd paths 404 early."""

from sessions.opencode import (
    ID_BODY,
    MESSAGE_ID,
    PERMISSION_ID,
    QUESTION_ID,
    SESSION_ID,
)


class SessionIdConverter:
    regex = SESSION_ID.pattern

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value


class QuestionIdConverter(SessionIdConverter):
    regex = QUESTION_ID.pattern


class MessageIdConverter(SessionIdConverter):
    regex = MESSAGE_ID.pattern


class PermissionIdConverter(SessionIdConverter):
    regex = PERMISSION_ID.pattern


class RequestIdConverter(SessionIdConverter):
    """A question or a permission request id."""

    regex = rf"(?:que|per)_{ID_BODY}"
