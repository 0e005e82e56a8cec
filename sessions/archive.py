"""Local copies of idle sessions, for review when OpenCode cannot serve them."""

from __future__ import annotations

import hashlib
import json
import logging
from typing import Any

from django.db.models import Q, QuerySet

from sessions.models import SessionArchive
from sessions.transcript import session_summary

logger = logging.getLogger(__name__)


def _fingerprint(messages: list[dict[str, Any]]) -> str:
    encoded = json.dumps(messages, sort_keys=True, ensure_ascii=False).encode()
    return hashlib.sha256(encoded).hexdigest()


def _searchable_text(messages: list[dict[str, Any]]) -> str:
    pieces = []
    for message in messages:
        if isinstance(message.get("text"), str):
            pieces.append(message["text"])
        for part in message.get("content") or []:
            if isinstance(part, dict) and part.get("type") == "text":
                pieces.append(str(part.get("text") or ""))
    return "\n".join(pieces)


def store_archive(session: dict[str, Any], messages: list[dict[str, Any]]) -> bool:
    """Save SESSION and its MESSAGES; return False when the copy was already current."""
    summary = session_summary(session)
    fingerprint = _fingerprint(messages)
    current = SessionArchive.objects.filter(session_id=summary.id).first()
    if current is not None and current.fingerprint == fingerprint:
        if current.title != summary.title:
            current.title = summary.title
            current.session = session
            current.save(update_fields=["title", "session", "archived_at"])
        return False
    SessionArchive.objects.update_or_create(
        session_id=summary.id,
        defaults={
            "parent_id": summary.parent_id,
            "title": summary.title[:500],
            "directory": summary.directory[:1024],
            "session": session,
            "messages": messages,
            "transcript_text": _searchable_text(messages),
            "fingerprint": fingerprint,
            "created_at": summary.created,
        },
    )
    logger.info("Archived session %s (%d messages)", summary.id, len(messages))
    return True


def load_archive(session_id: str) -> SessionArchive | None:
    return SessionArchive.objects.filter(session_id=session_id).first()


def search_archives(query: str, directory: str = "") -> QuerySet[SessionArchive]:
    """Find archived sessions whose title or transcript contains QUERY."""
    matches = SessionArchive.objects.filter(
        Q(title__icontains=query) | Q(transcript_text__icontains=query)
    )
    if directory:
        matches = matches.filter(directory=directory)
    return matches.defer("messages", "session", "transcript_text")
