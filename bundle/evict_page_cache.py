"""Drops the page cache of files, so the next launch reads them as one after a reboot does.

bundle/idle-rss.sh runs it on what each measured process maps (the bundle's files, or
the venv's and the interpreter's) before launching it. A file just written (cp, the single
file's unpacking) is cached in large folios, and on this kernel a fault maps the whole
folio around the code that runs: measured, the bundled host then idles ~1 MB higher than
once its executable was read back from disk. Clean pages no process maps are dropped;
written back first; anything mapped stays (posix_fadvise(POSIX_FADV_DONTNEED)).

usage: evict_page_cache.py PATH...   (files, or folders walked)
"""

from __future__ import annotations

import os
import sys


def evict(path: str) -> int:
    """Drops the cached pages of `path` (every file below it, for a folder); returns files done."""
    if os.path.isfile(path):
        descriptor = os.open(path, os.O_RDONLY)
        try:
            os.fdatasync(descriptor)  # pages not yet written back cannot be dropped
            os.posix_fadvise(descriptor, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(descriptor)
        return 1
    done = 0
    for folder, _, names in os.walk(path):
        for name in names:
            file = os.path.join(folder, name)
            if os.path.isfile(file) and not os.path.islink(file):
                done += evict(file)
    return done


def main(paths: list[str]) -> int:
    if not paths:
        print(__doc__.strip().splitlines()[-1], file=sys.stderr)
        return 2
    missing = [path for path in paths if not os.path.exists(path)]
    if missing:
        print(f"evict_page_cache: no such file or folder: {', '.join(missing)}", file=sys.stderr)
        return 1
    for path in paths:
        evict(os.path.realpath(path))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
