"""Finds the agents the service offers: the built-ins, plus every ``Agent`` subclass
defined in a module of ``settings.agents_dir``.

A module that fails to import is a start error naming its file, with the traceback:
an app whose agent is broken should not start half-working.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import re
import sys
import traceback
from pathlib import Path
from types import ModuleType

from agents.base import Agent
from agents.schema import InvalidSchema, check_schema

#: Modules of this package that define the built-in agents.
BUILTIN_MODULES = ("agents.echo", "agents.tools", "agents.chat")
#: Package name under which modules of the agents directory are imported.
DIR_PACKAGE = "cagent_app_agents"

_AGENT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


class AgentLoadError(RuntimeError):
    """An agent module cannot be loaded; the message names the file."""


def load_agents(agents_dir: Path | None = None) -> dict[str, type[Agent]]:
    """Agent id -> class, built-ins first; duplicate ids are an error."""
    found: dict[str, type[Agent]] = {}
    for name in BUILTIN_MODULES:
        module = _import_builtin(name)
        # Their schemas come from pydantic models and are checked by a test, not at
        # every launch: checking imports jsonschema (see agents.schema).
        _collect(module, Path(module.__file__ or name), found, check_schemas=False)
    if agents_dir is not None:
        for path in _agent_files(Path(agents_dir)):
            _collect(_import_file(path), path, found, check_schemas=True)
    return found


def _import_builtin(name: str) -> ModuleType:
    try:
        return importlib.import_module(name)
    except BaseException as error:
        raise AgentLoadError(_describe(name, error)) from error


def _agent_files(agents_dir: Path) -> list[Path]:
    if not agents_dir.is_dir():
        raise AgentLoadError(f"agents directory {agents_dir} does not exist")
    return sorted(p for p in agents_dir.glob("*.py") if not p.name.startswith(("_", ".")))


def _import_file(path: Path) -> ModuleType:
    name = f"{DIR_PACKAGE}.{path.stem}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise AgentLoadError(f"cannot load agents module {path}")
    module = importlib.util.module_from_spec(spec)
    # Registered before running so that dataclasses, pickling and friends find it.
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    # SystemExit and KeyboardInterrupt at import time are start errors too.
    except BaseException as error:
        del sys.modules[name]
        raise AgentLoadError(_describe(str(path), error)) from error
    return module


def _collect(module: ModuleType, path: Path, found: dict[str, type[Agent]], *, check_schemas: bool) -> None:
    for _, cls in inspect.getmembers(module, inspect.isclass):
        # Only classes defined here: an imported agent belongs to its own module.
        if not issubclass(cls, Agent) or cls.__module__ != module.__name__ or inspect.isabstract(cls):
            continue
        agent_id = getattr(cls, "id", None)
        if not isinstance(agent_id, str) or not _AGENT_ID.match(agent_id):
            raise AgentLoadError(f"{path}: agent class {cls.__name__} needs an id matching {_AGENT_ID.pattern}")
        try:
            if check_schemas:
                check_schema(cls)
        except InvalidSchema as error:
            raise AgentLoadError(f"{path}: agent {agent_id!r} has an invalid input_schema: {error}") from None
        other = found.get(agent_id)
        if other is not None and other is not cls:
            raise AgentLoadError(
                f"{path}: agent id {agent_id!r} of {cls.__name__} is already used by "
                f"{other.__module__}.{other.__qualname__}"
            )
        found[agent_id] = cls


def _describe(what: str, error: BaseException) -> str:
    details = "".join(traceback.format_exception(error)).rstrip()
    return f"cannot load agents module {what}: {type(error).__name__}: {error}\n{details}"
