"""Assemble dist/cagent-sidecar/ (a relocatable folder) and dist/cagent-sidecar.run
(a single file: the executable with the folder's Python parts appended as a payload).

Run by bundle/build.sh with the project's .venv interpreter, which is Debian's CPython
3.11 (the one the host links): its base prefix gives the standard library, its
site-packages the service's requirements (exactly the versions the tests ran).

Layout (what RuntimeLocator looks for beside the executable, or in the single file's
unpacked payload):

    cagent-sidecar                the host, libpython linked in statically
    runtime/                      a Python prefix: PyConfig.home
      lib/python3.11/             the standard library, as sourceless .pyc files
      lib/python3.11/lib-dynload/ its extension modules (stripped)
      lib/python3.11/<site>/      the service's requirements (site.py names the folder),
                                  as sourceless .pyc files, extension modules stripped
    service/                      python/ without its tests (.py and .pyc)
    host-python/cagent_host/      the host's Python half (.py and .pyc)

What is left out, and why, is printed at the end and explained in docs/shipping.md.

The payload format is documented in Sources/SingleFile/Payload.swift.
"""

from __future__ import annotations

import argparse
import compileall
import concurrent.futures
import hashlib
import io
import os
import py_compile
import re
import shutil
import site
import stat
import struct
import subprocess
import sys
import sysconfig
import time
import zipfile
from pathlib import Path

try:
    from packaging.markers import default_environment
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name
except ImportError:  # pip vendors it
    from pip._vendor.packaging.markers import default_environment  # type: ignore
    from pip._vendor.packaging.requirements import Requirement  # type: ignore
    from pip._vendor.packaging.utils import canonicalize_name  # type: ignore

import importlib.metadata as metadata

VERSION = f"{sys.version_info.major}.{sys.version_info.minor}"

# Left out of the standard library, with why (printed).
STDLIB_LEFT_OUT = {
    "test": "the test suite",
    "idlelib": "IDLE",
    "tkinter": "Tk GUI",
    "turtle.py": "Tk GUI",
    "turtledemo": "Tk GUI demos",
    "ensurepip": "pip bootstrap (no pip in the bundle)",
    "venv": "virtual environments (no python executable in the bundle)",
    "lib2to3": "2to3",
    "pydoc_data": "help() topics",
    "__phello__": "frozen-module test package",
    "sitecustomize.py": "Debian's link to /etc/python3.11",
    "EXTERNALLY-MANAGED": "Debian's pip marker",
    "LICENSE.txt": "kept once, at runtime/LICENSE-python.txt",
    f"config-{VERSION}-{sysconfig.get_config_var('MULTIARCH') or 'x86_64-linux-gnu'}": "static libraries and build files",
    "site-packages": "the machine's packages",
    "dist-packages": "the machine's packages",
}
# Folders left out wherever they are in the standard library.
STDLIB_LEFT_OUT_ANYWHERE = {"test", "tests", "idle_test", "__pycache__"}
# lib-dynload modules left out (prefixes of the file names).
DYNLOAD_LEFT_OUT = ("_test", "_ctypes_test", "_xxtestfuzz", "xxlimited", "_tkinter")
# Files in the requirements that only building or type checking reads (Cython sources,
# C headers, stubs): never imported or opened at run time.
SITE_LEFT_OUT_SUFFIXES = {".pyx": "Cython sources", ".pxd": "Cython declarations", ".pxi": "Cython includes",
                          ".pyi": "type stubs", ".c": "C sources", ".h": "C headers", ".cpp": "C++ sources"}
# Folders in the requirements that nothing imports or opens at run time: the packages'
# own test suites and benchmarks, and fastapi's notes for AI coding assistants (markdown).
SITE_LEFT_OUT_FOLDERS = {"tests": "the packages' own test suites", "benchmarks": "benchmark scripts and data",
                         ".agents": "fastapi's skill notes for AI coding assistants (markdown)"}
