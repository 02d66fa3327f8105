"""Test agents: ones that misbehave, and ones the tests can steer."""

from __future__ import annotations

import asyncio
import sys
from typing import Any

from agents.base import Agent, Emit

#: Gates by name, each with the loop it lives on (the real-server tests run the app in
#: another thread). A gated run waits until the test opens its gate.
GATES: dict[str, tuple[asyncio.AbstractEventLoop, asyncio.Event]] = {}


def gate(name: str) -> asyncio.Event:
    if name not in GATES:
        GATES[name] = (asyncio.get_running_loop(), asyncio.Event())
    return GATES[name][1]


def open_gate(name: str) -> None:
    """Callable from any thread, once the run has reached its gate."""
    loop, event = GATES[name]
    loop.call_soon_threadsafe(event.set)


class Raises(Agent):
    id = "raises"
    description = "Raises RuntimeError."

    async def run(self, input: dict[str, Any], context: dict[str, Any], emit: Emit) -> dict[str, Any]:
        await emit("thinking", {"text": "about to fail"})
        raise RuntimeError("boom")


class Exits(Agent):
    id = "exits"
    description = "Calls sys.exit."

    async def run(self, input: dict[str, Any], context: dict[str, Any], emit: Emit) -> dict[str, Any]:
        sys.exit(3)


class Sleeps(Agent):
    id = "sleeps"
    description = "Sleeps input.seconds."

    async def run(self, input: dict[str, Any], context: dict[str, Any], emit: Emit) -> dict[str, Any]:
        await emit("thinking", {"text": "sleeping"})
        await asyncio.sleep(float(input.get("seconds", 60)))
        return {"slept": True}


class Steps(Agent):
    id = "steps"
    description = "Emits thinking, tool_call and tool_result input.count times, then returns."

    async def run(self, input: dict[str, Any], context: dict[str, Any], emit: Emit) -> dict[str, Any]:
        count = int(input.get("count", 3))
        for n in range(count):
            await emit("thinking", {"n": n})
            await emit("tool_call", {"n": n, "tool": "noop"})
            await asyncio.sleep(0.001)
            await emit("tool_result", {"n": n, "is_error": False})
        return {"count": count, "context": context}


class Flood(Agent):
    id = "flood"
    description = "Emits input.count events of input.size bytes each as fast as it can, then returns."

    async def run(self, input: dict[str, Any], context: dict[str, Any], emit: Emit) -> dict[str, Any]:
        count, payload = int(input.get("count", 100)), "x" * int(input.get("size", 1024))
        for n in range(count):
            await emit("thinking", {"n": n, "text": payload})
        return {"count": count}


class Gated(Agent):
    id = "gated"
    description = "Emits 'waiting', then waits for the test to open gate input.gate."

    async def run(self, input: dict[str, Any], context: dict[str, Any], emit: Emit) -> dict[str, Any]:
        event = gate(input["gate"])
        await emit("thinking", {"text": "waiting"})
        await event.wait()
        return {"gate": input["gate"]}


class BadResult(Agent):
    id = "bad_result"
    description = "Returns a list instead of an object."

    async def run(self, input: dict[str, Any], context: dict[str, Any], emit: Emit) -> dict[str, Any]:
        return [1, 2]  # type: ignore[return-value]


class EmitsResult(Agent):
    id = "emits_result"
    description = "Tries to emit a reserved event type."

    async def run(self, input: dict[str, Any], context: dict[str, Any], emit: Emit) -> dict[str, Any]:
        await emit("result", {"fake": True})
        return {}


class Stubborn(Agent):
    id = "stubborn"
    description = "Ignores cancellation until gate input.gate opens."

    async def run(self, input: dict[str, Any], context: dict[str, Any], emit: Emit) -> dict[str, Any]:
        event = gate(input["gate"])
        try:
            await emit("thinking", {"text": "not stopping"})
        except asyncio.CancelledError:
            pass
        while not event.is_set():
            try:
                await event.wait()
            except asyncio.CancelledError:
                pass
        return {"late": True}
