"""The directories OpenCode works in, as configured and as OpenCode resolves them."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import PurePath

from django.conf import settings

from sessions.opencode import OpenCodeClient, OpenCodeError, OpenCodeUnreachable


@dataclass
class Workspace:
    directory: str
    project_id: str = ""
    error: str = ""

    @property
    def name(self) -> str:
        return PurePath(self.directory).name or self.directory


def configured_directories() -> list[str]:
    return list(settings.OPENCODE_WORKSPACES)


def resolve_workspaces(client: OpenCodeClient) -> list[Workspace]:
    """Resolve each configured directory through `/api/location`.

    A directory OpenCode cannot resolve stays listed with its error. When the server
    is unreachable the first failure is raised, because every other one would fail
    the same way.
    """
    workspaces = []
    for directory in configured_directories():
        try:
            location = client.resolve_location(directory)
        except OpenCodeUnreachable:
            raise
        except OpenCodeError as error:
            workspaces.append(Workspace(directory=directory, error=str(error)))
            continue
        project = location.get("project") or {}
        workspaces.append(
            Workspace(
                directory=str(location.get("directory") or directory),
                project_id=str(project.get("id") or ""),
            )
        )
    return workspaces