# Files that only installers and type checkers read: `py.typed` (PEP 561's marker), and a
# dist-info's installer bookkeeping. RECORD lists the files as pip installed them, with
# their hashes: the bundle ships other bytes (sourceless .pyc, stripped extension
# modules), so it would be wrong here; INSTALLER, REQUESTED and WHEEL say who installed
# it and how it was built. importlib.metadata's names, versions, entry points and
# licenses stay; `files()` of a bundled distribution is None.
SITE_LEFT_OUT_NAMES = {"py.typed": "PEP 561 markers for type checkers"}
DIST_INFO_LEFT_OUT = {"RECORD", "INSTALLER", "REQUESTED", "WHEEL"}
# Sources that stay beside their .pyc because the module reads its own source when it
# is imported: anyio's lazy importer (anyio/_lazyimport.py) learns its lazy names from
# __init__.py with inspect.getsource; sourceless, it imports every submodule at start.
SITE_SOURCES_KEPT = {"anyio/__init__.py": "anyio's lazy importer reads it (inspect.getsource)",
                     "anyio/abc/__init__.py": "the same, for anyio.abc"}
# From the service's python/ folder.
SERVICE_LEFT_OUT = {"tests", "__pycache__", ".pytest_cache", "pytest.ini", "requirements-dev.txt", "requirements-dev.lock", ".env", ".venv"}

PAYLOAD_PARTS = ("runtime", "service", "host-python")
TRAILER_MAGIC = b"CAGENT-PAYLOAD-1"
LOADER_MAGIC = b"CAGENT-LOADER-01"
PAYLOAD_VERSION = 2
# zstd -19 with a 128 MiB window (--long=27, within what any decoder accepts by default)
# over all files at once: docs/shipping.md compares it with zlib per file and xz.
ZSTD_ARGUMENTS = ("-19", "--long=27")


class Progress:
    def __init__(self, steps: int) -> None:
        self.steps = steps
        self.step = 0
        self.started = time.monotonic()
        self.step_started = self.started

    def __call__(self, message: str) -> None:
        self.done()
        self.step += 1
        self.step_started = time.monotonic()
        print(f"bundle: [{self.step}/{self.steps}] {message} ...", flush=True)

    def done(self) -> None:
        if self.step:
            print(f"bundle:        done in {time.monotonic() - self.step_started:.1f} s", flush=True)


def size_of(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def human(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.1f} {unit}" if unit != "B" else f"{int(n)} B"
        n /= 1024
    return str(n)


def copy_file(source: Path, target: Path) -> None:
    """Copies contents (symlinks followed) and permission bits; no timestamps needed."""
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, target)
    mode = source.stat().st_mode
    os.chmod(target, 0o755 if mode & 0o111 else 0o644)


# ---------------------------------------------------------------------------- stdlib


def copy_stdlib(stdlib: Path, dynload: Path, target: Path, left_out: dict[str, int]) -> None:
    for entry in sorted(stdlib.iterdir()):
        if entry.name in STDLIB_LEFT_OUT:
            left_out[f"stdlib/{entry.name}"] = size_of(entry) if entry.exists() else 0
            continue
        if entry == dynload:
            continue
        if entry.is_dir():
            for source in sorted(entry.rglob("*")):
                relative = source.relative_to(stdlib)
                skipped = next((p for p in relative.parts[:-1] if p in STDLIB_LEFT_OUT_ANYWHERE), None)
                if skipped or source.name in STDLIB_LEFT_OUT_ANYWHERE:
                    if source.is_dir() and source.name in STDLIB_LEFT_OUT_ANYWHERE and source.name != "__pycache__":
                        left_out[f"stdlib/{relative}"] = size_of(source)
                    continue
                if source.is_file() and source.suffix != ".pyc":
                    copy_file(source, target / relative)
        elif entry.is_file() and entry.suffix != ".pyc":
            copy_file(entry, target / entry.name)
    license = stdlib / "LICENSE.txt"
    if license.exists():
        copy_file(license, target.parent.parent / "LICENSE-python.txt")
    for source in sorted(dynload.iterdir()):
        if source.name.startswith(DYNLOAD_LEFT_OUT):
            left_out[f"lib-dynload/{source.name}"] = size_of(source)
            continue
        copy_file(source, target / "lib-dynload" / source.name)


def site_packages_folder(prefix: Path) -> Path:
    """Where this interpreter's site.py looks for packages under a plain prefix: Debian's
    names lib/python3/dist-packages and lib/python3.X/dist-packages; upstream names
    lib/python3.X/site-packages. The version-specific one is preferred."""
    candidates = [Path(p) for p in site.getsitepackages([str(prefix)])]
    # In a venv site.py adds lib/python3.X/site-packages for the prefix too: only trust
    # the folders site.py would use for a prefix that is no venv (Debian's dist-packages).
    for candidate in candidates:
        if candidate.parent == prefix / "lib" / f"python{VERSION}" and candidate.name == "dist-packages":
            return candidate
    for candidate in candidates:
        if candidate.parent == prefix / "lib" / f"python{VERSION}":
            return candidate
    raise SystemExit(f"bundle: cannot tell where site.py looks for packages under {prefix}: {candidates}")


