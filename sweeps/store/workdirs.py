"""A trial's temporary workdir on its node, named the same way for a trial alone and for a pack,
and the one cleanup of the workdirs whose process was killed (SIGKILL runs no cleanup code, so
`TemporaryDirectory` leaves them behind; the next trial to start on the node removes them).

    `<tmp>/fewpair-<name>-<pid>-<random>`   name: a trial key (16 hex digits) or a pack id
                                            (`pack-<hex>`); pid: the process that made it
"""
from __future__ import annotations

import glob
import os
import re
import shutil
import tempfile

from sweeps.store.lease import pid_alive

PREFIX = "fewpair-"
NAME = re.compile(r"(?:pack-)?[0-9a-f]+")          # a trial key or a pack id
WORKDIR = re.compile(rf"{PREFIX}{NAME.pattern}-(\d+)-")   # group 1: the pid


def workdir(name: str) -> tempfile.TemporaryDirectory:
    """A fresh workdir for the trial key or pack id `name` (removed when the context ends)."""
    if not NAME.fullmatch(name):
        raise ValueError(f"workdir name {name!r} is neither a trial key nor a pack id")
    return tempfile.TemporaryDirectory(prefix=f"{PREFIX}{name}-{os.getpid()}-")


def remove_dead_workdirs() -> list[str]:
    """Remove this node's workdirs whose process no longer exists (killed trials and packs)."""
    removed = []
    for folder in glob.glob(os.path.join(tempfile.gettempdir(), f"{PREFIX}*")):
        found = WORKDIR.match(os.path.basename(folder))
        if found and not pid_alive(int(found[1])):
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
    return sorted(removed)
