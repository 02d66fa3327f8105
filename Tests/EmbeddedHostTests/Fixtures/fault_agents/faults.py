"""Fault-injecting agents for the supervisor tests (loaded through CAGENT_AGENTS_DIR).

Each misbehaves in one way an agent can hurt an in-process service: raising, calling
sys.exit, blocking the event loop in a system call, spinning in pure Python, holding
the GIL in C code, or ending the event loop itself.
"""

from __future__ import annotations

import asyncio
import ctypes
import sys
import time
from typing import Any

from agents.base import Agent, Emit


class Raises(Agent):
    id = "fault_raises"

    async def run(self, input: dict[str, Any], context: dict[str, Any], emit: Emit) -> dict[str, Any]:
        raise RuntimeError("fault_raises fails on purpose")


class CallsSysExit(Agent):
    """sys.exit inside an agent: the service reports the run failed and goes on."""

    id = "fault_sys_exit"

    async def run(self, input: dict[str, Any], context: dict[str, Any], emit: Emit) -> dict[str, Any]:
        sys.exit(3)


class ExitsTheLoop(Agent):
    """SystemExit from a loop callback, outside any run: it ends the event loop (a crash)."""

    id = "fault_exit_loop"

    async def run(self, input: dict[str, Any], context: dict[str, Any], emit: Emit) -> dict[str, Any]:
        asyncio.get_running_loop().call_later(0.05, sys.exit, 4)
        return {"scheduled": True}


class BlocksInSleep(Agent):
    """Blocks the event loop in time.sleep (a system call, GIL released)."""

    id = "fault_sleep"

    async def run(self, input: dict[str, Any], context: dict[str, Any], emit: Emit) -> dict[str, Any]:
        await emit("thinking", {"text": "about to block the loop"})
        time.sleep(float(input.get("seconds", 60)))
        return {"slept": True}


class Spins(Agent):
    """Blocks the event loop in a pure-Python loop (holding the GIL between switches)."""

    id = "fault_spin"

    async def run(self, input: dict[str, Any], context: dict[str, Any], emit: Emit) -> dict[str, Any]:
        await emit("thinking", {"text": "about to spin"})
        deadline = time.monotonic() + float(input.get("seconds", 60))
        n = 0
        while time.monotonic() < deadline:
            n += 1
        return {"spins": n}


class SleepsInCHoldingTheGIL(Agent):
    """libc sleep() through ctypes.PyDLL, which keeps the GIL during the call: a signal
    cuts the sleep short (EINTR), so the host's interrupt still gets through."""

    id = "fault_c_sleep"

    async def run(self, input: dict[str, Any], context: dict[str, Any], emit: Emit) -> dict[str, Any]:
        libc = ctypes.PyDLL(None)
        libc.sleep(int(input.get("seconds", 60)))
        return {"slept": True}


class WedgesInCHoldingTheGIL(Agent):
    """Locks a plain mutex twice through ctypes.PyDLL: a deadlock in C with the GIL held.
    pthread_mutex_lock does not return on signals, so nothing in-process can end it."""

    id = "fault_c_wedge"

    async def run(self, input: dict[str, Any], context: dict[str, Any], emit: Emit) -> dict[str, Any]:
        libc = ctypes.PyDLL(None)
        mutex = ctypes.create_string_buffer(64)  # zeroed: PTHREAD_MUTEX_INITIALIZER
        libc.pthread_mutex_lock(mutex)
        libc.pthread_mutex_lock(mutex)
        return {"unreachable": True}


class BlocksTheLoopOutsideARun(Agent):
    """Schedules a blocking callback: the loop stalls in no run, so the interrupt (which
    only ever raises into an agent run) leaves it alone, and the supervisor restarts."""

    id = "fault_blocking_callback"

    async def run(self, input: dict[str, Any], context: dict[str, Any], emit: Emit) -> dict[str, Any]:
        asyncio.get_running_loop().call_soon(time.sleep, float(input.get("seconds", 60)))
        return {"scheduled": True}