# ---------------------------------------------------------------------------- requirements


def requirement_closure(requirements_file: Path) -> list[metadata.Distribution]:
    """The installed distributions python/requirements.txt needs, with their dependencies
    (markers evaluated for this interpreter), from this interpreter's site-packages."""
    wanted: list[tuple[Requirement, str]] = []
    for line in requirements_file.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line and not line.startswith("-"):
            wanted.append((Requirement(line), ""))
    environment = default_environment()
    found: dict[str, metadata.Distribution] = {}
    extras_done: set[tuple[str, str]] = set()
    while wanted:
        requirement, extra = wanted.pop()
        if requirement.marker and not requirement.marker.evaluate({**environment, "extra": extra}):
            continue
        name = canonicalize_name(requirement.name)
        try:
            distribution = metadata.distribution(requirement.name)
        except metadata.PackageNotFoundError:
            raise SystemExit(f"bundle: {requirement.name} is required but not installed in {sys.prefix}; run make setup")
        if distribution.version not in requirement.specifier and requirement.specifier:
            raise SystemExit(f"bundle: {requirement.name} {distribution.version} does not satisfy {requirement}")
        found[name] = distribution
        for wanted_extra in [""] + sorted(requirement.extras):
            if (name, wanted_extra) in extras_done:
                continue
            extras_done.add((name, wanted_extra))
            for text in distribution.requires or []:
                wanted.append((Requirement(text), wanted_extra))
    return sorted(found.values(), key=lambda d: canonicalize_name(d.metadata["Name"]))


def check_against_lock(distributions: list[metadata.Distribution], lock: Path) -> None:
    """The bundle ships the runtime lock (``make lock``), not whatever the venv holds:
    every distribution copied must be the lock's version, and the lock must list no
    distribution the service does not need (a lock and a closure that disagree mean the
    venv or the lock is stale: ``make setup`` installs the lock)."""
    sys.path.insert(0, str(lock.parent / "tests"))
    try:
        from lockfile import LockError, pinned  # python/tests/lockfile.py
    finally:
        sys.path.pop(0)
    try:
        pins = pinned(lock)
    except (OSError, LockError) as error:
        raise SystemExit(f"bundle: {error}")
    closure = {canonicalize_name(d.metadata["Name"]): d.version for d in distributions}
    wrong = [f"{name} {version} (lock: {pins.get(name, 'not listed')})"
             for name, version in sorted(closure.items()) if pins.get(name) != version]
    unused = sorted(set(pins) - set(closure))
    if wrong or unused:
        raise SystemExit(f"bundle: the installed requirements are not {lock}: "
                         + "; ".join(wrong + [f"{name} is locked but not needed" for name in unused])
                         + "; run make setup (or make lock after changing requirements.txt)")


def copy_requirements(distributions: list[metadata.Distribution], target: Path, left_out: dict[str, int]) -> dict[str, int]:
    sizes: dict[str, int] = {}
    for distribution in distributions:
        root = Path(distribution.locate_file("")).resolve()
        total = 0
        for file in distribution.files or []:
            source = Path(distribution.locate_file(file)).resolve()
            try:
                relative = source.relative_to(root)
            except ValueError:
                continue  # console scripts in bin/ and the like
            if "__pycache__" in relative.parts or source.suffix == ".pyc" or not source.is_file():
                continue
            folder = next((part for part in relative.parts[1:-1] if part in SITE_LEFT_OUT_FOLDERS), None)
            if folder:
                key = f"requirements: {folder}/  {SITE_LEFT_OUT_FOLDERS[folder]}"
                left_out[key] = left_out.get(key, 0) + source.stat().st_size
                continue
            if relative.name in SITE_LEFT_OUT_NAMES:
                key = f"requirements: {relative.name}  {SITE_LEFT_OUT_NAMES[relative.name]}"
                left_out[key] = left_out.get(key, 0) + source.stat().st_size
                continue
            if relative.parts[0].endswith(".dist-info") and relative.name in DIST_INFO_LEFT_OUT:
                key = "requirements: dist-info RECORD, INSTALLER, REQUESTED, WHEEL  installer bookkeeping"
                left_out[key] = left_out.get(key, 0) + source.stat().st_size
                continue
            if source.suffix in SITE_LEFT_OUT_SUFFIXES:
                key = f"requirements: *{source.suffix}  {SITE_LEFT_OUT_SUFFIXES[source.suffix]}"
                left_out[key] = left_out.get(key, 0) + source.stat().st_size
                continue
            copy_file(source, target / relative)
            total += source.stat().st_size
        sizes[f"{distribution.metadata['Name']} {distribution.version}"] = total
    return sizes


