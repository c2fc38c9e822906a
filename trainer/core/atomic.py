"""Writing a file atomically: to a hidden temporary name beside it, then one rename (or link).

Readers (and concurrent trials writing the same cache entry) see the old file or the new one,
never half of one; a failed write leaves nothing behind. A write that fails because the disk is
full raises `DiskFull`: one line naming the file and the space left on its disk. With `if_absent=True` the temporary file
is hard-linked into place instead: the link fails when another process published first, and the
loser keeps the winner's file, so racing computations of one cache entry all read the same bytes.
"""
from __future__ import annotations

import errno
import os
import shutil
import tempfile
from pathlib import Path
from typing import Callable


class DiskFull(OSError):
    """No space left where a file was being written; the message names it and the free space."""

    def __init__(self, message: str):
        super().__init__(errno.ENOSPC, message)

    def __str__(self) -> str:
        return self.strerror


def no_space(err: BaseException | None) -> bool:
    """Whether `err`, or an error it was raised from or during, is ENOSPC (torch.save reports a
    full disk as a RuntimeError raised while handling the OSError of its write)."""
    seen = set()
    while err is not None and id(err) not in seen:
        if isinstance(err, OSError) and err.errno == errno.ENOSPC:
            return True
        seen.add(id(err))
        err = err.__cause__ or err.__context__
    return False


def disk_full(path: str | Path) -> DiskFull:
    """DiskFull for `path`, with the free space of its disk (shutil.disk_usage)."""
    folder = Path(path).parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    free = shutil.disk_usage(folder).free
    return DiskFull(f"no space left on device writing {path} "
                    f"({free / 2**20:,.1f} MiB free on {folder})")


def atomic_write(path: str | Path, write: Callable[[Path], None], if_absent: bool = False) -> Path:
    """Call write(tmp) for a temporary file in path's folder, then move it to `path`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        try:
            write(Path(tmp))
        except (OSError, RuntimeError) as err:
            if no_space(err):
                raise disk_full(path) from err
            raise
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
