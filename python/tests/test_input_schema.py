"""Agent input is checked against the agent's input_schema before the run starts."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from agents.registry import AgentLoadError, load_agents
from config import Settings
from main import create_app

TOKEN = "schema-test-token"


@pytest.fixture
def client() -> TestClient:
    app = create_app(Settings(token=TOKEN))
    with TestClient(app, base_url="http://127.0.0.1") as client:
        client.headers["Authorization"] = f"Bearer {TOKEN}"
        yield client


def test_input_that_breaks_the_schema_is_a_422_naming_the_field(client: TestClient) -> None:
    response = client.post("/agent/execute", json={"agent_id": "tools", "input": {"calls": [{"arguments": {}}]}})
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "invalid_request"
    assert "agent 'tools'" in error["message"]
    assert error["errors"][0]["loc"][:3] == ["input", "calls", 0]
    assert "'tool' is a required property" in error["errors"][0]["msg"]


def test_a_streamed_run_with_bad_input_is_refused_before_it_starts(client: TestClient) -> None:
    response = client.post("/agent/runs", json={"agent_id": "chat", "input": {"message": 42}})
    assert response.status_code == 422
    assert response.json()["error"]["errors"][0]["loc"] == ["input", "message"]


def test_valid_input_still_runs(client: TestClient) -> None:
    response = client.post("/agent/execute", json={"agent_id": "tools", "input": {"calls": []}})
    assert response.status_code == 200
    assert response.json()["result"] == {"results": []}


def test_an_agent_with_an_invalid_schema_fails_to_load(tmp_path: Path) -> None:
    (tmp_path / "bad_schema.py").write_text(
        "from agents.base import Agent\n"
        "class Bad(Agent):\n"
        "    id = 'bad'\n"
        "    input_schema = {'type': 'no-such-type'}\n"
        "    async def run(self, input, context, emit):\n"
        "        return {}\n"
    )
    with pytest.raises(AgentLoadError, match=r"bad_schema.py: agent 'bad' has an invalid input_schema"):
        load_agents(tmp_path)


def test_the_builtin_agents_schemas_are_valid() -> None:
    # Not checked at launch (that would import jsonschema at every start): checked here.
    from agents.schema import _validator

    builtins = {agent_id: cls for agent_id, cls in load_agents().items() if cls.__module__.startswith("agents.")}
    assert set(builtins) == {"echo", "tools", "chat"}
    for cls in builtins.values():
        _validator(cls)  # raises InvalidSchema


@pytest.mark.parametrize(
    ("schema", "any_object"),
    [
        ({"type": "object"}, True),
        ({"type": "object", "additionalProperties": True, "title": "Echo"}, True),
        ({"type": "object", "additionalProperties": False}, False),
        ({"type": "object", "properties": {"a": {"type": "integer"}}}, False),
        ({"type": "object", "required": ["a"]}, False),
        ({"type": "array"}, False),
        ({}, False),
    ],
)
def test_only_schemas_that_accept_every_object_skip_the_validator(schema: dict, any_object: bool) -> None:
    from agents.schema import accepts_any_object, input_errors

    assert accepts_any_object(schema) is any_object
    if any_object:
        assert input_errors(type("Agent", (), {"input_schema": schema}), {"a": "x"}) == []