# ---------------------------------------------------------------------------- service


def copy_tree(source: Path, target: Path, left_out_names: set[str], left_out: dict[str, int], label: str) -> None:
    for entry in sorted(source.rglob("*")):
        relative = entry.relative_to(source)
        skipped = next((p for p in relative.parts if p in left_out_names), None)
        if skipped:
            if entry.name in left_out_names and entry.name != "__pycache__":
                left_out[f"{label}/{relative}"] = size_of(entry)
            continue
        if entry.is_file() and entry.suffix != ".pyc":
            copy_file(entry, target / relative)


def strip_extension_modules(folder: Path) -> int:
    """Wheels often ship extension modules with DWARF (uvloop: 13 MB of its 14) and all of
    them with a full symbol table. `strip --strip-unneeded` removes both and keeps
    .dynsym, the dynamic symbols the loader and `PyInit_*` lookups use. Returns the bytes
    saved."""
    strip = shutil.which("strip")
    modules = sorted(p for p in folder.rglob("*.so") if p.is_file())
    if not strip or not modules:
        return 0
    before = sum(p.stat().st_size for p in modules)
    subprocess.run([strip, "--strip-unneeded", *map(str, modules)], check=True)
    return before - sum(p.stat().st_size for p in modules)


def byte_compile(folders: list[Path]) -> list[str]:
    """Byte-compiles every .py with unchecked-hash .pyc files: valid whatever the files'
    timestamps after unpacking, never re-checked against their sources, never rewritten."""
    failures: list[str] = []
    for folder in folders:
        ok = compileall.compile_dir(
            str(folder), quiet=2, workers=0 if (os.cpu_count() or 1) > 1 else 1,
            invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH)
        if not ok:
            for source in folder.rglob("*.py"):
                cache = Path(__import__("importlib.util").util.cache_from_source(str(source)))
                if not cache.exists():
                    failures.append(str(source.relative_to(folder.parent)))
    return failures


def byte_compile_sourceless(folder: Path, bundle_root: Path) -> tuple[int, list[str]]:
    """Replaces every .py below `folder` with its .pyc beside it (`foo.py` -> `foo.pyc`,
    the layout Python imports without a source: SourcelessFileLoader), as PyInstaller
    ships its archive. Halves the standard library and the requirements; what it costs is
    source lines in tracebacks through those frames and `inspect.getsource` on them
    (docs/shipping.md). A file that does not compile stays as source. Returns the bytes
    of source removed and the files that stayed.
    Each code object's file name is the module's path in the bundle
    (`runtime/lib/python3.11/json/decoder.py`), not the build's staging folder: the
    sourceless and zip loaders keep what the .pyc says, so tracebacks showed the build
    machine's path, and the payload's hash changed with the checkout's."""
    # Unchecked-hash headers, not timestamps: the copies' timestamps are the build's, and
    # the payload's content hash (the cache's name) must not change when the files do not.
    ok = compileall.compile_dir(str(folder), quiet=2, legacy=True, workers=0 if (os.cpu_count() or 1) > 1 else 1,
                                stripdir=str(bundle_root),
                                invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH)
    removed = 0
    kept: list[str] = []
    for source in sorted(folder.rglob("*.py")):
        compiled = source.with_suffix(".pyc")
        if any(source.as_posix().endswith("/" + name) for name in SITE_SOURCES_KEPT):
            continue  # read at import (SITE_SOURCES_KEPT); its .pyc is still what runs
        if compiled.exists():
            removed += source.stat().st_size
            source.unlink()
        else:
            kept.append(str(source.relative_to(folder)))
    if not ok and not kept:
        raise SystemExit(f"bundle: byte-compiling {folder} failed")
    return removed, kept


