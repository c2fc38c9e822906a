"""Atomic, first-writer-wins files for the feature and manifest caches (see trainer.core.atomic).

Concurrent computations of the same entry (Ray tasks, trials) never leave a half-written file,
and everyone reads back the same bytes.
"""
from __future__ import annotations

from pathlib import Path
from typing import BinaryIO, Callable

from trainer.core.atomic import atomic_write


def publish(path: Path, write: Callable[[BinaryIO], None], replace: bool = False) -> Path:
    """Write `path` via `write(file)` unless it exists (`replace=True`: overwrite a stale one)."""
    def write_file(tmp: Path) -> None:
        with open(tmp, "wb") as f:
            write(f)
    return atomic_write(path, write_file, if_absent=not replace)
