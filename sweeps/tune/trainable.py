"""The Ray Tune trial: a thin wrapper that runs `trainer.train` on one TrialConfig and writes its
Parquet row. Imports only `ray.tune` (in Ray 2.60 `ray.train.report` inside a Tune trial errors).

A trial's Tune config holds its `trial_key` (plus the varying fields, for Ray's progress table);
everything else comes through `tune.with_parameters` from sweeps.tune.grid_tuner: `configs`
(trial key -> TrialConfig row, for the whole grid), a `Sweep` (grid, results root, code version,
force), and `train_fn` (default trainer.run.loop.train; tests wrap it to inject a failure).

Failures: a deterministic error (bad config or data, a non-finite loss: `deterministic`) would
fail again on every retry, so the trial writes its `failed` row and ends normally, its last
result marked TRIAL_FAILED; any other error (a lost node, a full disk) writes the row and is
raised again for Tune's FailureConfig to retry. A workdir is `<tmp>/fewpair-<key>-<pid>-*`; a
trial starting on a node removes those of processes that no longer exist (a killed trial).

Checkpoints: `train` writes `<workdir>/checkpoint/` and calls report(metrics, checkpoint_dir);
that folder goes to Tune (`tune.report(..., checkpoint=...)`), which copies it to the storage
path. A retried or resumed trial gets it back from `tune.get_checkpoint()` into a fresh workdir,
and `train` resumes from it exactly.

Signals: a worker's SIGTERM (a spot node about to be taken) or SIGINT does not end the worker:
`CatchSignals` turns it into a stop request in the worker's main thread (where Python runs
signal handlers; the trial itself runs in a thread of Tune's), the trial checkpoints at its next
step, reports the checkpoint to Tune (the report returns once the driver has it), writes its
`stopped` row (`Interrupted: interrupted at step N; ...`) and raises, and Tune's retry resumes
from that step. Its driver's own stop (Ctrl-C) comes as another signal, after which the trial
waits to be ended instead of raising (sweeps.tune.trial_stop).
"""
from __future__ import annotations

import glob
import math
import os
import re
import shutil
import tempfile
import traceback
from dataclasses import dataclass
from typing import Callable

from ray import tune
from ray.tune.result import TIMESTEPS_TOTAL

from sweeps.store import results
from sweeps.store.lease import pid_alive
from trainer.core.config import TrialConfig
from trainer.run.checks import check_trial

TrainFn = Callable[..., object]   # trainer.run.loop.train(cfg, workdir, report) -> TrialResult
HEADLINE = ("pixel_acc", "mean_class_acc", "mean_iou", "maps_pixel_acc", "pixel_acc_archmean",
            "mean_iou_archmean", "maps_pixel_acc_archmean", "val_score", "train_s", "steps_done",
            "steps_per_s", "eval_s")   # the final result Tune shows; the row has every column
ROW_WRITTEN = "row_written"   # only in a trial's last result: 1 = its row was written, 0 = skipped
TRIAL_FAILED = "trial_failed"   # in the last result of a trial that failed deterministically
WORKDIR = re.compile(r"fewpair-[0-9a-f]{16}-(\d+)-")   # a trial's workdir; group 1: its pid


@dataclass(frozen=True)
class Sweep:
    """What every trial of one sweep shares (see the module docstring)."""
    grid: str
    results_root: str
    code_version: str
    force: bool
    cpus: float = 1.0   # CPUs Tune reserves per trial; torch gets that many threads


class CatchSignals:
    """A mixin of the trial's Tune trainable (`__mixins__`, read by Tune's wrap_function): its
    setup runs in the worker's main thread, the only one that may install signal handlers."""

    def setup(self, config):
        from sweeps.tune.trial_stop import TRIAL_SIGNALS
        from trainer.run.interrupt import catch_signals
        catch_signals(TRIAL_SIGNALS)
        super().setup(config)


def run_trial(config: dict, *, configs: dict[str, dict], sweep: Sweep,
              train_fn: TrainFn | None = None) -> None:
    """Train one trial (unless its `ok` row exists) and write its row; errors are recorded as a
    `failed` row and re-raised so Tune's FailureConfig retries the trial."""
    key = config["trial_key"]
    if key not in configs:
        raise KeyError(f"trial {key} is not in grid {sweep.grid!r} any more; "
                       f"rerun without --resume")
    cfg = TrialConfig.from_dict(configs[key])
    path = results.row_path(sweep.results_root, sweep.grid, cfg)
    if not sweep.force and results.row_status(path) == "ok":   # finished by an earlier run:
        headline = results.read_row(path, HEADLINE)            # report what its row says
        tune.report({**_scalars(headline), ROW_WRITTEN: 0, "skipped": 1})
        return
    _limit_threads(sweep.cpus)
    if train_fn is None:
        from trainer.run.loop import train as train_fn   # the loop, imported when a trial runs
    remove_dead_workdirs()
    with tempfile.TemporaryDirectory(prefix=f"fewpair-{key}-{os.getpid()}-") as workdir:
        _restore_checkpoint(workdir)
        outcome = _train_and_record(cfg, sweep, workdir, path, train_fn)
    if outcome is None:   # failed for good: its row says why; the val_score key keeps Tune's
        tune.report({ROW_WRITTEN: 1, TRIAL_FAILED: 1, "val_score": math.nan})   # metric check
        return
    headline = {k: outcome[k] for k in HEADLINE if isinstance(outcome.get(k), (int, float))}
    tune.report({**headline, TIMESTEPS_TOTAL: int(outcome["steps_done"]), ROW_WRITTEN: 1,
                 "skipped": 0})


