"""Ray's own hints replaced by fewpair's: Tune's "Resume experiment with: Tuner.restore(...)"
(a Python call fewpair users do not make) becomes the driver's command with --resume."""
from __future__ import annotations

import logging
import shlex
import sys

TUNE_LOGGER = "ray.tune.tune"   # where Tune warns after an interrupted fit()
RESTORE = "Tuner.restore("


class ResumeHint(logging.Filter):
    """Rewrites Tune's restore hint into `command` (other records pass unchanged)."""

    def __init__(self, command: str):
        super().__init__()
        self.command = command

    def filter(self, record: logging.LogRecord) -> bool:
        if RESTORE in record.getMessage():
            record.msg = f"interrupted; the finished trials' rows are kept. Resume: {self.command}"
            record.args = ()
        return True


def resume_command(argv: list[str] | None = None, script: str | None = None) -> str:
    """The driver's command line with --resume (once): `script` (default: this process's)
    and `argv` (default: this process's arguments)."""
    args = list(sys.argv[1:] if argv is None else argv)
    again = [*args, *([] if "--resume" in args else ["--resume"])]
    return shlex.join(["python", script or sys.argv[0], *again])


def replace_ray_hints(argv: list[str] | None = None) -> ResumeHint:
    """Install the rewrite on Tune's logger (once per process); returns the filter."""
    logger = logging.getLogger(TUNE_LOGGER)
    for old in [f for f in logger.filters if isinstance(f, ResumeHint)]:
        logger.removeFilter(old)
    hint = ResumeHint(resume_command(argv))
    logger.addFilter(hint)
    return hint
