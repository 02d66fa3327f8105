"""The venv the tests run in is exactly the lock, and the locks cover their sources."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

import lockfile

PYTHON_DIR = Path(__file__).resolve().parent.parent
RUNTIME_LOCK = PYTHON_DIR / "requirements.lock"
DEV_LOCK = PYTHON_DIR / "requirements-dev.lock"
RUNTIME = PYTHON_DIR / "requirements.txt"
DEV = PYTHON_DIR / "requirements-dev.txt"


def test_the_installed_venv_is_the_dev_lock() -> None:
    assert sys.prefix != sys.base_prefix, "run the tests with the project's .venv (make setup)"
    wrong, extra = lockfile.differences(DEV_LOCK)
    assert wrong == [], "installed versions differ from the lock; run make setup"
    assert extra == [], "installed but not in the lock; run make setup"


def test_the_locks_cover_their_sources() -> None:
    assert lockfile.uncovered(RUNTIME_LOCK, [RUNTIME]) == []
    assert lockfile.uncovered(DEV_LOCK, [RUNTIME, DEV]) == []


def test_the_dev_lock_has_the_runtime_locks_versions() -> None:
    runtime, dev = lockfile.pinned(RUNTIME_LOCK), lockfile.pinned(DEV_LOCK)
    assert {name: dev.get(name) for name in runtime} == runtime


def test_a_different_or_extra_install_is_reported(tmp_path: Path) -> None:
    lock = tmp_path / "x.lock"
    lock.write_text("fastapi==1.0 \\\n    --hash=sha256:00\nuvicorn==2.0 --hash=sha256:11\n")
    wrong, extra = lockfile.differences(lock, {"fastapi": "1.1", "pip": "23", "left-over": "3"})
    assert wrong == ["fastapi: lock 1.0, installed 1.1", "uvicorn: lock 2.0, installed nothing"]
    assert extra == ["left-over"]


def test_a_lock_that_misses_a_source_or_its_range_is_reported(tmp_path: Path) -> None:
    lock = tmp_path / "x.lock"
    lock.write_text("fastapi==0.100.0 --hash=sha256:00\n")
    source = tmp_path / "requirements.txt"
    source.write_text("fastapi>=0.115,<1\nuvicorn>=0.30  # the server\n-r other.txt\n")
    assert lockfile.uncovered(lock, [source]) == [
        "requirements.txt: fastapi<1,>=0.115 but x.lock pins 0.100.0",
        "requirements.txt: uvicorn>=0.30 is not in x.lock",
    ]


def test_a_pin_without_hashes_is_refused(tmp_path: Path) -> None:
    lock = tmp_path / "x.lock"
    lock.write_text("fastapi==1.0\n")
    with pytest.raises(lockfile.LockError, match="has no --hash"):
        lockfile.pinned(lock)
