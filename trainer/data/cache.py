"""The cache folder and atomic materialisation of generated (toy) datasets.

Generated data is written into a hidden temporary folder beside its final place and renamed into
place in one step, so concurrent trials either see a complete dataset or none, never half of one.
"""
from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Callable

ENV = "FEWPAIR_CACHE"
DEFAULT_CACHE = Path("~/.cache/fewpair")  # used when FEWPAIR_CACHE is unset


def cache_dir() -> Path:
    """The cache folder (env FEWPAIR_CACHE, default ~/.cache/fewpair), created on demand."""
    path = Path(os.environ.get(ENV) or DEFAULT_CACHE).expanduser()
    path.mkdir(parents=True, exist_ok=True)
    return path


def materialise(final: Path, write: Callable[[Path], None]) -> Path:
    """Return `final`, first calling `write(tmp)` and renaming tmp -> final if it does not exist.

    Safe with concurrent callers: the loser of the rename race deletes its own copy.
    """
    if final.is_dir():
        return final
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.tmp-", dir=final.parent))
    try:
        write(tmp)
        os.rename(tmp, final)
    except OSError:
        if not final.is_dir():  # a real failure, not a lost race
            raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return final
