"""Assemble dist/cagent-sidecar/ (a relocatable folder) and dist/cagent-sidecar.run
(a single file: the executable with the folder's Python parts appended as a payload).

Run by bundle/build.sh with the project's .venv interpreter, which is Debian's CPython
3.11 (the one the host links): its base prefix gives the standard library, its
site-packages the service's requirements (exactly the versions the tests ran).

Layout (what RuntimeLocator looks for beside the executable, or in the single file's
unpacked payload):

    cagent-sidecar                the host, libpython linked in statically
    runtime/                      a Python prefix: PyConfig.home
      lib/python3.11/             the standard library, byte-compiled
      lib/python3.11/lib-dynload/ its extension modules
      lib/python3.11/<site>/      the service's requirements (site.py names the folder)
    service/                      python/ without its tests
    host-python/cagent_host/      the host's Python half

The payload format is documented in Sources/EmbeddedHost/Bundle/Payload.swift.
"""

from __future__ import annotations

import argparse
import compileall
import concurrent.futures
import hashlib
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
import zlib
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
# From the service's python/ folder.
SERVICE_LEFT_OUT = {"tests", "__pycache__", ".pytest_cache", "pytest.ini", "requirements-dev.txt", "requirements-dev.lock", ".env", ".venv"}

PAYLOAD_PARTS = ("runtime", "service", "host-python")
TRAILER_MAGIC = b"CAGENT-PAYLOAD-1"


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


def copy_requirements(distributions: list[metadata.Distribution], target: Path) -> dict[str, int]:
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


def strip_debug_info(folder: Path) -> int:
    """Wheels often ship extension modules with DWARF (uvloop: 13 MB of its 14):
    `strip --strip-debug` keeps every symbol. Returns the bytes saved."""
    strip = shutil.which("strip")
    modules = sorted(p for p in folder.rglob("*.so") if p.is_file())
    if not strip or not modules:
        return 0
    before = sum(p.stat().st_size for p in modules)
    subprocess.run([strip, "--strip-debug", *map(str, modules)], check=True)
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


# ---------------------------------------------------------------------------- payload


def build_payload(root: Path, parts: tuple[str, ...]) -> bytes:
    """The payload of dist/cagent-sidecar.run (format: Sources/EmbeddedHost/Bundle/Payload.swift)."""
    entries: list[tuple[int, int, str, Path | None]] = []  # kind, mode, relative path, file
    for part in parts:
        base = root / part
        entries.append((0, 0o755, part, None))
        for path in sorted(base.rglob("*")):
            relative = path.relative_to(root).as_posix()
            if path.is_symlink():
                raise SystemExit(f"bundle: unexpected symlink {path}")
            if path.is_dir():
                entries.append((0, 0o755, relative, None))
            else:
                mode = stat.S_IMODE(path.stat().st_mode)
                entries.append((1, mode, relative, path))

    def compress(entry: tuple[int, int, str, Path | None]) -> tuple[int, bytes, int]:
        kind, _, _, path = entry
        if kind == 0 or path is None:
            return 0, b"", 0
        raw = path.read_bytes()
        packed = zlib.compress(raw, 6) if raw else b""
        if len(packed) >= len(raw):
            return len(raw), raw, 0
        return len(raw), packed, 1

    with concurrent.futures.ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:  # zlib releases the GIL
        blobs = list(pool.map(compress, entries))

    index = bytearray()
    index_length = sum(30 + len(e[2].encode()) for e in entries)
    offset = 20 + index_length
    for (kind, mode, relative, _), (size, data, method) in zip(entries, blobs):
        encoded = relative.encode()
        index += struct.pack("<BHQQQBH", kind, mode, size, offset if data else 0, len(data), method, len(encoded))
        index += encoded
        offset += len(data)
    assert len(index) == index_length
    header = b"CAGP" + struct.pack("<IIQ", 1, len(entries), index_length)
    return header + bytes(index) + b"".join(data for _, data, _ in blobs)


def write_single_file(executable: Path, payload: bytes, target: Path) -> str:
    digest = hashlib.sha256(payload).digest()
    temporary = target.with_name(target.name + ".tmp")
    with open(temporary, "wb") as out:
        with open(executable, "rb") as exe:
            shutil.copyfileobj(exe, out)
        offset = out.tell()
        out.write(payload)
        out.write(TRAILER_MAGIC + struct.pack("<QQ", offset, len(payload)) + digest)
    os.chmod(temporary, 0o755)
    os.replace(temporary, target)
    return digest.hex()


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

    progress(f"copying the standard library from {stdlib}")
    runtime = staging / "runtime"
    lib = runtime / "lib" / f"python{VERSION}"
    copy_stdlib(stdlib, dynload, lib, left_out)
    (runtime / "bin").mkdir(parents=True, exist_ok=True)  # program_name's folder; no python executable

    progress("copying the service's requirements from " + str(Path(sys.prefix)))
    site_packages = site_packages_folder(runtime)
    distributions = requirement_closure(project / "python" / "requirements.txt")
    check_against_lock(distributions, project / "python" / "requirements.lock")
    requirement_sizes = copy_requirements(distributions, site_packages)
    stripped = strip_debug_info(site_packages) if not args.no_strip else 0

    progress("copying the service (python/) and the host's Python (cagent_host)")
    copy_tree(project / "python", staging / "service", SERVICE_LEFT_OUT, left_out, "python")
    copy_tree(project / "Sources" / "EmbeddedHost" / "Python", staging / "host-python", {"__pycache__"}, left_out, "host-python")

    progress("byte-compiling (unchecked-hash .pyc)")
    failures = byte_compile([lib, staging / "service", staging / "host-python"])

    progress(f"replacing {folder}")
    shutil.rmtree(folder, ignore_errors=True)
    os.replace(staging, folder)

    lib = folder / lib.relative_to(staging)
    site_packages = folder / site_packages.relative_to(staging)

    progress("writing the single file (payload: zlib per file, SHA-256 trailer)")
    payload = build_payload(folder, PAYLOAD_PARTS)
    single = dist / f"{name}.run"
    digest = write_single_file(folder / name, payload, single)
    progress.done()

    # ------------------------------------------------------------------ report
    parts = {
        "executable (host + libpython, stripped)": folder / name,
        "standard library (.py + .pyc)": None,
        "lib-dynload": lib / "lib-dynload",
        f"{site_packages.relative_to(folder)}": site_packages,
        "service": folder / "service",
        "host-python": folder / "host-python",
    }
    stdlib_size = size_of(lib) - size_of(lib / "lib-dynload") - size_of(site_packages)
    print(f"\nbundle: {folder}  {human(size_of(folder))}")
    for label, path in parts.items():
        size = stdlib_size if path is None else size_of(path)
        print(f"bundle:   {label:<48} {human(size):>10}")
    print(f"bundle: {single}  {human(single.stat().st_size)}  (payload {human(len(payload))} compressed, content hash {digest[:32]})")
    print(f"bundle: requirements ({len(distributions)} distributions, largest first;"
          f" debug info stripped from their extension modules: {human(stripped)} saved):")
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
