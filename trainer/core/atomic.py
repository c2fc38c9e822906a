"""Writing a file atomically: to a hidden temporary name beside it, then one rename (or link).

Readers (and concurrent trials writing the same cache entry) see the old file or the new one,
never half of one; a failed write leaves nothing behind. With `if_absent=True` the temporary file
is hard-linked into place instead: the link fails when another process published first, and the
loser keeps the winner's file, so racing computations of one cache entry all read the same bytes.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Callable


def atomic_write(path: str | Path, write: Callable[[Path], None], if_absent: bool = False) -> Path:
    """Call write(tmp) for a temporary file in path's folder, then move it to `path`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(Path(tmp))
        if not if_absent:
            os.replace(tmp, path)
        else:
            try:
                os.link(tmp, path)       # atomic create-if-absent
            except FileExistsError:
                pass                     # another process won the race: keep its file
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path
