"""The ``chat`` agent: an LLM behind the OpenAI-compatible Chat Completions API.

That is the protocol of Ollama, llama.cpp's server, vLLM and OpenAI:
``POST {CAGENT_LLM_BASE_URL}/chat/completions`` with ``"stream": true`` answers with
Server-Sent Events, one ``data: {chunk}`` per line and ``data: [DONE]`` at the end.
Content deltas are emitted as ``thinking`` ``{"delta": ...}``. The MCP tools are
offered as functions; when the model calls some, they run through the toolsets
(emitting ``tool_call`` / ``tool_result``), their results go back as ``tool``
messages, and the model is asked again, up to ``chat_max_steps`` requests.

Input ``{"message": "..."}`` or ``{"messages": [{"role": ..., "content": ...}, ...]}``;
result ``{"answer", "steps", "messages"}`` where ``messages`` is the whole conversation,
ready to be sent back with the next user message.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from agents.base import Agent, Emit, SchemaOf
from tools import ToolError, ToolInfo, ToolResult
from validation import problems

if TYPE_CHECKING:
    import httpx

#: How much of an error body or bad chunk goes into an error message.
EXCERPT_CHARS = 500


class ChatError(RuntimeError):
    """The chat cannot go on: no LLM configured, the LLM failed, or too many steps."""


class ChatInputError(ValueError):
    """The input does not match ``ChatAgent.input_schema``."""


# defer_build: these models are built on first use, not at every launch (agents.base.SchemaOf).
class ChatInput(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)

    message: str | None = Field(None, description="One user message; starts a new conversation.")
    messages: list[dict[str, Any]] | None = Field(
        None, min_length=1, description="A whole conversation in Chat Completions form (role, content, ...)."
    )

    @model_validator(mode="after")
    def one_of(self) -> "ChatInput":
        if (self.message is None) == (self.messages is None):
            raise ValueError("give exactly one of 'message' and 'messages'")
        for position, message in enumerate(self.messages or []):
            if not isinstance(message.get("role"), str):
                raise ValueError(f"messages[{position}] needs a string 'role'")
        return self


# The streamed chunk, only the fields used; everything else is ignored.
class _FunctionDelta(BaseModel):
    model_config = ConfigDict(defer_build=True)

    name: str | None = None
    arguments: str | None = None


class _ToolCallDelta(BaseModel):
    model_config = ConfigDict(defer_build=True)

    index: int | None = None
    id: str | None = None
    function: _FunctionDelta | None = None


class _Delta(BaseModel):
    model_config = ConfigDict(defer_build=True)

    content: str | None = None
    tool_calls: list[_ToolCallDelta] | None = None


class _Choice(BaseModel):
    model_config = ConfigDict(defer_build=True)

    index: int = 0
    delta: _Delta = Field(default_factory=_Delta)
    finish_reason: str | None = None


class _Chunk(BaseModel):
    model_config = ConfigDict(defer_build=True)

    choices: list[_Choice] = Field(default_factory=list)


class _PendingCall(BaseModel):
    model_config = ConfigDict(defer_build=True)

    id: str | None = None
    name: str = ""
    arguments: str = ""


class _Reply(BaseModel):
    model_config = ConfigDict(defer_build=True)

    content: str
    tool_calls: list[_PendingCall]


class ChatAgent(Agent):
    id: ClassVar[str] = "chat"
    description: ClassVar[str] = (
        "Chats with the configured LLM (OpenAI-compatible Chat Completions), which may call the MCP tools."
    )
    input_schema: ClassVar[dict[str, Any]] = SchemaOf(ChatInput)  # type: ignore[assignment]

    async def run(self, input: dict[str, Any], context: dict[str, Any], emit: Emit) -> dict[str, Any]:
        settings = self.runtime.settings
        try:
            request = ChatInput.model_validate(input)
        except ValidationError as error:
            raise ChatInputError(f"invalid input for the chat agent: {problems(error.errors(), 'input')}") from None
        if not settings.llm_base_url:
            raise ChatError("the chat agent needs an LLM: set CAGENT_LLM_BASE_URL (e.g. http://127.0.0.1:11434/v1)")
        messages = list(request.messages) if request.messages else [{"role": "user", "content": request.message}]
        try:
            tools = await self.runtime.tools.list_tools()
        except ToolError as error:
            raise ChatError(f"cannot offer the tools to the model: {error}") from None

        url = settings.llm_base_url.rstrip("/") + "/chat/completions"
        headers = {"Accept": "text/event-stream"}
        if settings.llm_api_key:
            headers["Authorization"] = f"Bearer {settings.llm_api_key}"
        # Imported here, not with the module: ~14 ms of every service start, for the
        # launches that run this agent (which then wait on an LLM anyway).
        import httpx

        async with httpx.AsyncClient(timeout=settings.llm_timeout_s, headers=headers) as client:
            for step in range(1, settings.chat_max_steps + 1):
                body: dict[str, Any] = {"model": settings.llm_model, "messages": messages, "stream": True}
                if tools:
                    body["tools"] = [_function_spec(tool) for tool in tools]
                reply = await _complete(client, url, body, emit)
                calls = [
                    call.model_copy(update={"id": call.id or f"call_{step}_{n}"})
                    for n, call in enumerate(reply.tool_calls)
                ]
                messages.append(_assistant_message(reply.content, calls))
                if not calls:
                    return {"answer": reply.content, "steps": step, "messages": messages}
                for call in calls:
                    result = await self._run_tool(call, emit)
                    messages.append({"role": "tool", "tool_call_id": call.id, "content": result.text()})
        raise ChatError(
            f"the model gave no answer within {settings.chat_max_steps} steps "
            "(it kept calling tools; raise CAGENT_CHAT_MAX_STEPS to allow more)"
        )

    async def _run_tool(self, call: _PendingCall, emit: Emit) -> ToolResult:
        try:
            arguments = json.loads(call.arguments) if call.arguments.strip() else {}
        except json.JSONDecodeError as error:
            arguments, problem = call.arguments, f"the arguments are not valid JSON ({error})"
        else:
            problem = None if isinstance(arguments, dict) else "the arguments are not a JSON object"
        await emit("tool_call", {"tool": call.name, "arguments": arguments, "id": call.id})
        if problem is not None:
            # Told to the model rather than raised: it can correct itself on the next step.
            result = ToolResult.error(call.name, f"tool {call.name!r} was not called: {problem}")
        else:
            result = await self.runtime.tools.call(call.name, arguments)
        await emit(
            "tool_result",
            {"tool": call.name, "content": result.content, "is_error": result.is_error, "id": call.id},
        )
        return result


def _function_spec(tool: ToolInfo) -> dict[str, Any]:
    return {
        "type": "function",
        "function": {"name": tool.name, "description": tool.description, "parameters": tool.input_schema},
    }


def _assistant_message(content: str, calls: list[_PendingCall]) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": content or None}
    if calls:
        message["tool_calls"] = [
            {"id": call.id, "type": "function", "function": {"name": call.name, "arguments": call.arguments or "{}"}}
            for call in calls
        ]
    return message


async def _complete(client: httpx.AsyncClient, url: str, body: dict[str, Any], emit: Emit) -> _Reply:
    """One streamed completion: content deltas emitted as they come, tool calls assembled."""
    import httpx

    content: list[str] = []
    calls: dict[int, _PendingCall] = {}
    finished = False
    try:
        async with client.stream("POST", url, json=body) as response:
            if response.status_code >= 400:
                excerpt = (await response.aread())[:EXCERPT_CHARS].decode("utf-8", "replace")
                raise ChatError(f"the LLM at {url} answered HTTP {response.status_code}: {excerpt}")
            async for line in response.aiter_lines():
                # SSE: only data lines matter here; comments (":") and event names are skipped.
                if not line.startswith("data:"):
                    continue
                data = line[len("data:") :].strip()
                if data == "[DONE]":
                    finished = True
                    break
                for choice in _parse_chunk(data, url):
                    if choice.index != 0:
                        continue  # n > 1 was not asked for
                    if choice.delta.content:
                        content.append(choice.delta.content)
                        await emit("thinking", {"delta": choice.delta.content})
                    for position, delta in enumerate(choice.delta.tool_calls or []):
                        call = calls.setdefault(delta.index if delta.index is not None else position, _PendingCall())
                        if delta.id:
                            call.id = delta.id
                        if delta.function is not None:
                            call.name += delta.function.name or ""
                            call.arguments += delta.function.arguments or ""
                    if choice.finish_reason:
                        finished = True
    except httpx.HTTPError as error:
        raise ChatError(f"the LLM at {url} could not be reached or stopped answering: {error!r}") from None
    if not finished:
        raise ChatError(f"the LLM stream from {url} ended before [DONE] or a finish_reason")
    ordered = [calls[index] for index in sorted(calls)]
    for call in ordered:
        if not call.name:
            raise ChatError(f"the LLM at {url} streamed a tool call without a function name")
    return _Reply(content="".join(content), tool_calls=ordered)


def _parse_chunk(data: str, url: str) -> list[_Choice]:
    try:
        raw = json.loads(data)
    except json.JSONDecodeError:
        raise ChatError(f"malformed chunk from the LLM at {url} (not JSON): {data[:EXCERPT_CHARS]}") from None
    if isinstance(raw, dict) and "error" in raw:
        # Several servers report a failure mid-stream as {"error": {...}}.
        raise ChatError(f"the LLM at {url} reported an error: {json.dumps(raw['error'])[:EXCERPT_CHARS]}")
    try:
        return _Chunk.model_validate(raw).choices
    except ValidationError:
        raise ChatError(f"malformed chunk from the LLM at {url}: {data[:EXCERPT_CHARS]}") from None
