"""Generation-scoped loading of extension modules.

After ``Py_FinalizeEx`` and a new ``Py_InitializeFromConfig``, an extension module
loaded again from the same file keeps the C statics of its first load (the dynamic
linker returns the mapping it already has). For single-phase-init, Rust (PyO3) and
Cython modules those statics point into the finalized interpreter: pydantic-core
panics or answers with types of the old generation, uvloop fails to import,
httptools parses into nothing (measured; see docs/design.md).

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

Copying takes time a cold restart would wait for (about 21 MB for the service's
stack, 15-30 ms here), so while a generation serves, the host copies the extension
modules it has loaded into the next generation's folder (``extension_files``); the
finder then only checks that a copy is complete (``precopied``).
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
        copy = copy_path(self.directory, fullname, origin)
        if not precopied(origin, copy):
            os.makedirs(os.path.dirname(copy), exist_ok=True)
            partial = f"{copy}.{os.getpid()}.partial"
            _copy_file(origin, partial)
            os.replace(partial, copy)
        self.copied[fullname] = origin
        return copy


def copy_path(directory: str, fullname: str, origin: str) -> str:
    """Where a generation's copy of an extension module goes: a folder per module that
    keeps the original file name (``PyInit_<name>`` is looked up by module name)."""
    return os.path.join(directory, fullname, os.path.basename(origin))


def precopied(origin: str, copy: str) -> bool:
    """Whether ``copy`` is a complete copy of ``origin`` (made by the host ahead of time:
    written under another name and renamed, so a file there is whole unless the
    original changed since)."""
    try:
        return os.stat(copy).st_size == os.stat(origin).st_size
    except OSError:
        return False


def _copy_file(source_path: str, target_path: str) -> None:
    with open(source_path, "rb") as source, open(target_path, "wb") as target:
        remaining = os.fstat(source.fileno()).st_size
        copy_range = getattr(os, "copy_file_range", None)  # Linux: the kernel copies
        try:
            while copy_range is not None and remaining > 0:
                done = copy_range(source.fileno(), target.fileno(), remaining)
                if done == 0:
                    break
                remaining -= done
        except OSError:
            pass  # not supported across these file systems: copy through memory
        source.seek(target.tell())
        while chunk := source.read(1 << 20):
            target.write(chunk)


def extension_files() -> list[list[str]]:
    """``[module name, original file]`` for every extension module loaded from a file,
    for the host to copy ahead of the next generation."""
    finder = next((f for f in sys.meta_path if isinstance(f, GenerationFinder)), None)
    originals = finder.copied if finder is not None else {}
    files: list[list[str]] = []
    for name, module in list(sys.modules.items()):
        spec = getattr(module, "__spec__", None)
        if spec is None or not isinstance(spec.loader, importlib.machinery.ExtensionFileLoader) or not spec.origin:
            continue
        files.append([name, originals.get(name, spec.origin)])
    return files


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


def make_lasting_caches() -> None:
    """In the process's first interpreter: fill the caches libpython makes once, on first
    use, and keeps across interpreters (C statics), so they are made in memory that lasts.

    Later interpreters run on heaps of their own that are unmapped when they end
    (Sources/CGenerationHeap); a cache first filled there would point into freed memory.
    Measured by reading CPython 3.11's sources: ``contextvars.Token.MISSING`` (context.c)
    and the string the compiler uses for infinite floats in postponed annotations
    (ast_unparse.c). The others are per interpreter, or small ints.
    """
    import contextvars

    contextvars.Token.MISSING  # noqa: B018 - the lookup is what fills the cache
    compile("from __future__ import annotations\nx: 1e999", "<cagent-lasting-caches>", "exec")


def live_daemon_threads() -> list[str]:
    """Daemon threads still alive: finalization abandons them, so the memory and code of
    the interpreter they ran in must stay (one may wake up in it)."""
    exempt = (threading.main_thread(), threading.current_thread())
    return [t.name for t in threading.enumerate() if t not in exempt and t.daemon and t.is_alive()]


def live_non_daemon_threads() -> list[threading.Thread]:
    """Threads ``Py_FinalizeEx`` would wait for (not the one finalizing, nor the main one)."""
    exempt = (threading.main_thread(), threading.current_thread())
    return [t for t in threading.enumerate() if t not in exempt and not t.daemon and t.is_alive()]
