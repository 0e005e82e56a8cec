"""URL converters that accept only well-formed OpenCode ids, so odd paths 404 early."""

from sessions.converters import SessionIdConverter
from sessions.opencode import CREDENTIAL_ID, INTEGRATION_ID, OAUTH_ATTEMPT_ID


class IntegrationIdConverter(SessionIdConverter):
    regex = INTEGRATION_ID.pattern


class CredentialIdConverter(SessionIdConverter):
    regex = CREDENTIAL_ID.pattern


class OAuthAttemptIdConverter(SessionIdConverter):
    regex = OAUTH_ATTEMPT_ID.pattern


class MethodIdConverter(SessionIdConverter):
    regex = r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}"
