"""Leases that let exactly one process poll a watched session.

Without REDIS_URL a process is alone, so `LocalLease` is always granted. With Redis,
`RedisLease` is a key set with NX and a time to live: its holder renews it every
third of that time, and when the holder dies the key expires and another process
that watches the session takes it over.
"""

from __future__ import annotations

import enum
import logging
import os
import socket
import uuid
from typing import Protocol

import redis.asyncio as redis
from redis.exceptions import RedisError

logger = logging.getLogger(__name__)

KEY_PREFIX = "opencode-ui:poller:"
# A random value that lives as long as Redis keeps its data; a new value means Redis
# restarted empty or was flushed.
EPOCH_KEY = "opencode-ui:epoch"

# Renew and release only while the key still names this holder, so a process that
# lost its lease (a long pause, a partition) never extends or deletes the new one.
RENEW_SCRIPT = """
if redis.call("get", KEYS[1]) == ARGV[1] then
  return redis.call("pexpire", KEYS[1], ARGV[2])
end
return 0
"""
RELEASE_SCRIPT = """
if redis.call("get", KEYS[1]) == ARGV[1] then
  return redis.call("del", KEYS[1])
end
return 0
"""


def holder_token() -> str:
    """Name this process as a lease holder: host, process id and a random suffix."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class StoreState(enum.Enum):
    UP = "up"
    DOWN = "down"
    # Redis responds again but lost its data, because it restarted empty or was flushed.
    EMPTIED = "emptied"


class Lease(Protocol):
    ttl: float

    async def acquire(self) -> bool: ...

    async def renew(self) -> bool: ...

    async def release(self) -> None: ...


class LocalLease:
    """The lease of a process that runs alone: always granted."""

    ttl = 3600.0

    async def acquire(self) -> bool:
        return True

    async def renew(self) -> bool:
        return True

    async def release(self) -> None:
        return None


class RedisLease:
    """A Redis key naming the one process that polls a session."""

    def __init__(
        self, client: redis.Redis, session_id: str, token: str, ttl: float
    ) -> None:
        self.client = client
        self.key = KEY_PREFIX + session_id
        self.token = token
        self.ttl = ttl
        # A non-holder retries every second, so an outage is logged once, not
        # at every retry.
        self._failing = False

    @property
    def _ttl_ms(self) -> int:
        return int(self.ttl * 1000)

    async def acquire(self) -> bool:
        try:
            created = await self.client.set(
                self.key, self.token, nx=True, px=self._ttl_ms
            )
        except RedisError as error:
            level = logging.DEBUG if self._failing else logging.WARNING
            logger.log(level, "Lease %s could not be taken: %s", self.key, error)
            self._failing = True
            return False
        self._failing = False
        # A restart of the same holder's poller finds its own key still there.
        return bool(created) or await self.renew()

    async def renew(self) -> bool:
        """Extend the lease; return False if it is lost or Redis cannot be reached."""
        try:
            renewed = await self.client.eval(
                RENEW_SCRIPT, 1, self.key, self.token, self._ttl_ms
            )
        except RedisError as error:
            logger.warning("Lease %s could not be renewed: %s", self.key, error)
            return False
        return bool(renewed)

    async def release(self) -> None:
        try:
            await self.client.eval(RELEASE_SCRIPT, 1, self.key, self.token)
        except RedisError as error:
            # The key expires on its own after `ttl` seconds.
            logger.warning("Lease %s could not be released: %s", self.key, error)


class LeaseFactory:
    """Hands out one lease per watched session, all named by this process's token."""

    def __init__(self, redis_url: str, ttl: float) -> None:
        self.token = holder_token()
        self.ttl = ttl
        self.client = redis.Redis.from_url(redis_url) if redis_url else None
        self._epoch: bytes | None = None

    def lease(self, session_id: str) -> Lease:
        if self.client is None:
            return LocalLease()
        return RedisLease(self.client, session_id, self.token, self.ttl)

    async def check_store(self) -> StoreState:
        """Check that Redis responds, and whether it lost its data since last time."""
        if self.client is None:
            return StoreState.UP
        try:
            await self.client.set(EPOCH_KEY, uuid.uuid4().hex, nx=True)
            epoch = await self.client.get(EPOCH_KEY)
        except RedisError:
            return StoreState.DOWN
        emptied = self._epoch is not None and epoch != self._epoch
        self._epoch = epoch
        return StoreState.EMPTIED if emptied else StoreState.UP

    async def aclose(self) -> None:
        if self.client is not None:
            await self.client.aclose()
