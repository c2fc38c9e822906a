"""Ray's own hints replaced by fewpair's: Tune's "Resume experiment with: Tuner.restore(...)"
(a Python call fewpair users do not make) becomes the driver's command with --resume, which is
also what both sweep drivers print after a stop (`stopped_exit`)."""
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


def stopped_exit(counted: str, argv: list[str], script: str, signum: int) -> int:
    """A sweep driver's last words after a stop: `interrupted: <counted>; ...` and the command
    that resumes it (on stderr); returns its exit status, 128 + the signal (130: Ctrl-C)."""
    print(f"interrupted: {counted}; the rest resume from their checkpoints with:\n  "
          f"{resume_command(argv, script)}", file=sys.stderr)
    return 128 + signum


def replace_ray_hints(argv: list[str] | None = None) -> ResumeHint:
    """Install the rewrite on Tune's logger (once per process); returns the filter."""
    logger = logging.getLogger(TUNE_LOGGER)
    for old in [f for f in logger.filters if isinstance(f, ResumeHint)]:
        logger.removeFilter(old)
    hint = ResumeHint(resume_command(argv))
    logger.addFilter(hint)
    return hint
