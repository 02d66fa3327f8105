"""Takes the id of the built-in echo agent: a start error."""

from typing import Any

from agents.base import Agent, Emit


class EchoAgain(Agent):
    id = "echo"

    async def run(self, input: dict[str, Any], context: dict[str, Any], emit: Emit) -> dict[str, Any]:
        return {}
