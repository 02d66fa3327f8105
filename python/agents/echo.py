"""The ``echo`` agent: returns its input. Useful to check the plumbing end to end."""

from __future__ import annotations

from typing import Any

from agents.base import Agent, Emit


class EchoAgent(Agent):
    id = "echo"
    description = "Returns its input unchanged."
    input_schema = {"type": "object", "additionalProperties": True}

    async def run(self, input: dict[str, Any], context: dict[str, Any], emit: Emit) -> dict[str, Any]:
        return input
