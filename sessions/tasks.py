"""Stopping background tasks that may ignore a cancellation.

Some awaits drop a cancellation that arrives just as they finish: `asyncio.wait_for`
on Python 3.11 returns the result instead, and other library code may do the same.
The watcher registry stops its tasks while it holds the lock that every join and
leave waits for, so one task that never ends would stop live updates for the whole
process.
"""

from __future__ import annotations

import asyncio
import logging

logger = logging.getLogger(__name__)

# Seconds to wait after each cancellation before cancelling again.
CANCEL_RETRY = 1.0
# Cancellations tried before leaving a task that will not end.
CANCEL_ATTEMPTS = 10


async def cancel_and_wait(task: asyncio.Task) -> None:
    """Cancel TASK until it has ended. After CANCEL_ATTEMPTS tries, log an error."""
    for _ in range(CANCEL_ATTEMPTS):
        if task.done():
            break
        task.cancel()
        await asyncio.wait({task}, timeout=CANCEL_RETRY)
    if not task.done():
        logger.error(
            "Task %r ignored %d cancellations; leaving it running",
            task.get_name(),
            CANCEL_ATTEMPTS,
        )
        return
    if not task.cancelled() and task.exception() is not None:
        logger.warning("Task %r ended with %r", task.get_name(), task.exception())
