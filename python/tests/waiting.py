"""Waiting for a condition, never for a length of time.

A test that sleeps "long enough" for something to happen is slow when it is right and
flaky when the machine is busy; a poll without a deadline hangs instead of failing. The
helpers here poll the condition and fail with what was awaited once the deadline passes:
the timeout is a safety net against hangs, not a timing assertion, so it is generous.

Dependency-free on purpose: the service tests (python/tests) and the host's Python half
(Tests/host_python, whose conftest puts this folder on sys.path) both use it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

#: How often a condition is looked at: short next to any timeout, long next to a check.
POLL_S = 0.01


def _timed_out(what: str, timeout: float) -> AssertionError:
    return AssertionError(f"timed out after {timeout:g} s waiting until {what}")


async def wait_until(condition: Callable[[], bool], timeout: float = 10.0, what: str = "the condition holds") -> None:
    """Returns once `condition()` is true; AssertionError naming `what` after `timeout` s.
    For tests on an event loop: the loop keeps running between looks."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise _timed_out(what, timeout)
        await asyncio.sleep(POLL_S)


def wait_until_blocking(condition: Callable[[], bool], timeout: float = 10.0, what: str = "the condition holds") -> None:
    """`wait_until` for a test without an event loop (the thing awaited runs on other
    threads or in another process)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise _timed_out(what, timeout)
        time.sleep(POLL_S)
