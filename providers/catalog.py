"""The models and agents a teammate may choose, and each teammate's remembered choice.

`GET /api/model` of OpenCode 1.18.33 took 0.2 to 0.5 s on a warm server and about 1 s
on a cold one (2 cores), so each process caches the catalog for
`CATALOG_CACHE_SECONDS` and drops it whenever a credential changes here.
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.core.signals import request_started

from providers.models import SessionDefaults
from sessions.opencode import OpenCodeClient, OpenCodeError, get_client

CATALOG_CACHE_SECONDS = 60

# Threads that build the catalog while a view makes its other requests.
_loader = ThreadPoolExecutor(max_workers=2, thread_name_prefix="opencode-catalog")

# Agents a teammate can run a session with; "subagent" ones only run inside another.
PRIMARY_AGENT_MODES = {"primary", "all"}


@dataclass(frozen=True)
class ModelOption:
    provider_id: str
    model_id: str
    name: str
    provider_name: str
    connected: bool

    @property
    def value(self) -> str:
        """`providerID/modelID`; provider ids hold no slash, model ids may."""
        return f"{self.provider_id}/{self.model_id}"

    @property
    def ref(self) -> dict[str, str]:
        return model_ref(self.value)


@dataclass(frozen=True)
class AgentOption:
    id: str
    description: str = ""


@dataclass
class Catalog:
    models: list[ModelOption] = field(default_factory=list)
    agents: list[AgentOption] = field(default_factory=list)
    error: OpenCodeError | None = None

    def model_choices(self, blank_label: str) -> list[Any]:
        """Choices grouped by provider, connected providers first."""
        groups: dict[str, list[tuple[str, str]]] = {}
        for option in self.models:
            group = option.provider_name
            if not option.connected:
                group += " (not connected)"
            groups.setdefault(group, []).append((option.value, option.name))
        return [("", blank_label), *groups.items()]

    def agent_choices(self, blank_label: str) -> list[tuple[str, str]]:
        return [("", blank_label)] + [(agent.id, agent.id) for agent in self.agents]

    def has_model(self, value: str) -> bool:
        return any(option.value == value for option in self.models)

    def has_agent(self, agent_id: str) -> bool:
        return any(agent.id == agent_id for agent in self.agents)


def model_ref(value: str) -> dict[str, str]:
    """Turn `providerID/modelID` into OpenCode's ModelRef."""
    provider_id, _, model_id = value.partition("/")
    return {"providerID": provider_id, "id": model_id}


def model_value(ref: dict[str, Any] | None) -> str:
    """Turn a ModelRef from OpenCode into `providerID/modelID`, or "" without one."""
    if not ref or not ref.get("providerID") or not ref.get("id"):
        return ""
    return f"{ref['providerID']}/{ref['id']}"


def _connected_providers(integrations: list[dict[str, Any]]) -> tuple[set, set]:
    """Return (integration ids, ids of integrations with at least one connection)."""
    known = {str(item.get("id")) for item in integrations}
    connected = {
        str(item.get("id")) for item in integrations if item.get("connections")
    }
    return known, connected


def build_catalog(
    raw_models: list[dict[str, Any]],
    raw_agents: list[dict[str, Any]],
    raw_providers: list[dict[str, Any]],
    raw_integrations: list[dict[str, Any]],
) -> Catalog:
    """Order models connected-first, then by provider and model name.

    A provider counts as connected when its integration has a connection, or when it
    is no integration at all, because then OpenCode's own config defines it.
    """
    provider_names = {
        str(item.get("id")): str(item.get("name")) for item in raw_providers
    }
    known, connected = _connected_providers(raw_integrations)
    models = []
    for raw in raw_models:
        if (
            raw.get("enabled") is False
            or not raw.get("providerID")
            or not raw.get("id")
        ):
            continue
        provider_id = str(raw["providerID"])
        models.append(
            ModelOption(
                provider_id=provider_id,
                model_id=str(raw["id"]),
                name=str(raw.get("name") or raw["id"]),
                provider_name=provider_names.get(provider_id) or provider_id,
                connected=provider_id in connected or provider_id not in known,
            )
        )
    models.sort(
        key=lambda item: (
            not item.connected,
            item.provider_name.casefold(),
            item.name.casefold(),
        )
    )
    agents = [
        AgentOption(id=str(raw["id"]), description=str(raw.get("description") or ""))
        for raw in raw_agents
        if raw.get("id")
        and raw.get("mode") in PRIMARY_AGENT_MODES
        and not raw.get("hidden")
    ]
    return Catalog(models=models, agents=agents)


def _cache_key() -> str:
    return f"opencode-catalog:{settings.OPENCODE_URL}"


def load_catalog(client: OpenCodeClient) -> Catalog:
    """Return the cached catalog, or fetch it; on failure the catalog is empty and
    carries the error, so a page can still render."""
    cached = cache.get(_cache_key())
    if cached is not None:
        return cached
    try:
        catalog = build_catalog(
            client.list_models() or [],
            client.list_agents() or [],
            client.list_providers() or [],
            client.list_integrations() or [],
        )
    except OpenCodeError as error:
        return Catalog(error=error)
    cache.set(_cache_key(), catalog, CATALOG_CACHE_SECONDS)
    return catalog


def start_loading_catalog(client: OpenCodeClient) -> Future[Catalog]:
    """Run `load_catalog` in a worker thread; `.result()` returns the catalog."""
    return _loader.submit(load_catalog, client)


def warm_catalog(**signal_kwargs: Any) -> None:
    """Start building the catalog when a process serves its first request.

    Connected to `request_started`, it disconnects itself at once. The login page
    is usually that first request, so the dashboard after it finds the catalog
    ready instead of waiting about a second for a cold OpenCode server.
    """
    request_started.disconnect(warm_catalog)
    try:
        client = get_client()
    except OpenCodeError:
        return  # no OpenCode server configured yet; the dashboard reports it
    start_loading_catalog(client)


def forget_catalog() -> None:
    """Drop the cached catalog after a credential changed which models are usable."""
    cache.delete(_cache_key())


def defaults_for(user: Any, catalog: Catalog) -> dict[str, str]:
    """Return the user's saved model and agent, or "" where the catalog lacks them."""
    saved = SessionDefaults.objects.filter(user=user).first()
    if saved is None:
        return {"model": "", "agent": ""}
    return {
        "model": saved.model if catalog.has_model(saved.model) else "",
        "agent": saved.agent if catalog.has_agent(saved.agent) else "",
    }


def remember_choice(user: Any, model: str, agent: str) -> None:
    """Store the model and agent as the user's defaults; blank means the server's."""
    SessionDefaults.objects.update_or_create(
        user=user, defaults={"model": model, "agent": agent}
    )


def switch_session(
    client: OpenCodeClient, session: dict[str, Any], model: str, agent: str
) -> tuple[str, str]:
    """Switch a session to `model` and `agent` where they differ from its own.

    A blank value keeps the current one. Returns the model and agent it now uses.
    """
    session_id = session["id"]
    current_model = model_value(session.get("model"))
    current_agent = str(session.get("agent") or "")
    if model and model != current_model:
        client.switch_model(session_id, model_ref(model))
        current_model = model
    if agent and agent != current_agent:
        client.switch_agent(session_id, agent)
        current_agent = agent
    return current_model, current_agent
