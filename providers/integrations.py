"""Pure functions: `/api/integration` payloads into view data (no I/O)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

# Connection kinds as this dashboard shows them. OpenCode itself reports only
# "credential" (stored on the server) or "env" (an environment variable).
KIND_KEY = "key"
KIND_OAUTH = "oauth"
KIND_STORED = "stored"
KIND_ENV = "env"

KIND_DESCRIPTIONS = {
    KIND_KEY: "stored key",
    KIND_OAUTH: "OAuth",
    KIND_STORED: "stored credential",
    KIND_ENV: "environment variable",
}


@dataclass(frozen=True)
class Origin:
    """Where a stored credential came from, as recorded when it was connected here."""

    method: str
    connected_by: str = ""


@dataclass(frozen=True)
class Connection:
    kind: str
    # The credential's label, or the environment variable's name.
    label: str
    credential_id: str = ""
    connected_by: str = ""

    @property
    def description(self) -> str:
        return KIND_DESCRIPTIONS.get(self.kind, self.kind)

    @property
    def removable(self) -> bool:
        return bool(self.credential_id)


@dataclass(frozen=True)
class PromptOption:
    value: str
    label: str
    hint: str = ""


@dataclass(frozen=True)
class OAuthPrompt:
    """One input an OAuth method asks for before it starts (text or select)."""

    key: str
    kind: str
    message: str
    placeholder: str = ""
    options: tuple[PromptOption, ...] = ()
    # Ask only when the input `when_key` equals (op "eq") or differs from (op "neq")
    # `when_value`; an empty `when_key` means always.
    when_key: str = ""
    when_op: str = ""
    when_value: str = ""

    def applies(self, inputs: Mapping[str, str]) -> bool:
        if not self.when_key:
            return True
        matches = inputs.get(self.when_key, "") == self.when_value
        return matches if self.when_op == "eq" else not matches


@dataclass(frozen=True)
class OAuthMethod:
    id: str
    label: str
    prompts: tuple[OAuthPrompt, ...] = ()


@dataclass(frozen=True)
class Integration:
    id: str
    name: str
    accepts_key: bool = False
    key_label: str = ""
    env_names: tuple[str, ...] = ()
    oauth_methods: tuple[OAuthMethod, ...] = ()
    connections: tuple[Connection, ...] = field(default_factory=tuple)

    @property
    def connected(self) -> bool:
        return bool(self.connections)

    @property
    def credential_ids(self) -> set[str]:
        return {item.credential_id for item in self.connections if item.credential_id}

    def credential(self, credential_id: str) -> Connection | None:
        for item in self.connections:
            if item.credential_id == credential_id:
                return item
        return None

    def oauth_method(self, method_id: str) -> OAuthMethod | None:
        for method in self.oauth_methods:
            if method.id == method_id:
                return method
        return None


def _prompt(raw: dict[str, Any]) -> OAuthPrompt:
    when = raw.get("when") or {}
    options = tuple(
        PromptOption(
            value=str(option.get("value", "")),
            label=str(option.get("label") or option.get("value", "")),
            hint=str(option.get("hint") or ""),
        )
        for option in raw.get("options") or []
    )
    return OAuthPrompt(
        key=str(raw.get("key", "")),
        kind="select" if raw.get("type") == "select" else "text",
        message=str(raw.get("message") or raw.get("key", "")),
        placeholder=str(raw.get("placeholder") or ""),
        options=options,
        when_key=str(when.get("key") or ""),
        when_op=str(when.get("op") or "eq"),
        when_value=str(when.get("value") or ""),
    )


def _connection(raw: dict[str, Any], origins: Mapping[str, Origin]) -> Connection:
    if raw.get("type") == "env":
        return Connection(kind=KIND_ENV, label=str(raw.get("name", "")))
    credential_id = str(raw.get("id", ""))
    origin = origins.get(credential_id)
    return Connection(
        kind=origin.method if origin else KIND_STORED,
        label=str(raw.get("label", "")),
        credential_id=credential_id,
        connected_by=origin.connected_by if origin else "",
    )


def integration_view(
    raw: dict[str, Any], origins: Mapping[str, Origin] | None = None
) -> Integration:
    """Build one integration; `origins` maps credential ids to how they were added."""
    origins = origins or {}
    methods = raw.get("methods") or []
    key_methods = [method for method in methods if method.get("type") == "key"]
    env_names: list[str] = []
    oauth_methods = []
    for method in methods:
        if method.get("type") == "env":
            env_names.extend(str(name) for name in method.get("names") or [])
        elif method.get("type") == "oauth" and method.get("id"):
            oauth_methods.append(
                OAuthMethod(
                    id=str(method["id"]),
                    label=str(method.get("label") or method["id"]),
                    prompts=tuple(
                        _prompt(item) for item in method.get("prompts") or []
                    ),
                )
            )
    return Integration(
        id=str(raw.get("id", "")),
        name=str(raw.get("name") or raw.get("id", "")),
        accepts_key=bool(key_methods),
        key_label=str(key_methods[0].get("label") or "") if key_methods else "",
        env_names=tuple(env_names),
        oauth_methods=tuple(oauth_methods),
        connections=tuple(
            _connection(item, origins) for item in raw.get("connections") or []
        ),
    )


def filter_integrations(
    integrations: Iterable[Integration], query: str = "", connected_only: bool = False
) -> list[Integration]:
    """Match `query` against id and name, case-insensitively; connected ones first."""
    needle = query.strip().casefold()
    matching = [
        item
        for item in integrations
        if (not connected_only or item.connected)
        and (
            not needle or needle in item.id.casefold() or needle in item.name.casefold()
        )
    ]
    return sorted(matching, key=lambda item: (not item.connected, item.name.casefold()))
