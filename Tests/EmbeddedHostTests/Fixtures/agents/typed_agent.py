"""Agents the host tests use to check that a generation's extension modules work."""

from __future__ import annotations

import asyncio
import datetime
import decimal
import sys
import threading
import time
import uuid
from typing import Any

import httptools
import pydantic

from agents.base import Agent, Emit


class Reading(pydantic.BaseModel):
    id: uuid.UUID
    at: datetime.datetime
    amount: decimal.Decimal
    tags: list[str]


class TypedAgent(Agent):
    """Round-trips a pydantic model with UUID, datetime and Decimal fields, and parses
    an HTTP request with httptools: the things that break after re-initialization
    when extension modules load in place."""

    id = "typed"
    description = "pydantic, httptools and event-loop checks for the host tests"

    async def run(self, input: dict[str, Any], context: dict[str, Any], emit: Emit) -> dict[str, Any]:
        reading = Reading.model_validate(input)
        again = Reading.model_validate_json(reading.model_dump_json())
        seen: dict[str, bytes] = {}

        class Callbacks:
            def on_url(self, url: bytes) -> None:
                seen["url"] = url

            def on_header(self, name: bytes, value: bytes) -> None:
                seen[name.decode().lower()] = value

        parser = httptools.HttpRequestParser(Callbacks())
        parser.feed_data(b"GET /probe?x=1 HTTP/1.1\r\nHost: example\r\n\r\n")
        loop = asyncio.get_running_loop()
        return {
            "reading": reading.model_dump(mode="json"),
            "uuid_is_uuid": isinstance(again.id, uuid.UUID),
            "datetime_is_datetime": isinstance(again.at, datetime.datetime),
            "decimal_is_decimal": isinstance(again.amount, decimal.Decimal),
            "equal_after_json_round_trip": again == reading,
            "httptools_url": seen.get("url", b"").decode(),
            "httptools_host": seen.get("host", b"").decode(),
            "loop": f"{type(loop).__module__}.{type(loop).__name__}",
            "pydantic_core_file": sys.modules["pydantic_core._pydantic_core"].__file__,
            "thread": threading.current_thread().name,
        }


class StuckThreadAgent(Agent):
    """Leaves a non-daemon thread running: Py_FinalizeEx would wait for it forever."""

    id = "stuck_thread"

    async def run(self, input: dict[str, Any], context: dict[str, Any], emit: Emit) -> dict[str, Any]:
        seconds = float(input.get("seconds", 3600))
        thread = threading.Thread(target=time.sleep, args=(seconds,), name="stuck-worker", daemon=False)
        thread.start()
        return {"started": thread.name}


class ThreadsAgent(Agent):
    """The names of the interpreter's live threads (a test waits for a worker to end)."""

    id = "threads"

    async def run(self, input: dict[str, Any], context: dict[str, Any], emit: Emit) -> dict[str, Any]:
        return {"threads": sorted(thread.name for thread in threading.enumerate())}


class SlowStreamAgent(Agent):
    """Emits `thinking` events until cancelled or until `steps` are done."""

    id = "slow_stream"

    async def run(self, input: dict[str, Any], context: dict[str, Any], emit: Emit) -> dict[str, Any]:
        steps = int(input.get("steps", 1000))
        for step in range(steps):
            await emit("thinking", {"step": step})
            await asyncio.sleep(float(input.get("interval", 0.05)))
        return {"steps": steps}


class RaisesAgent(Agent):
    id = "raises"

    async def run(self, input: dict[str, Any], context: dict[str, Any], emit: Emit) -> dict[str, Any]:
        raise ValueError(str(input.get("message", "boom")))


#: Runs of `cancel_probe` that began, and those that saw their cancellation, by the
#: marker they were given: tests wait for a run to be under way by asking, not by sleeping.
STARTED: set[str] = set()
CANCELLED: set[str] = set()


class CancelProbeAgent(Agent):
    """Emits until cancelled, and records that it was."""

    id = "cancel_probe"

    async def run(self, input: dict[str, Any], context: dict[str, Any], emit: Emit) -> dict[str, Any]:
        STARTED.add(str(input["marker"]))
        try:
            while True:
                await emit("thinking", {"marker": input["marker"]})
                await asyncio.sleep(0.01)
        except asyncio.CancelledError:
            CANCELLED.add(str(input["marker"]))
            raise


class CancelReportAgent(Agent):
    id = "cancel_report"

    async def run(self, input: dict[str, Any], context: dict[str, Any], emit: Emit) -> dict[str, Any]:
        return {"started": sorted(STARTED), "cancelled": sorted(CANCELLED)}
