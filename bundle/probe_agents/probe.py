"""An agent bundle/test.sh loads (CAGENT_AGENTS_DIR) into a bundled host: it reports
where the interpreter found everything, and whether that is all inside the bundle."""

from __future__ import annotations

import asyncio
import importlib
import importlib.metadata
import json.decoder
import os
import re
import sys
from typing import Any

import starlette.routing

from agents.base import Agent, Emit

# Modules whose import proves a part of the bundle: lib-dynload (C extensions with
# system libraries), the service's requirements (Rust and Cython extensions), pure stdlib.
IMPORTS = (
    "ssl", "hashlib", "sqlite3", "ctypes", "decimal", "lzma", "bz2", "uuid", "zlib",
    "pyexpat", "json", "zoneinfo", "asyncio", "multiprocessing",
    "fastapi", "pydantic", "pydantic_core", "uvicorn", "uvloop", "httptools", "starlette",
    "sse_starlette", "mcp", "httpx", "anyio", "dotenv", "jsonschema", "certifi", "opentelemetry.trace",
)


# What make_bundle.py leaves out of the standard library (docs/shipping.md), what only
# exists on other systems, and what acts on import (antigravity opens a browser, this
# prints): every other module the interpreter names as standard must import.
STDLIB_LEFT_OUT = {
    "idlelib", "tkinter", "turtle", "turtledemo", "_tkinter", "ensurepip", "venv", "lib2to3", "pydoc_data",
    "__phello__", "sitecustomize",
}
STDLIB_ELSEWHERE = {
    "msvcrt", "winreg", "winsound", "_winapi", "nt", "_overlapped", "_msi", "msilib", "_scproxy", "_wmi",
    "_aix_support", "_osx_support", "_android_support", "_ios_support", "_apple_support", "_pyrepl",
}
STDLIB_SIDE_EFFECTS = {"antigravity", "this"}


def import_standard_library() -> list[str]:
    """Imports every standard module not left out; returns the failures."""
    failed = []
    skipped = STDLIB_LEFT_OUT | STDLIB_ELSEWHERE | STDLIB_SIDE_EFFECTS
    for name in sorted(sys.stdlib_module_names - skipped):
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as error:
            if error.name == name and name.startswith("_") and name not in sys.builtin_module_names:
                continue  # private accelerators Debian does not build (e.g. _gdbm without libgdbm)
            failed.append(f"{name}: {type(error).__name__}: {error}")
        except Exception as error:  # noqa: BLE001 - reported
            failed.append(f"{name}: {type(error).__name__}: {error}")
    return failed


class ProbeAgent(Agent):
    id = "probe"
    description = "Where did this interpreter find everything? (bundle/test.sh)"
    input_schema = {"type": "object", "properties": {"root": {"type": "string"}}, "required": ["root"]}

    async def run(self, input: dict[str, Any], context: dict[str, Any], emit: Emit) -> dict[str, Any]:
        # Importing takes seconds: off the event loop, which the host's watchdog watches.
        result = await asyncio.to_thread(inspect, input["root"])
        result["loop"] = type(asyncio.get_running_loop()).__module__
        return result


def inspect(root: str) -> dict[str, Any]:
    root = os.path.realpath(root) + os.sep
    here = os.path.dirname(os.path.realpath(__file__)) + os.sep
    problems: list[str] = []
    # Before this probe imports anything. anyio imports its submodules on first use only
    # when its lazy importer can read anyio/__init__.py (make_bundle.py keeps that
    # source); the service has answered requests and streamed a run by now, and none of
    # that needs anyio.to_process.
    if "anyio.to_process" in sys.modules:
        problems.append("anyio imported every submodule at start (its lazy importer found no source)")

    def inside(path: str) -> bool:
        real = os.path.realpath(path)
        return real.startswith(root) or real.startswith(here)

    failed = []
    for name in IMPORTS:
        try:
            importlib.import_module(name)
        except Exception as error:  # noqa: BLE001 - reported
            failed.append(f"{name}: {type(error).__name__}: {error}")
    if failed:
        problems.append(f"imports failed: {failed}")
    # Metadata of the requirements in both places they live: the zip (fastapi's
    # dependencies) and the folders (pydantic-core, uvloop); mcp and pydantic read their
    # versions at import.
    found = {re.sub(r"[-_.]+", "-", d.metadata["Name"]).lower() for d in importlib.metadata.distributions()}
    missing = sorted({"mcp", "starlette", "uvicorn", "pydantic", "pydantic-core", "uvloop", "certifi"} - found)
    if missing:
        problems.append(f"importlib.metadata does not find: {missing}")
    stdlib_failed = import_standard_library()
    if stdlib_failed:
        problems.append(f"standard library modules failed to import: {stdlib_failed}")
    for entry in sys.path:
        # A folder inside an archive, never the archive: importlib.metadata would keep the
        # whole directory of an archive on sys.path in memory (RuntimeLocator.bundleStandardLibrary).
        if os.path.isfile(entry):
            problems.append(f"sys.path names an archive itself: {entry}")
        if entry and os.path.exists(entry) and not inside(entry):
            problems.append(f"sys.path entry outside the bundle: {entry}")
        if "/usr/lib/python3" in entry or ".venv" in entry or "/.pyenv/" in entry:
            problems.append(f"sys.path names a Python of the machine: {entry}")
    for name, module in sorted(sys.modules.items()):
        file = getattr(module, "__file__", None)
        if file and not inside(file):
            problems.append(f"module {name} comes from outside the bundle: {file}")
    # Code compiled into the bundle names its file by its place in the bundle, never the
    # build machine's staging folder (a standard-library module and a requirement's).
    for code in (json.decoder.JSONDecoder.decode.__code__, starlette.routing.Router.__init__.__code__):
        if not code.co_filename.startswith("runtime/lib/python3.11/"):
            problems.append(f"code compiled for the bundle names its file {code.co_filename!r}")
    if not inside(sys.prefix) or not inside(sys.base_prefix):
        problems.append(f"sys.prefix {sys.prefix} / base_prefix {sys.base_prefix} outside the bundle")
    if not sys.flags.isolated:
        problems.append("the interpreter is not isolated")
    for variable in ("PYTHONHOME", "PYTHONPATH"):
        value = os.environ.get(variable)
        if value and any(value in entry for entry in sys.path):
            problems.append(f"{variable}={value} reached sys.path")
    return {
        "ok": not problems,
        "problems": problems,
        "sys_path": sys.path,
        "prefix": sys.prefix,
        "executable": sys.executable,
        "modules_checked": len(sys.modules),
    }