def write_zip(archive: Path, root: Path, files: list[Path], compression: int, folder: str) -> None:
    """`files` (below `root`) into `archive`, in `folder` under their paths relative to
    `root`, with a fixed timestamp: the payload's content hash must not change with the
    build. `sys.path` names that folder inside the archive (`RuntimeLocator.bundleStandardLibrary` in
    Sources/EmbeddedHost/Runtime/RuntimeLocator.swift says why). A folder without an
    __init__ (a namespace package, e.g. opentelemetry) gets an entry of its own: zipimport
    finds one only by that entry. No other folder does: every entry costs the interpreter
    ~0.3 KB while the zip is on sys.path (zipimport's directory)."""
    inits = {path.parent for path in files if path.name in ("__init__.py", "__init__.pyc")}
    folders = sorted({parent.relative_to(root).as_posix() + "/" for path in files for parent in path.parents
                      if parent != root and parent.is_relative_to(root) and parent not in inits})
    with zipfile.ZipFile(archive, "w", compression=compression) as out:
        for name in folders:
            info = zipfile.ZipInfo(f"{folder}/{name}", date_time=(2000, 1, 1, 0, 0, 0))
            info.external_attr = (0o40755 << 16) | 0x10
            out.writestr(info, b"")
        for path in files:
            info = zipfile.ZipInfo(f"{folder}/{path.relative_to(root).as_posix()}", date_time=(2000, 1, 1, 0, 0, 0))
            info.compress_type = compression
            info.external_attr = 0o644 << 16
            out.writestr(info, path.read_bytes(), compresslevel=9 if compression == zipfile.ZIP_DEFLATED else None)


def zip_standard_library(lib: Path, keep: set[Path]) -> tuple[Path, int, int]:
    """Moves the standard library below `lib` (but not the folders in `keep`: lib-dynload,
    the requirements) into lib/stdlib.zip, deflated, as the folder pythonX.Y inside it,
    which the host puts on sys.path (`RuntimeLocator.bundleStandardLibrary`; zipimport
    is frozen into the interpreter, the embeddable Windows distribution ships its
    standard library zipped too). One file instead of ~550 (the single file's first launch
    creates fewer), 6-7 MB smaller in the folder. Returns the archive, how many files went
    in and their size."""
    archive = lib.parent / "stdlib.zip"
    files = sorted(p for p in lib.rglob("*") if p.is_file() and not any(p.is_relative_to(k) for k in keep))
    write_zip(archive, lib, files, zipfile.ZIP_DEFLATED, lib.name)
    size = sum(p.stat().st_size for p in files)
    for path in files:
        path.unlink()
    for folder in sorted((p for p in lib.rglob("*") if p.is_dir() and not any(p.is_relative_to(k) for k in keep)),
                         key=lambda p: -len(p.parts)):
        folder.rmdir()
    return archive, len(files), size


def zip_pure_requirements(site_packages: Path) -> tuple[Path, list[str], list[str], int]:
    """Moves every top-level entry of the requirements that holds only compiled Python
    (package or module) into <site>/requirements.zip, deflated, as the folder
    site-packages inside it, which the host puts on sys.path after the standard library
    (`RuntimeLocator.bundleRequirements`); zipimport imports from it, namespace packages
    too (`write_zip`).
    What stays a folder, whole: a package with an extension module (dlopen needs a file,
    and a package's modules come from one place), a package with data files (certifi's
    CA file, jsonschema's meta-schemas: read by path or importlib.resources, which would
    copy them out of a zip into temporary files), and every dist-info folder:
    importlib.metadata reads names, versions, entry points and licenses there, by listing
    the folder. ~1 000 files fewer for the first launch to create, ~8 MB smaller. Returns
    the archive, the entries zipped, the entries kept as folders and the bytes that went in."""
    entries = sorted(site_packages.iterdir())
    folders: set[str] = set()  # top-level names (package or module) that stay folders
    for entry in entries:
        if entry.name.endswith(".dist-info"):
            continue
        # Python, compiled or kept as source (SITE_SOURCES_KEPT), imports from a zip alike.
        if entry.is_dir() and any(p.is_file() and p.suffix not in (".pyc", ".py") and p.name != "py.typed"
                                  for p in entry.rglob("*")):
            folders.add(entry.name)
        elif entry.is_file() and entry.suffix not in (".pyc", ".py"):
            folders.add(entry.name.split(".")[0])
    zipped: list[str] = []
    kept: list[str] = []
    files: list[Path] = []
    for entry in entries:
        if entry.name.endswith(".dist-info"):
            stays = True
        elif entry.is_dir():
            stays = entry.name in folders
        else:
            stays = entry.name.split(".")[0] in folders
        if stays:
            kept.append(entry.name)
            continue
        zipped.append(entry.name)
        files += [entry] if entry.is_file() else sorted(p for p in entry.rglob("*") if p.is_file())
    archive = site_packages / "requirements.zip"
    write_zip(archive, site_packages, files, zipfile.ZIP_DEFLATED, "site-packages")
    size = sum(p.stat().st_size for p in files)
    for path in files:
        path.unlink()
    for name in zipped:
        folder = site_packages / name
        if folder.is_dir():
            shutil.rmtree(folder)
    return archive, zipped, [name for name in kept if not name.endswith(".dist-info")], size


