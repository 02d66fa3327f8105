"""Data the service hands out: run events, execute results, agent descriptions."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

#: Event types that end a run; exactly one of them is the last event of every run.
TERMINAL = frozenset({"result", "error"})
#: Types the service emits itself; an agent may not emit them.
RESERVED = TERMINAL | {"keepalive"}


class RunEvent(BaseModel):
    #: Position in the run's event log ("0", "1", ...); ``Last-Event-ID`` refers to it.
    id: str
    type: str
    data: dict[str, Any]

    @property
    def terminal(self) -> bool:
        return self.type in TERMINAL


class ExecuteResult(BaseModel):
    result: dict[str, Any]
    execution_time: float = Field(description="Seconds the agent ran.")
    agent_id: str


class AgentInfo(BaseModel):
    id: str
    description: str
    input_schema: dict[str, Any]
