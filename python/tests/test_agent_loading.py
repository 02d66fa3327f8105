"""Agents from the built-ins and from CAGENT_AGENTS_DIR; broken modules stop the start."""

from __future__ import annotations

from pathlib import Path

import pytest

from agents.registry import AgentLoadError, load_agents
from main import create_app
from service_support import FIXTURES, make_settings


def test_builtins_are_registered() -> None:
    agents = load_agents(None)
    assert {"echo", "tools", "chat"} <= set(agents)
    assert agents["tools"].__name__ == "ToolsAgent"
    assert agents["chat"].__name__ == "ChatAgent"


def test_directory_agents_are_registered() -> None:
    agents = load_agents(FIXTURES / "good")
    assert {"raises", "exits", "sleeps", "steps", "gated"} <= set(agents)


def test_module_that_fails_to_import_is_a_start_error_naming_the_file() -> None:
    with pytest.raises(AgentLoadError) as caught:
        create_app(make_settings(agents_dir=FIXTURES / "broken"))
    message = str(caught.value)
    assert str(FIXTURES / "broken" / "fails_at_import.py") in message
    assert "broken on purpose" in message
    assert "Traceback" in message
    assert isinstance(caught.value.__cause__, ImportError)


def test_duplicate_agent_id_is_a_start_error() -> None:
    with pytest.raises(AgentLoadError, match="'echo'.*already used"):
        load_agents(FIXTURES / "duplicate")


def test_missing_directory_is_a_start_error(tmp_path: Path) -> None:
    with pytest.raises(AgentLoadError, match="does not exist"):
        load_agents(tmp_path / "nowhere")


def test_agent_without_id_and_private_modules(tmp_path: Path) -> None:
    (tmp_path / "_helpers.py").write_text("raise RuntimeError('private modules are not loaded')\n")
    (tmp_path / "abstract_ok.py").write_text(
        "from agents.base import Agent\n"
        "class Base(Agent):\n"
        "    pass\n"  # abstract: run() not implemented, so skipped
    )
    assert "echo" in load_agents(tmp_path)
    (tmp_path / "no_id.py").write_text(
        "from agents.base import Agent\n"
        "class NoId(Agent):\n"
        "    async def run(self, input, context, emit):\n"
        "        return {}\n"
    )
    with pytest.raises(AgentLoadError, match="no_id.py.*NoId needs an id"):
        load_agents(tmp_path)


def test_sys_exit_at_import_is_a_start_error(tmp_path: Path) -> None:
    (tmp_path / "exits.py").write_text("import sys\nsys.exit(2)\n")
    with pytest.raises(AgentLoadError, match="exits.py.*SystemExit"):
        load_agents(tmp_path)
