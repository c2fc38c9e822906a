"""Where a sweep keeps things, below everything that plans or launches one (no Ray, no torch)."""
from __future__ import annotations

import os

RAY_DIR = "_ray"         # Tune's state under the results root; the leading "_" keeps readers out


def absolute(path: str | None) -> str | None:
    """Tune runs each trial in its own folder: a relative path must not reach a trial."""
    return os.path.abspath(os.path.expanduser(path)) if path else path
