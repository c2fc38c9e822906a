"""What a sweep's driver prints besides Ray's table: trials done / running / failed, the
training steps done of all the steps planned, the time so far and an ETA, e.g.

    sweep demo: 7/18 trials done, 2 running, 0 failed · 2,100/5,400 steps (39%) · 3m12s
    · ETA 5m01s                                                     (one line when printed)

Trials and steps are the trials' own, also when trials train in packs: a pack of 10 members at
step 150 is 10 trials running and 1,500 trial-steps done. The ETA assumes the remaining steps go
at the sweep's average rate so far (steps of trials sharing the cluster, start-up included), so
it is rough early on and firms up as trials finish.
"""
from __future__ import annotations

import logging
import os
import time
from typing import Callable

from ray.tune import Callback
from ray.tune.result import TIMESTEPS_TOTAL

from sweeps.tune.trainable import TRIAL_FAILED

PRINT_EVERY_S = 60.0   # at most one line per minute between trial completions
RAY_LOGGERS = ("ray.tune", "ray.train", "ray.air",   # driver-side: experiment_state warnings, ...
               "ray._private")   # ray.init's "Started a local Ray instance", its token note


def quiet_ray(verbose: bool) -> None:
    """Unless verbose: Tune's and Train's driver-side warnings and notes off (errors stay), and
    Tune's own reporter (its configuration box, hints and tables; RunConfig(verbose=0) silences
    the older one only), and Tune's traceback of each failed trial attempt (a lost node's
    ActorUnavailableError: 30 lines; SweepProgress says it in one). The workers' output
    (checkpoint chatter) stays in Ray's log files: connect(log_to_driver=...)."""
    if not verbose:
        os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
        os.environ.setdefault("TUNE_PRINT_ALL_TRIAL_ERRORS", "0")   # read by the Tuner's loop
        for name in RAY_LOGGERS:
            logging.getLogger(name).setLevel(logging.ERROR)
        _hide_cluster_notices()


def _hide_cluster_notices() -> None:
    """Ray's driver prints every notice the cluster publishes for it -- a raylet's unexpected
    end with the last 20 lines of its log, a node marked dead, "A worker died ..." -- from a
    thread of its own (ray._private.worker.listen_error_messages, which calls the module's
    print_to_stdstream for each, whatever log_to_driver says): 70 lines for one lost node.
    Here they stay in Ray's own logs (the GCS's, the raylet's); the trial they hit gets
    SweepProgress's one line. Once per process."""
    import ray._private.worker as ray_worker
    shown = ray_worker.print_to_stdstream
    if getattr(shown, "hides_cluster_notices", False):
        return

    def without_notices(data: dict, ignore_prefix: bool) -> None:
        if data.get("pid") != "raylet":   # what listen_error_messages marks its notices with
            shown(data, ignore_prefix)
    without_notices.hides_cluster_notices = True
    ray_worker.print_to_stdstream = without_notices


