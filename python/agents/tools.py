"""The ``tools`` agent: runs a list of MCP tool calls in order.

Input ``{"calls": [{"tool": "add", "arguments": {"a": 1, "b": 2}}, ...]}``; for each call
it emits ``tool_call`` ``{tool, arguments}`` then ``tool_result`` ``{tool, content,
is_error}``, and returns ``{"results": [{tool, content, is_error, structured?}, ...]}``.
A failed call does not stop the run (set ``stop_on_error`` for that): its result says
``is_error`` like any tool error.
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from agents.base import Agent, Emit, SchemaOf
from validation import problems


# defer_build: built on first use, not at every launch (agents.base.SchemaOf).
class ToolCall(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)

    tool: str = Field(min_length=1, description="Tool name, as listed by the tools of the service.")
    arguments: dict[str, Any] = Field(default_factory=dict, description="The tool's arguments.")


class ToolsInput(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)

    calls: list[ToolCall] = Field(description="Tool calls, run one after the other.")
    stop_on_error: bool = Field(False, description="Skip the remaining calls after a failed one.")


class ToolsInputError(ValueError):
    """The input does not match ``ToolsAgent.input_schema``."""


class ToolsAgent(Agent):
    id: ClassVar[str] = "tools"
    description: ClassVar[str] = "Runs the given MCP tool calls in order and returns their results."
    input_schema: ClassVar[dict[str, Any]] = SchemaOf(ToolsInput)  # type: ignore[assignment]

    async def run(self, input: dict[str, Any], context: dict[str, Any], emit: Emit) -> dict[str, Any]:
        try:
            request = ToolsInput.model_validate(input)
        except ValidationError as error:
            raise ToolsInputError(f"invalid input for the tools agent: {problems(error.errors(), 'input')}") from None
        results: list[dict[str, Any]] = []
        for call in request.calls:
            await emit("tool_call", {"tool": call.tool, "arguments": call.arguments})
            result = await self.runtime.tools.call(call.tool, call.arguments)
            await emit("tool_result", {"tool": result.tool, "content": result.content, "is_error": result.is_error})
            results.append(result.model_dump(exclude_none=True))
            if result.is_error and request.stop_on_error:
                break
        return {"results": results}
