"""Ctrl-C and SIGTERM as a request to stop between training steps.

`interruptible()` holds for the duration of training (the main thread only; elsewhere it does
nothing): the first SIGINT or SIGTERM only sets a flag, the loop asks `stop_requested()` between
steps, writes a checkpoint and raises `Interrupted` (exit status 128 + the signal: 130 for
SIGINT, 143 for SIGTERM); a second SIGINT exits at once, without a checkpoint. In a Ray Tune
worker the trial runs in a thread of its own, so the worker's main thread calls
`catch_signals()` once (sweeps.tune.trainable's mixin): a spot node's SIGTERM then checkpoints the
trial and reports the checkpoint to Tune before the process ends.
"""
from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading

SIGNALS = (signal.SIGINT, signal.SIGTERM)
_requested: list[int] = []   # the signals received since the flag was last cleared


class Interrupted(BaseException):
    """Training stopped on a signal after a checkpoint (a BaseException, like KeyboardInterrupt:
    `except Exception` must not record it as a failure)."""

    def __init__(self, step: int, signum: int):
        super().__init__(f"interrupted at step {step}; checkpoint saved; rerun the same command "
                         f"to resume")
        self.step, self.signum = step, signum

    def __reduce__(self):   # pickled from a Tune worker to the driver
        return Interrupted, (self.step, self.signum)

    @property
    def exit_code(self) -> int:
        return 128 + self.signum      # the shell's code for a process ended by that signal


def stop_requested() -> bool:
    return bool(_requested)


def stop_signal() -> int | None:
    """The signal of the pending stop request (its first), or None."""
    return _requested[0] if _requested else None


def _handle(signum: int, frame) -> None:
    if _requested and signum == signal.SIGINT:   # the second Ctrl-C: the user means now
        print("\nsecond Ctrl-C: exiting now, without a checkpoint", file=sys.stderr, flush=True)
        os._exit(128 + signum)
    _requested.append(signum)


def catch_signals(signals: tuple[int, ...] = SIGNALS) -> dict[int, object]:
    """Install the handlers (main thread only); returns the handlers they replace. A Tune
    worker adds the signal of its sweep driver's stop (sweeps.tune.trial_stop)."""
    return {signum: signal.signal(signum, _handle) for signum in signals}


def stop_if_requested(step: int, checkpoint) -> None:
    """When a signal came: checkpoint() (write and report it), clear the flag, raise
    Interrupted (from SystemExit when Tune ended the trial while it reported: the trial then
    ends quietly, sweeps.tune.trial_stop)."""
    if _requested:
        signum = _requested[0]
        ended = None
        try:
            checkpoint()
        except SystemExit as exit_:   # Tune ended the trial once its driver had the checkpoint
            ended = exit_
        _requested.clear()
        raise Interrupted(step, signum) from ended


@contextlib.contextmanager
def interruptible():
    """Signals become a stop request inside the block (module doc)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = catch_signals()
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        _requested.clear()