# ---------------------------------------------------------------------------- payload


def build_payload(root: Path, parts: tuple[str, ...]) -> tuple[bytes, int]:
    """The payload of dist/cagent-sidecar.run (format: Sources/SingleFile/Payload.swift):
    the index, then every file's bytes in index order as one zstd stream. The folder's
    zip archives go in stored (`stored_zip`). Returns the payload and the size of the
    data before compression."""
    index = bytearray()
    count = 0
    contents: list[bytes] = []
    for part in parts:
        base = root / part
        for path in [base, *sorted(base.rglob("*"))]:
            relative = path.relative_to(root).as_posix()
            if path.is_symlink():
                raise SystemExit(f"bundle: unexpected symlink {path}")
            encoded = relative.encode()
            if path.is_dir():
                index += struct.pack("<BHQH", 0, 0o755, 0, len(encoded)) + encoded
            else:
                mode = stat.S_IMODE(path.stat().st_mode)
                content = stored_zip(path) if path.suffix == ".zip" else path.read_bytes()
                index += struct.pack("<BHQH", 1, mode, len(content), len(encoded)) + encoded
                contents.append(content)
            count += 1
    data = b"".join(contents)
    compressed = zstd_compress(data)
    header = b"CAGP" + struct.pack("<IIQ", PAYLOAD_VERSION, count, len(index))
    return header + bytes(index) + compressed, len(data)


