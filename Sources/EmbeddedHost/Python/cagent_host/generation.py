"""Generation-scoped loading of extension modules.

After ``Py_FinalizeEx`` and a new ``Py_InitializeFromConfig``, an extension module
loaded again from the same file keeps the C statics of its first load (the dynamic
linker returns the mapping it already has). For single-phase-init, Rust (PyO3) and
Cython modules those statics point into the finalized interpreter: pydantic-core
panics or answers with types of the old generation, uvloop fails to import,
httptools parses into nothing (measured; see DESIGN.md).

From the second generation on, ``GenerationFinder`` loads every extension module
that has a file from a fresh copy of it in a per-generation folder. A copy is a
different file to the dynamic linker, so its statics are new. That includes the
standard library's ``lib-dynload`` modules: ``_asyncio`` in 3.11 keeps its task
registry in C statics, and loaded in place it hands the second generation a WeakSet
of the first (``NameError: name 'len' is not defined`` from ``asyncio.all_tasks``,
measured). Modules compiled into libpython are re-initialized by CPython itself.

The host installs the finder right after initializing, before anything else is
imported; this module therefore imports nothing that loads an extension module
(no shutil: it pulls in _bz2 and _lzma).
"""

from __future__ import annotations

import importlib.machinery
import os
import sys
import threading
from collections.abc import Sequence
from types import ModuleType

#: Extension modules known not to survive a cold restart even from a fresh copy.
#: Each entry must be proven by a test in Tests/EmbeddedHostTests; none is known yet
#: for the service's stack (pydantic-core, uvloop, httptools are proven to survive).
KNOWN_UNSAFE: frozenset[str] = frozenset()


class GenerationFinder:
    """Redirects extension modules to per-generation copies."""

    def __init__(self, directory: str) -> None:
        self.directory = directory
        self.copied: dict[str, str] = {}

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is None or not isinstance(spec.loader, importlib.machinery.ExtensionFileLoader):
            return None
        if spec.origin is None:
            return None
        copy = self._copy(fullname, spec.origin)
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
        with open(origin, "rb") as source, open(copy, "wb") as target:
            while chunk := source.read(1 << 20):
                target.write(chunk)
        self.copied[fullname] = origin
        return copy


def install(directory: str) -> GenerationFinder:
    """Put a ``GenerationFinder`` first on ``sys.meta_path``; call before anything else is imported."""
    os.makedirs(directory, exist_ok=True)
    finder = GenerationFinder(directory)
    sys.meta_path.insert(0, finder)
    return finder


def unsafe_loaded_modules(extra_unsafe: Sequence[str] = ()) -> list[str]:
    """Why a cold restart must be refused before stopping anything; empty when none.

    Names each loaded extension module known not to survive re-initialization. Live
    non-daemon threads are the other reason, checked after the loop has closed.
    """
    unsafe = KNOWN_UNSAFE.union(extra_unsafe)
    return [f"extension module {name!r} does not survive re-initialization" for name in sorted(unsafe) if name in sys.modules]


def live_non_daemon_threads() -> list[threading.Thread]:
    """Threads ``Py_FinalizeEx`` would wait for (not the one finalizing, nor the main one)."""
    exempt = (threading.main_thread(), threading.current_thread())
    return [t for t in threading.enumerate() if t not in exempt and not t.daemon and t.is_alive()]