class SweepProgress(Callback):
    def __init__(self, grid: str, planned_steps: dict[str, int],
                 out: Callable[[str], None] | None = None, every_s: float = PRINT_EVERY_S,
                 sizes: dict[str, int] | None = None, key: Callable | None = None):
        """planned_steps: Tune trial (a trial's key, or a pack's id) -> its steps (a pack's:
        its members' common step count); sizes: Tune trial -> the trials it trains (a pack's
        members left to train; default 1); key: Tune trial -> its name in planned_steps (default:
        its config's trial_key or pack_id; a module-level function: Tune pickles callbacks).
        `out`: where lines go (None: print, looked up when printing -- once builtins.print is
        replaced (Ray's tqdm support does) the old print is unpicklable)."""
        self.grid, self.planned, self.out, self.every_s = grid, planned_steps, out, every_s
        self.sizes, self.key = sizes or {}, key or _key
        self.steps: dict[str, int] = {}         # trial key -> steps reported so far
        self.finished: set[str] = set()
        self.failed: set[str] = set()
        self.running: set[str] = set()
        self.started = time.monotonic()
        self.printed = 0.0

    def setup(self, **info) -> None:
        self.started = time.monotonic()

    def on_trial_start(self, iteration, trials, trial, **info) -> None:
        self.running.add(self.key(trial))

    def on_trial_result(self, iteration, trials, trial, result, **info) -> None:
        key = self.key(trial)
        if result.get("skipped"):          # finished by an earlier run: nothing left to do
            self.steps[key] = self.planned.get(key, 0)
        elif TIMESTEPS_TOTAL in result:
            self.steps[key] = max(self.steps.get(key, 0), int(result[TIMESTEPS_TOTAL]))
        if time.monotonic() - self.printed >= self.every_s:
            self.report()

    def on_trial_complete(self, iteration, trials, trial, **info) -> None:
        key = self.key(trial)
        self.running.discard(key)
        if (getattr(trial, "last_result", None) or {}).get(TRIAL_FAILED):   # failed for good
            self.failed.add(key)
            self.report()
            return
        self.finished.add(key)
        self.steps[key] = self.planned.get(key, self.steps.get(key, 0))
        self.report()

    def on_trial_recover(self, iteration, trials, trial, **info) -> None:
        """A failed attempt Tune retries (FailureConfig): one line, which trial, why, from where;
        the trial still counts as running."""
        (self.out or print)(f"{self._name(trial)}: {_error_name(trial)}; retrying from "
                            f"{_resume_point(trial)} (retry {trial.num_failures} of "
                            f"{trial.max_failures})")

    def on_trial_error(self, iteration, trials, trial, **info) -> None:
        key = self.key(trial)
        self.running.discard(key)
        self.failed.add(key)
        (self.out or print)(f"{self._name(trial)}: {_error_name(trial)}; failed after "
                            f"{trial.num_failures - 1} retries (Tune's error file: "
                            f"{trial.error_file})")
        self.report()

    def _name(self, trial) -> str:
        return f"{'pack' if 'pack_id' in trial.config else 'trial'} {self.key(trial)}"

    def report(self) -> None:
        self.printed = time.monotonic()
        (self.out or print)(self.line(self.printed - self.started))

    def _trials(self, ids) -> int:
        return sum(self.sizes.get(i, 1) for i in ids)

    def line(self, elapsed: float) -> str:
        total = sum(steps * self.sizes.get(i, 1) for i, steps in self.planned.items())
        done = min(sum(steps * self.sizes.get(i, 1) for i, steps in self.steps.items()), total)
        text = (f"sweep {self.grid}: {self._trials(self.finished)}/{self._trials(self.planned)} "
                f"trials done, {self._trials(self.running)} running, "
                f"{self._trials(self.failed)} failed · "
                f"{done:,}/{total:,} steps ({done / total:.0%}) · {_duration(elapsed)}"
                if total else f"sweep {self.grid}: nothing planned")
        if total and 0 < done < total:
            text += f" · ETA {_duration(elapsed * (total - done) / done)}"
        return text


def _error_name(trial) -> str:
    """The failed attempt's exception, by type (an error raised in the trial: its own type),
    from the pickle Tune has just written beside the trial's error file (the driver's copy:
    Trial.get_pickled_error reads the storage's, synced later)."""
    from ray import cloudpickle
    try:
        with open(trial.pickled_error_file, "rb") as f:
            err = cloudpickle.load(f)
    except Exception:   # none, or unreadable: Tune's error file still says it
        return "an error"
    err = getattr(err, "cause", None) or err   # RayTaskError: what the trial raised
    return type(err).__name__


def _resume_point(trial) -> str:
    """`step N` of the trial's latest checkpoint, or `its start`."""
    latest = trial.latest_checkpoint_result
    step = (latest.metrics or {}).get(TIMESTEPS_TOTAL) if latest else None
    return f"step {step:,}" if step else "its start"


def _key(trial) -> str:
    return str(trial.config.get("trial_key") or trial.config.get("pack_id"))


def _duration(seconds: float) -> str:
    """3725 -> '1h02m'; 192 -> '3m12s'; 7 -> '7s'."""
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m"
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"
