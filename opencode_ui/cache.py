"""Django's Redis cache, for deployments where a Redis outage must not fail pages.

Everything the dashboard caches can be computed again: the login failure counts,
the inbox count and the model catalog. So while Redis cannot be reached, each
cache operation acts as a miss, and what needs a value computes it afresh.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from django.core.cache.backends.redis import RedisCache
from redis.exceptions import RedisError

logger = logging.getLogger(__name__)


def _returns(value: Any) -> Callable[..., Any]:
    return lambda *args, **kwargs: value


# The result of each operation when Redis fails, the same as on a cache miss.
RESULTS_ON_FAILURE: dict[str, Callable[..., Any]] = {
    "get": lambda key, default=None, version=None: default,
    "add": _returns(False),
    "set": _returns(None),
    "touch": _returns(False),
    "delete": _returns(False),
    "incr": _returns(0),
    "has_key": _returns(False),
    "get_many": _returns({}),
    "set_many": _returns([]),
    "delete_many": _returns(None),
    "clear": _returns(False),
}


class ForgivingRedisCache(RedisCache):
    """A Redis cache whose operations miss while Redis is down.

    The first failure of an outage is logged as a warning, the rest at debug level.
    """

    failing = False


def _forgiving(name: str, result_on_failure: Callable[..., Any]) -> Callable[..., Any]:
    operation = getattr(RedisCache, name)

    def forgiving_operation(self, *args, **kwargs):
        try:
            result = operation(self, *args, **kwargs)
        except RedisError as error:
            level = logging.DEBUG if self.failing else logging.WARNING
            logger.log(level, "Cache %s skipped because Redis failed: %s", name, error)
            self.failing = True
            return result_on_failure(*args, **kwargs)
        self.failing = False
        return result

    forgiving_operation.__name__ = name
    forgiving_operation.__doc__ = operation.__doc__
    return forgiving_operation


for _name, _result in RESULTS_ON_FAILURE.items():
    setattr(ForgivingRedisCache, _name, _forgiving(_name, _result))
