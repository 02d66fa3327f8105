"""The lock files (python/requirements*.lock, made by ``make lock``) against their
sources and against what is installed.

Used three ways: by ``make setup`` (``sources`` refuses a lock that no longer covers
requirements*.txt, ``sync`` removes what the lock does not list after pip installed
it), by ``test_lock.py``, and by hand::

    python tests/lockfile.py sources requirements.lock requirements.txt
    python tests/lockfile.py check requirements-dev.lock     # the running venv vs the lock
    python tests/lockfile.py sync requirements-dev.lock      # ... and uninstall extras

Runs with nothing but the standard library and pip (whose vendored ``packaging`` is
used when ``packaging`` itself is not installed yet).
"""

from __future__ import annotations

import re
import subprocess
import sys
from importlib import metadata
from pathlib import Path

try:
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name
except ImportError:  # a fresh venv: only pip is there
    from pip._vendor.packaging.requirements import Requirement  # type: ignore[no-redef]
    from pip._vendor.packaging.utils import canonicalize_name  # type: ignore[no-redef]

#: What a venv has of its own, whatever the lock says.
VENV_OWN = {"pip", "setuptools", "wheel"}

_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)")


class LockError(ValueError):
    """A lock file that cannot be read, or one that does not cover its sources."""


def pinned(lock: Path) -> dict[str, str]:
    """Canonical name -> version of every ``name==version`` line; each must carry hashes."""
    pins: dict[str, str] = {}
    lines = lock.read_text(encoding="utf-8").splitlines()
    for number, line in enumerate(lines, 1):
        match = _PIN.match(line)
        if match is None:
            continue
        name = canonicalize_name(match.group(1))
        if name in pins:
            raise LockError(f"{lock}:{number}: {name} is pinned twice")
        following = lines[number] if number < len(lines) else ""
        if "--hash=" not in line and "--hash=" not in following:
            raise LockError(f"{lock}:{number}: {name}=={match.group(2)} has no --hash (run make lock)")
        pins[name] = match.group(2)
    if not pins:
        raise LockError(f"{lock}: no pinned requirements (name==version) in it")
    return pins


def requirements(source: Path) -> list[Requirement]:
    """The requirement lines of a requirements*.txt (options and comments skipped)."""
    found = []
    for line in source.read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if line and not line.startswith("-"):
            found.append(Requirement(line))
    return found


def uncovered(lock: Path, sources: list[Path]) -> list[str]:
    """Requirements of ``sources`` that ``lock`` does not pin, or pins outside their range."""
    pins = pinned(lock)
    problems = []
    for source in sources:
        for requirement in requirements(source):
            if requirement.marker is not None and not requirement.marker.evaluate():
                continue
            version = pins.get(canonicalize_name(requirement.name))
            if version is None:
                problems.append(f"{source.name}: {requirement} is not in {lock.name}")
            elif not requirement.specifier.contains(version, prereleases=True):
                problems.append(f"{source.name}: {requirement} but {lock.name} pins {version}")
    return problems


def installed() -> dict[str, str]:
    """Canonical name -> version of every distribution this interpreter sees."""
    return {canonicalize_name(d.metadata["Name"]): d.version for d in metadata.distributions()}


def differences(lock: Path, present: dict[str, str] | None = None) -> tuple[list[str], list[str]]:
    """(lock entries missing or at another version, installed distributions the lock
    does not list), for this interpreter."""
    pins = pinned(lock)
    present = installed() if present is None else present
    wrong = [
        f"{name}: lock {version}, installed {present.get(name, 'nothing')}"
        for name, version in sorted(pins.items())
        if present.get(name) != version
    ]
    extra = sorted(name for name in present if name not in pins and name not in VENV_OWN)
    return wrong, extra


def main(argv: list[str]) -> int:
    if len(argv) < 2 or argv[0] not in {"sources", "check", "sync"}:
        print(__doc__, file=sys.stderr)
        return 2
    command, lock = argv[0], Path(argv[1])
    try:
        if command == "sources":
            problems = uncovered(lock, [Path(p) for p in argv[2:]])
            for problem in problems:
                print(f"lock: {problem}; run make lock", file=sys.stderr)
            return 1 if problems else 0
        wrong, extra = differences(lock)
    except (OSError, LockError) as error:
        print(f"lock: {error}", file=sys.stderr)
        return 1
    if command == "sync" and extra:
        print(f"setup: removing what {lock} does not list: {' '.join(extra)}")
        subprocess.run([sys.executable, "-m", "pip", "uninstall", "--yes", "--quiet", *extra], check=True)
        wrong, extra = differences(lock)
    for problem in wrong:
        print(f"lock: {problem}", file=sys.stderr)
    for name in extra:
        print(f"lock: {name} is installed but not in {lock}", file=sys.stderr)
    return 1 if wrong or extra else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
