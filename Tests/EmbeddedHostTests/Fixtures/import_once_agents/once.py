"""An agents module that cannot be imported twice in one interpreter (it registers
process-wide state at import, as some libraries do): a warm restart of the service fails
on it, a cold one (a new interpreter) does not. Loaded through CAGENT_AGENTS_DIR."""

from __future__ import annotations

import asyncio
import sys
from typing import Any

from agents.base import Agent, Emit

if getattr(sys, "_cagent_import_once", False):
    raise RuntimeError("once.py registers process-wide state: it cannot be imported twice in one interpreter")
sys._cagent_import_once = True  # type: ignore[attr-defined]


class EndsTheLoop(Agent):
    """SystemExit from a loop callback, outside any run: it ends the event loop."""

    id = "once_exit_loop"

    async def run(self, input: dict[str, Any], context: dict[str, Any], emit: Emit) -> dict[str, Any]:
        asyncio.get_running_loop().call_later(0.05, sys.exit, 4)
        return {"scheduled": True}