def stored_zip(archive: Path) -> bytes:
    """`archive` rewritten with every member stored, not deflated: the payload compresses
    all files together (zstd, solid), which finds far more to share between ~1 500 `.pyc`
    files than deflate does in each one, so the single file is smaller with stored
    archives, and its unpacked copy imports without inflating. The same members, names
    and timestamps: only the compression differs from the folder's."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(archive) as source, zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as out:
        for info in source.infolist():
            copy = zipfile.ZipInfo(info.filename, date_time=info.date_time)
            copy.compress_type = zipfile.ZIP_STORED
            copy.external_attr = info.external_attr
            out.writestr(copy, source.read(info))
    return buffer.getvalue()


def zstd_compress(data: bytes) -> bytes:
    zstd = shutil.which("zstd")
    if not zstd:
        raise SystemExit("bundle: the zstd program is missing (apt-get install zstd; make setup does)")
    return subprocess.run(
        [zstd, "-q", "-c", f"-T{os.cpu_count() or 1}", *ZSTD_ARGUMENTS, f"--stream-size={len(data)}", "-"],
        input=data, capture_output=True, check=True).stdout


def write_single_file(loader: Path, executable: Path, payload: bytes, target: Path) -> tuple[str, int]:
    """loader | executable (zstd) | loader trailer | payload | payload trailer
    (bundle/loader/cagent-loader.c and Payload.swift document both trailers). Returns the
    payload's hash and the compressed executable's size."""
    digest = hashlib.sha256(payload).digest()
    host = executable.read_bytes()
    packed = zstd_compress(host)
    temporary = target.with_name(target.name + ".tmp")
    with open(temporary, "wb") as out:
        out.write(loader.read_bytes())
        host_offset = out.tell()
        out.write(packed)
        out.write(LOADER_MAGIC + struct.pack("<QQQ", host_offset, len(packed), len(host))
                  + hashlib.sha256(host).digest()[:16] + bytes(8))
        offset = out.tell()
        out.write(payload)
        out.write(TRAILER_MAGIC + struct.pack("<QQ", offset, len(payload)) + digest)
    os.chmod(temporary, 0o755)
    os.replace(temporary, target)
    return digest.hex(), len(packed)


# ---------------------------------------------------------------------------- checks


def needed_libraries(files: list[Path]) -> dict[str, list[str]]:
    """DT_NEEDED of every ELF file, via readelf: library -> files that need it."""
    needed: dict[str, list[str]] = {}
    readelf = shutil.which("readelf")
    if not readelf:
        return needed
    for file in files:
        output = subprocess.run([readelf, "-d", str(file)], capture_output=True, text=True).stdout
        for library in re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", output):
            needed.setdefault(library, []).append(file.name)
    return needed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--executable", required=True, type=Path, help="the release host, libpython linked in")
    parser.add_argument("--loader", required=True, type=Path, help="the single file's loader (bundle/loader)")
    parser.add_argument("--project", required=True, type=Path)
    parser.add_argument("--dist", required=True, type=Path)
    parser.add_argument("--no-strip", action="store_true")
    args = parser.parse_args()

    project = args.project.resolve()
    dist = args.dist.resolve()
    name = "cagent-sidecar"
    folder = dist / name
    staging = dist / f".{name}.staging"
    stdlib = Path(os.__file__).resolve().parent  # the base interpreter's, even from a venv
    dynload = Path(sysconfig.get_config_var("DESTSHARED")).resolve()
    if sys.prefix == sys.base_prefix:
        print("bundle: warning: not running in the project's .venv; requirements come from this interpreter", flush=True)

    progress = Progress(7)
    left_out: dict[str, int] = {}
    started = time.monotonic()

    progress(f"staging in {staging}")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    executable = staging / name
    copy_file(args.executable, executable)
    if not args.no_strip and shutil.which("strip"):
        # Debug symbols only: .dynsym (the exported Py* API extension modules need) stays.
        subprocess.run(["strip", str(executable)], check=True)
    print(f"bundle:        executable {human(args.executable.stat().st_size)}, stripped {human(executable.stat().st_size)}", flush=True)

    progress(f"copying the standard library from {stdlib}")
    runtime = staging / "runtime"
    lib = runtime / "lib" / f"python{VERSION}"
    copy_stdlib(stdlib, dynload, lib, left_out)
    (runtime / "bin").mkdir(parents=True, exist_ok=True)  # program_name's folder; no python executable
    print(f"bundle:        {human(size_of(lib))} (.py sources; compiled below)", flush=True)

    progress("copying the service's requirements from " + str(Path(sys.prefix)))
    site_packages = site_packages_folder(runtime)
    distributions = requirement_closure(project / "python" / "requirements.txt")
    check_against_lock(distributions, project / "python" / "requirements.lock")
    requirement_sizes = copy_requirements(distributions, site_packages, left_out)
    stripped = strip_extension_modules(lib) if not args.no_strip else 0
    print(f"bundle:        {len(distributions)} distributions; extension modules stripped: {human(stripped)} saved", flush=True)

    progress("copying the service (python/) and the host's Python (cagent_host)")
    copy_tree(project / "python", staging / "service", SERVICE_LEFT_OUT, left_out, "python")
    copy_tree(project / "Sources" / "EmbeddedHost" / "Python", staging / "host-python", {"__pycache__"}, left_out, "host-python")

    progress("byte-compiling: the runtime to sourceless .pyc, the service and cagent_host beside their .py")
    source_removed, failures = byte_compile_sourceless(lib, staging)
    left_out["runtime: .py sources of the standard library and the requirements  (sourceless .pyc shipped)"] = source_removed
    failures += byte_compile([staging / "service", staging / "host-python"])
    print(f"bundle:        runtime sources replaced by their .pyc: {human(source_removed)} of .py left out; "
          f"folder now {human(size_of(staging))}", flush=True)
    archive, zipped, zipped_size = zip_standard_library(lib, {lib / "lib-dynload", site_packages})
    print(f"bundle:        standard library: {zipped} files, {human(zipped_size)} -> {archive.relative_to(staging)} "
          f"{human(archive.stat().st_size)}; folder now {human(size_of(staging))}", flush=True)
    requirements_zip, pure, kept_folders, pure_size = zip_pure_requirements(site_packages)
    print(f"bundle:        requirements of compiled Python only: {len(pure)} entries, {human(pure_size)} -> "
          f"{requirements_zip.relative_to(staging)} {human(requirements_zip.stat().st_size)}; "
          f"kept as folders (extension modules or data files): {', '.join(kept_folders)}; "
          f"folder now {human(size_of(staging))}", flush=True)

    progress(f"replacing {folder}")
    shutil.rmtree(folder, ignore_errors=True)
    os.replace(staging, folder)

    lib = folder / lib.relative_to(staging)
    site_packages = folder / site_packages.relative_to(staging)

    progress(f"writing the single file: loader, the executable and the payload as zstd {' '.join(ZSTD_ARGUMENTS)} (takes a while)")
    payload, raw_size = build_payload(folder, PAYLOAD_PARTS)
    single = dist / f"{name}.run"
    digest, packed_executable = write_single_file(args.loader, folder / name, payload, single)
    print(f"bundle:        {human(raw_size)} of files -> payload {human(len(payload))} "
          f"({len(payload) / max(raw_size, 1):.1%}); executable {human(size_of(folder / name))} -> {human(packed_executable)}; "
          f"loader {human(args.loader.stat().st_size)}; {single.name} {human(single.stat().st_size)}", flush=True)
    progress.done()

    # ------------------------------------------------------------------ report
    parts = {
        "executable (host + libpython, stripped)": folder / name,
        "standard library (.pyc in lib/stdlib.zip)": lib.parent / "stdlib.zip",
        "lib-dynload": lib / "lib-dynload",
        f"{site_packages.relative_to(folder)}": site_packages,
        "service": folder / "service",
        "host-python": folder / "host-python",
    }
    print(f"\nbundle: {folder}  {human(size_of(folder))}")
    for label, path in parts.items():
        size = size_of(path)
        print(f"bundle:   {label:<48} {human(size):>10}")
    print(f"bundle: {single}  {human(single.stat().st_size)}  (loader {human(args.loader.stat().st_size)}, executable"
          f" {human(packed_executable)} and payload {human(len(payload))} compressed; content hash {digest[:32]})")
    print(f"bundle: requirements ({len(distributions)} distributions, largest first, as installed;"
          f" symbols and debug info stripped from the extension modules: {human(stripped)} saved):")
    for label, size in sorted(requirement_sizes.items(), key=lambda kv: -kv[1])[:12]:
        print(f"bundle:   {label:<48} {human(size):>10}")
    if len(requirement_sizes) > 12:
        rest = sorted(requirement_sizes.items(), key=lambda kv: -kv[1])[12:]
        print(f"bundle:   ... and {len(rest)} more, {human(sum(s for _, s in rest))}")
    print("bundle: left out:")
    grouped: dict[str, int] = {}
    for path, size in left_out.items():
        if path.startswith("lib-dynload/"):
            key = "lib-dynload: test and example modules (" + ", ".join(p.rstrip("_") + "*" for p in DYNLOAD_LEFT_OUT) + ")"
        else:
            key = f"{path}  {STDLIB_LEFT_OUT.get(path.split('/')[1], '')}".rstrip() if path.startswith("stdlib/") else path
        grouped[key] = grouped.get(key, 0) + size
    for key, size in sorted(grouped.items()):
        print(f"bundle:   {key:<60} {human(size):>10}")
    if failures:
        print(f"bundle: {len(failures)} files did not byte-compile (shipped as source): {', '.join(failures[:8])}")
    elves = [folder / name] + sorted(p for p in folder.rglob("*.so") if p.is_file())
    needed = needed_libraries(elves)
    shipped = {p.name for p in elves}
    external = {lib: users for lib, users in needed.items() if lib not in shipped}
    print("bundle: shared libraries the machine must provide (glibc's and these):")
    glibc = {"libc.so.6", "libm.so.6", "libpthread.so.0", "libdl.so.2", "librt.so.1", "ld-linux-x86-64.so.2", "libutil.so.1"}
    for library, users in sorted(external.items()):
        if library in glibc:
            continue
        users = sorted(set(users))
        shown = ", ".join(users[:3]) + (f" (+{len(users) - 3})" if len(users) > 3 else "")
        print(f"bundle:   {library:<28} {shown}")
    print(f"bundle: done in {time.monotonic() - started:.1f} s")


if __name__ == "__main__":
    main()
