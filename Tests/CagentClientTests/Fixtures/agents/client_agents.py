"""Agents the Swift client tests drive: steady streams, failures, custom events."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from agents.base import Agent, Emit


class Counter(Agent):
    """Emits `thinking {"n": i}` for i in 0..count-1, one every `interval` seconds."""

    id = "counter"
    description = "Counts, one thinking event per step."

    async def run(self, input: dict[str, Any], context: dict[str, Any], emit: Emit) -> dict[str, Any]:
        count = int(input.get("count", 5))
        interval = float(input.get("interval", 0.01))
        for n in range(count):
            await emit("thinking", {"n": n})
            await asyncio.sleep(interval)
        return {"count": count}


class Tools(Agent):
    """One of each progress event type, then a result carrying the context."""

    id = "all_events"

    async def run(self, input: dict[str, Any], context: dict[str, Any], emit: Emit) -> dict[str, Any]:
        await emit("thinking", {"text": "line one\nline two"})
        await emit("tool_call", {"tool": "add", "arguments": {"a": 1, "b": 2}})
        await emit("tool_result", {"tool": "add", "content": 3, "is_error": False})
        await emit("progress", {"pct": 50})
        return {"sum": 3, "context": context}


class Fails(Agent):
    id = "fails"

    async def run(self, input: dict[str, Any], context: dict[str, Any], emit: Emit) -> dict[str, Any]:
        await emit("thinking", {"text": "about to fail"})
        raise RuntimeError("boom")


class Sleeps(Agent):
    """Sleeps `seconds`. `mark`: a file created once the run has begun, so that a test
    waits for the run to be under way rather than for a length of time."""

    id = "sleeps"

    async def run(self, input: dict[str, Any], context: dict[str, Any], emit: Emit) -> dict[str, Any]:
        if "mark" in input:
            Path(str(input["mark"])).touch()
        await emit("thinking", {"text": "sleeping"})
        await asyncio.sleep(float(input.get("seconds", 60)))
        return {"slept": True}
