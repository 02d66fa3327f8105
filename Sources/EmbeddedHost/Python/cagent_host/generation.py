"""Generation-scoped loading of third-party extension modules.

After ``Py_FinalizeEx`` and a new ``Py_InitializeFromConfig``, an extension module
loaded again from the same file keeps the C statics of its first load (the dynamic
linker returns the mapping it already has). For single-phase-init, Rust (PyO3) and
Cython modules those statics point into the finalized interpreter: pydantic-core
panics or answers with types of the old generation, uvloop fails to import,
httptools parses into nothing (measured; see DESIGN.md).

From the second generation on, ``GenerationFinder`` loads each third-party extension
from a fresh copy of its file in a per-generation folder. A copy is a different file
to the dynamic linker, so its statics are new. Standard-library extensions (in
``lib-dynload``) load in place: they are multi-phase and survive re-initialization.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import os
import shutil
import sys
import sysconfig
import threading
from collections.abc import Sequence
from types import ModuleType

#: Extension modules known not to survive a cold restart even from a fresh copy.
#: Each entry must be proven by a test in Tests/EmbeddedHostTests; none is known yet
#: for the service's stack (pydantic-core, uvloop, httptools are proven to survive).
KNOWN_UNSAFE: frozenset[str] = frozenset()


def _stdlib_dirs() -> tuple[str, ...]:
    paths = {sysconfig.get_path("platstdlib"), sysconfig.get_path("stdlib")}
    return tuple(os.path.realpath(p) + os.sep for p in paths if p)


class GenerationFinder(importlib.abc.MetaPathFinder):
    """Redirects third-party extension modules to per-generation copies."""

    def __init__(self, directory: str) -> None:
        self.directory = directory
        self.copied: dict[str, str] = {}
        self._stdlib = _stdlib_dirs()

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is None or not isinstance(spec.loader, importlib.machinery.ExtensionFileLoader):
            return None
        origin = spec.origin
        if origin is None or os.path.realpath(origin).startswith(self._stdlib):
            return None
        copy = self._copy(fullname, origin)
        loader = importlib.machinery.ExtensionFileLoader(fullname, copy)
        new_spec = importlib.machinery.ModuleSpec(fullname, loader, origin=copy, is_package=False)
        new_spec.has_location = True
        return new_spec

    def _copy(self, fullname: str, origin: str) -> str:
        # The module's own folder keeps the original file name (PyInit_<name> is looked
        # up by module name, not by file name).
        folder = os.path.join(self.directory, fullname)
        os.makedirs(folder, exist_ok=True)
        copy = os.path.join(folder, os.path.basename(origin))
        shutil.copy2(origin, copy)
        self.copied[fullname] = origin
        return copy


def install(directory: str) -> GenerationFinder:
    """Put a ``GenerationFinder`` first on ``sys.meta_path``; call before any import of the service."""
    os.makedirs(directory, exist_ok=True)
    finder = GenerationFinder(directory)
    sys.meta_path.insert(0, finder)
    return finder


def cold_restart_blockers(extra_unsafe: Sequence[str] = ()) -> list[str]:
    """Why a cold restart is unsafe now; empty when it is safe.

    Names each loaded extension module known not to survive, and each live
    non-daemon thread (``Py_FinalizeEx`` would wait for it forever).
    """
    unsafe = KNOWN_UNSAFE.union(extra_unsafe)
    reasons = [f"extension module {name!r} does not survive re-initialization" for name in sorted(unsafe) if name in sys.modules]
    reasons += [f"non-daemon thread {t.name!r} is still running" for t in live_non_daemon_threads()]
    return reasons


def live_non_daemon_threads() -> list[threading.Thread]:
    main = threading.main_thread()
    return [t for t in threading.enumerate() if t is not main and not t.daemon and t.is_alive()]
