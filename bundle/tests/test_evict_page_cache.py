"""bundle/evict_page_cache.py: the files' pages leave the page cache, nothing else changes."""

from __future__ import annotations

import ctypes
import mmap
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import evict_page_cache
import pytest

LIBC = ctypes.CDLL(None, use_errno=True)
LIBC.mmap.restype = ctypes.c_void_p
LIBC.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_long]
LIBC.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
LIBC.mincore.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_void_p]


def cached_pages(path: Path) -> int:
    """How many of `path`'s pages are in the page cache: mincore(2) on a mapping of it
    that nothing touches (so the mapping itself brings no page in)."""
    size = path.stat().st_size
    pages = (size + mmap.PAGESIZE - 1) // mmap.PAGESIZE
    descriptor = os.open(path, os.O_RDONLY)
    try:
        address = LIBC.mmap(None, size, mmap.PROT_READ, mmap.MAP_SHARED, descriptor, 0)
        if address in (None, ctypes.c_void_p(-1).value):
            raise OSError(ctypes.get_errno(), "mmap")
        try:
            vector = (ctypes.c_ubyte * pages)()
            if LIBC.mincore(address, size, vector) != 0:
                raise OSError(ctypes.get_errno(), "mincore")
            return sum(byte & 1 for byte in vector)
        finally:
            LIBC.munmap(address, size)
    finally:
        os.close(descriptor)


@pytest.fixture
def on_disk() -> Iterator[Path]:
    """A folder on the file system the bundles are built on (the project's), not /tmp,
    which may be a tmpfs: its pages live in memory and have no disk to be read back from."""
    folder = Path(tempfile.mkdtemp(prefix=".build-evict-test.", dir=Path(__file__).resolve().parents[2]))
    yield folder
    shutil.rmtree(folder)


def test_a_folders_files_leave_the_page_cache_and_keep_their_bytes(on_disk: Path) -> None:
    folder = on_disk / "bundle" / "lib"
    folder.mkdir(parents=True)
    files = [folder / "a.bin", folder.parent / "b.bin"]
    for index, file in enumerate(files):
        file.write_bytes(bytes([index]) * (64 * 1024))
        os.sync()
        file.read_bytes()  # cached
        assert cached_pages(file) > 0
    (folder / "link").symlink_to(files[0])

    assert evict_page_cache.main([str(on_disk / "bundle")]) == 0

    assert [cached_pages(file) for file in files] == [0, 0]
    assert [file.read_bytes() for file in files] == [bytes([0]) * 65536, bytes([1]) * 65536]


def test_a_file_just_written_is_written_back_then_dropped(on_disk: Path) -> None:
    file = on_disk / "fresh.bin"
    file.write_bytes(b"x" * (32 * 1024))  # dirty: not yet written back
    assert evict_page_cache.main([str(file)]) == 0
    assert cached_pages(file) == 0


def test_a_missing_path_is_an_error_naming_it(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert evict_page_cache.main([str(tmp_path / "nowhere")]) == 1
    assert f"no such file or folder: {tmp_path / 'nowhere'}" in capsys.readouterr().err
    assert evict_page_cache.main([]) == 2