run_trial.__mixins__ = (CatchSignals,)


def _limit_threads(cpus: float) -> None:
    """Torch defaults to one thread per core of the node: trials sharing a node would
    oversubscribe it (2 trials x 2 threads on 2 cores ran 2.5x slower than 1 thread each)."""
    import torch
    torch.set_num_threads(max(1, int(cpus)))


def remove_dead_workdirs() -> list[str]:
    """Remove this node's trial workdirs whose process no longer exists (SIGKILLed trials)."""
    removed = []
    for folder in glob.glob(os.path.join(tempfile.gettempdir(), "fewpair-*")):
        found = WORKDIR.match(os.path.basename(folder))
        if found and not pid_alive(int(found[1])):
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
    return removed


def deterministic(err: BaseException) -> bool:
    """An error a retry would raise again: bad input (the rooms' ValueErrors: ConfigError,
    DataError, SelectionError, ...) or a non-finite loss (a rerun reaches the same step again)."""
    from trainer.step.watch import NonFiniteLoss
    return isinstance(err, NonFiniteLoss) or (isinstance(err, ValueError)
                                              and not isinstance(err, OSError))


def _train_and_record(cfg: TrialConfig, sweep: Sweep, workdir: str, path: str,
                      train_fn: TrainFn) -> dict | None:
    """The trial's result row, or None when it failed deterministically (its row written)."""
    started = results.utc_now()
    common = dict(code_version=sweep.code_version, started_at=started)
    try:
        check_trial(cfg)   # the plan checked it; a value that slips through fails here, for good
        outcome = train_fn(cfg, workdir, report=report_to_tune).to_row()
        outcome["samples_png"] = _keep_samples(outcome.get("samples_png"), cfg, sweep)
    except Exception as err:   # recorded; raised again for Tune to retry unless a retry is futile
        _write(path, cfg, sweep.grid, "failed", error=_one_line(err), **common)
        if deterministic(err):
            return None
        raise
    except BaseException as err:   # Interrupted / SystemExit: the trial was stopped
        _write(path, cfg, sweep.grid, "stopped", error=_one_line(err), **common)
        from sweeps.tune.trial_stop import end_stopped
        end_stopped(err)   # park for the driver's stop, or raise for Tune's retry
    _write(path, cfg, sweep.grid, "ok", result=outcome, **common)
    return outcome


def _keep_samples(png: str | None, cfg: TrialConfig, sweep: Sweep) -> str | None:
    """Copy the trial's sample image out of its temporary workdir, next to the rows."""
    if not png or not os.path.isfile(png):
        return None
    return results.copy_file(png, results.samples_path(sweep.results_root, sweep.grid, cfg))


def _write(path: str, cfg: TrialConfig, grid: str, status: str, *, result: dict | None = None,
           **fields) -> None:
    row = results.make_row(cfg, grid, status, result={**computed_with(), **(result or {})},
                           finished_at=results.utc_now(), **fields)
    results.write_row(path, row)


def computed_with() -> dict[str, object]:
    """How this process computes a trial, beside the row's device and precision: what must be
    equal for a rerun to repeat it bit for bit (a pack's rows say their own pack_size)."""
    import torch
    return {"pack_size": 1, "torch_threads": torch.get_num_threads(),
            "torch_version": torch.__version__}


def report_to_tune(metrics: dict, checkpoint_dir: str | None) -> None:
    """The `report` callback of trainer.train: metrics, plus the checkpoint just written.
    The trial's step is also `timesteps_total`, the x-axis Ray's TensorBoard logger plots
    (otherwise it plots against the number of reports)."""
    checkpoint = tune.Checkpoint.from_directory(checkpoint_dir) if checkpoint_dir else None
    step = {TIMESTEPS_TOTAL: int(metrics["step"])} if "step" in metrics else {}
    tune.report({**_scalars(metrics), **step}, checkpoint=checkpoint)


def _restore_checkpoint(workdir: str) -> None:
    """Put Tune's latest checkpoint (after a retry or --resume) where train() looks for it."""
    checkpoint = tune.get_checkpoint()
    if checkpoint is not None:
        checkpoint.to_directory(os.path.join(workdir, "checkpoint"))


def _scalars(values: dict) -> dict:
    """Tune's result table takes numbers and strings; lists (indices) stay in the row only."""
    return {k: v for k, v in values.items() if isinstance(v, (int, float, str, bool))}


def _one_line(err: BaseException) -> str:
    """`Type: message` plus where it was raised, on one line (the row's `error` column)."""
    frame = traceback.extract_tb(err.__traceback__)[-1] if err.__traceback__ else None
    where = f" ({os.path.basename(frame.filename)}:{frame.lineno})" if frame else ""
    message = " ".join(str(err).split())
    return f"{type(err).__name__}{': ' + message if message else ''}{where}"
