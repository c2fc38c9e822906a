"""The driver's Ctrl-C: Tune stops gracefully after the running trials have checkpointed.

The first SIGINT or SIGTERM (trainer.run.interrupt: a second SIGINT exits at once) asks
`GracefulStop`, Tune's stopper, to end the sweep. Trials of this host first get DRIVER_STOP, which
makes each checkpoint at its next step, report it and wait to be ended without an error
(sweeps.tune.trial_stop: an error no one reads is an "Unhandled error" block on the console);
once Tune has registered each of those checkpoints (`SignalCheckpointSaved`), or after WAIT_S,
the stopper sends the driver SIGUSR1,
Tune's own interrupt: Tune saves its experiment state with the trials still unfinished (a
stopper that ended them would mark them TERMINATED, and `--resume` would not train them again),
and the driver says what finished and how to resume. Trials on other hosts are stopped as they
are: a `--resume` starts them from their latest periodic checkpoint.

Registered, not just reported: Tune processes a result that carries a checkpoint first (the
stopper sees `interrupted` then), and only records the checkpoint in the trial's state when the
`save` it schedules next comes back (`on_trial_save`). An interrupt in between saved the
experiment without it, and `--resume` trained that trial again from step 0 (seen once in CI).

Both sweep drivers (sweeps.tune.grid_sweep, sweeps.study.study_run) fit their Tuner through
`fit_stoppably`, pass a GracefulStop as `stop` and `SignalCheckpointSaved()` among the
callbacks, and print `sweeps.tune.hints.resume_command` after a stop.
"""
from __future__ import annotations

import os
import signal
import socket
import time
from typing import Callable, TypeVar

from ray.tune import Callback, Stopper

from sweeps.tune.trainable import ROW_WRITTEN
from sweeps.tune.trial_stop import DRIVER_STOP
from trainer.run.interrupt import interruptible, stop_requested, stop_signal

WAIT_S = 60.0   # longest wait for the trials' checkpoints (a step at paper size: < 1 s)
_announced: list[bool] = []     # the 'stopping' line was printed (once per driver)
_interrupted: list[bool] = []   # Tune was told to stop
_saved: set[str] = set()        # Tune trial ids whose signal checkpoint Tune has registered
T = TypeVar("T")


def fit_stoppably(fit: Callable[[], T]) -> tuple[T, int | None]:
    """(fit(), the signal that stopped it or None): SIGINT and SIGTERM a stop request meanwhile,
    Tune's own SIGINT handler off (its first Ctrl-C would end the trials without their
    checkpoints); the Tuner's `stop` must hold a GracefulStop."""
    os.environ["TUNE_DISABLE_SIGINT_HANDLER"] = "1"
    for state in (_announced, _interrupted, _saved):   # an earlier fit in this process (a
        state.clear()                                   # notebook, a test) stopped its own
    with interruptible():   # (it clears the request on the way out: asked inside)
        outcome = fit()
        return outcome, stop_signal()


class GracefulStop(Stopper):
    def __init__(self):
        self.pids: dict[str, int] = {}         # Tune trial id -> worker pid, this host only
        self.signalled: dict[str, float] = {}  # Tune trial id -> when it got DRIVER_STOP

    def __call__(self, trial_id: str, result: dict) -> bool:
        if ROW_WRITTEN in result:                # its last result: the actor may be reused
            self.pids.pop(trial_id, None)
        elif result.get("hostname") == socket.gethostname() and "pid" in result:
            self.pids[trial_id] = int(result["pid"])
        return False

    def stop_all(self) -> bool:
        if not stop_requested():
            return False
        if not self.signalled:
            self.signalled = {trial: time.monotonic() for trial in self.pids
                              if _signal(self.pids[trial])}
            if not _announced:   # (Tune may hold more than one copy of its stopper)
                _announced.append(True)
                many = len(self.signalled) != 1
                print(f"stopping: {len(self.signalled)} running trial{'s' * many} "
                      f"checkpoint{'s' * (not many)} first (Ctrl-C again to exit now)", flush=True)
        waited = time.monotonic() - min(self.signalled.values(), default=time.monotonic())
        if (set(self.signalled) <= _saved or waited > WAIT_S) and not _interrupted:
            _interrupted.append(True)
            os.kill(os.getpid(), signal.SIGUSR1)   # Tune's own interrupt (module doc)
        return False


class SignalCheckpointSaved(Callback):
    """Tells GracefulStop when Tune has registered a trial's signal checkpoint (module doc)."""

    def on_trial_save(self, iteration: int, trials: list, trial, **info) -> None:
        if trial.last_result.get("interrupted"):   # the save after the signal's report
            _saved.add(trial.trial_id)


def _signal(pid: int) -> bool:
    try:
        os.kill(pid, DRIVER_STOP)
    except (ProcessLookupError, PermissionError):   # ended already, or not ours
        return False
    return True
