"""The agent plugin contract.

An agent is a class with an ``id`` and an async ``run`` that may report progress
through ``emit`` and returns a JSON object. Apps put their own agents in modules
under ``CAGENT_AGENTS_DIR``; every ``Agent`` subclass found there is registered.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Awaitable, Callable, ClassVar

if TYPE_CHECKING:
    from pydantic import BaseModel

    from config import Settings
    from tools import Toolsets

#: ``await emit(event_type, data)``: one progress event of the run
#: (``thinking``, ``tool_call``, ``tool_result``, or an agent's own type).
Emit = Callable[[str, dict[str, Any]], Awaitable[None]]


@dataclass(frozen=True)
class AgentRuntime:
    """What the service hands every agent it creates."""

    settings: "Settings"
    tools: "Toolsets"


class SchemaOf:
    """``input_schema = SchemaOf(SomeModel)``: the JSON schema of a pydantic model, made
    on first access rather than when the agent's module is imported. Generating it (and
    building the model) costs milliseconds per agent at every launch otherwise, for a
    schema only ``GET /agents`` and the agent's first run need."""

    def __init__(self, model: "type[BaseModel]") -> None:
        self._model = model
        self._schema: dict[str, Any] | None = None

    def __get__(self, instance: object, owner: type | None = None) -> dict[str, Any]:
        if self._schema is None:
            self._schema = self._model.model_json_schema()
        return self._schema


class Agent(ABC):
    id: ClassVar[str]
    description: ClassVar[str] = ""
    #: JSON schema of ``input``, shown by ``GET /agents``.
    input_schema: ClassVar[dict[str, Any]] = {"type": "object"}

    def __init__(self, runtime: AgentRuntime) -> None:
        self.runtime = runtime

    @abstractmethod
    async def run(self, input: dict[str, Any], context: dict[str, Any], emit: Emit) -> dict[str, Any]:
        """Do the work; return the result object. Raising ends the run with an error."""
