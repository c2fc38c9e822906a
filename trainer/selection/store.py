"""Atomic, first-writer-wins files for the feature and manifest caches.

A file is written to a hidden temporary name in its final folder and then hard-linked into place:
the link fails if another process published first, and the loser keeps the winner's file. So
concurrent computations of the same entry (Ray tasks, trials) never leave a half-written file, and
everyone reads back the same bytes.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import BinaryIO, Callable


def publish(path: Path, write: Callable[[BinaryIO], None], replace: bool = False) -> Path:
    """Write `path` via `write(file)` unless it exists (`replace=True`: overwrite a stale one)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
        if replace:
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
