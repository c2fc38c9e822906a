"""The Ray Tune trial: a thin wrapper that runs `trainer.train` on one TrialConfig and writes its
Parquet row. Imports only `ray.tune` (in Ray 2.60 `ray.train.report` inside a Tune trial errors).

A trial's Tune config holds its `trial_key` (plus the varying fields, for Ray's progress table);
everything else comes through `tune.with_parameters` from sweeps.tune.grid_tuner: `configs`
(trial key -> TrialConfig row, for the whole grid), a `Sweep` (grid, results root, code version,
force), and `train_fn` (default trainer.run.loop.train; tests wrap it to inject a failure).

Failures: a deterministic error (bad config or data, a non-finite loss: `deterministic`) would
fail again on every retry, so the trial writes its `failed` row and ends normally, its last
result marked TRIAL_FAILED; any other error (a lost node, a full disk) writes the row and is
raised again for Tune's FailureConfig to retry. Rows are written by sweeps.store.rows (the one
writer of grid trials, pack members and study trials). A workdir is sweeps.store.workdirs'
`<tmp>/fewpair-<key>-<pid>-*`; a trial or pack starting on a node removes those of processes
that no longer exist (a killed trial or pack: `prepare_worker`).

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

import math
import os
from dataclasses import dataclass
from typing import Callable

from ray import tune
from ray.tune.result import TIMESTEPS_TOTAL

from sweeps.store import results
from sweeps.store.rows import RowSink, computed_with
from sweeps.store.workdirs import remove_dead_workdirs, workdir
from trainer.core.config import TrialConfig
from trainer.run.checks import check_trial

TrainFn = Callable[..., object]   # trainer.run.loop.train(cfg, workdir, report) -> TrialResult
HEADLINE = ("pixel_acc", "mean_class_acc", "mean_iou", "maps_pixel_acc", "pixel_acc_archmean",
            "mean_iou_archmean", "maps_pixel_acc_archmean", "val_score", "train_s", "steps_done",
            "steps_per_s", "eval_s")   # the final result Tune shows; the row has every column
ROW_WRITTEN = "row_written"   # only in a trial's last result: 1 = its row was written, 0 = skipped
TRIAL_FAILED = "trial_failed"   # in the last result of a trial that failed deterministically


@dataclass(frozen=True)
class Sweep:
    """What every trial of one sweep shares (see the module docstring)."""
    grid: str
    results_root: str
    code_version: str
    force: bool
    cpus: float = 1.0   # CPUs Tune reserves per trial; torch gets that many threads

    def rows(self, **computed: object) -> RowSink:
        """Where this worker's rows go, saying how it computes (call after prepare_worker:
        the torch threads it sets are a column)."""
        return RowSink(self.results_root, self.grid, self.code_version, computed_with(**computed))


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
        tune.report({**scalars(headline), ROW_WRITTEN: 0, "skipped": 1})
        return
    prepare_worker(sweep.cpus)
    if train_fn is None:
        from trainer.run.loop import train as train_fn   # the loop, imported when a trial runs
    with workdir(key) as folder:
        _restore_checkpoint(folder)
        outcome = _train_and_record(cfg, sweep.rows(), folder, train_fn)
    if outcome is None:   # failed for good: its row says why; the val_score key keeps Tune's
        tune.report({ROW_WRITTEN: 1, TRIAL_FAILED: 1, "val_score": math.nan})   # metric check
        return
    headline = {k: outcome[k] for k in HEADLINE if isinstance(outcome.get(k), (int, float))}
    tune.report({**headline, TIMESTEPS_TOTAL: int(outcome["steps_done"]), ROW_WRITTEN: 1,
                 "skipped": 0})


run_trial.__mixins__ = (CatchSignals,)


def prepare_worker(cpus: float) -> None:
    """What a trial and a pack do first on their worker: torch gets the reserved CPUs' threads
    (its default, one per core of the node, oversubscribes a shared node: 2 trials x 2 threads
    on 2 cores ran 2.5x slower than 1 thread each), and the workdirs of killed trials and packs
    on this node go."""
    import torch
    torch.set_num_threads(max(1, int(cpus)))
    remove_dead_workdirs()


def deterministic(err: BaseException) -> bool:
    """An error a retry would raise again: bad input (the rooms' ValueErrors: ConfigError,
    DataError, SelectionError, ...) or a non-finite loss (a rerun reaches the same step again)."""
    from trainer.step.watch import NonFiniteLoss
    return isinstance(err, NonFiniteLoss) or (isinstance(err, ValueError)
                                              and not isinstance(err, OSError))


def _train_and_record(cfg: TrialConfig, rows: RowSink, folder: str,
                      train_fn: TrainFn) -> dict | None:
    """The trial's result row, or None when it failed deterministically (its row written)."""
    started = results.utc_now()
    try:
        check_cuda()       # a GPU node without a usable CUDA: failed for good, not retried
        check_trial(cfg)   # the plan checked it; a value that slips through fails here, for good
        outcome = train_fn(cfg, folder, report=report_to_tune).to_row()
        outcome["samples_png"] = rows.keep_samples(outcome.get("samples_png"), cfg)
    except Exception as err:   # recorded; raised again for Tune to retry unless a retry is futile
        rows.write_failure(cfg, err, started)
        if deterministic(err):
            return None
        raise
    except BaseException as err:   # Interrupted / SystemExit: the trial was stopped
        rows.write_failure(cfg, err, started)
        from sweeps.tune.trial_stop import end_stopped
        end_stopped(err)   # park for the driver's stop, or raise for Tune's retry
    rows.write(cfg, "ok", started, result=outcome)
    return outcome


def check_cuda() -> None:
    """The GPUs Ray granted this trial are ones torch sees (trainer.core.device's rule; the
    driver checked the nodes alive before the sweep, this catches a node added since). Its
    DeviceError is deterministic: the row fails at once instead of a retry on the same node."""
    import ray
    from trainer.core.device import check_granted_gpus
    node = ray.get_runtime_context().get_node_id()[:8]
    check_granted_gpus(len(ray.get_gpu_ids()),
                       f"GPU node {ray.util.get_node_ip_address()} (Ray node {node})")


def report_to_tune(metrics: dict, checkpoint_dir: str | None) -> None:
    """The `report` callback of trainer.train: metrics, plus the checkpoint just written.
    The trial's step is also `timesteps_total`, the x-axis Ray's TensorBoard logger plots
    (otherwise it plots against the number of reports)."""
    checkpoint = tune.Checkpoint.from_directory(checkpoint_dir) if checkpoint_dir else None
    step = {TIMESTEPS_TOTAL: int(metrics["step"])} if "step" in metrics else {}
    tune.report({**scalars(metrics), **step}, checkpoint=checkpoint)


def _restore_checkpoint(workdir: str) -> None:
    """Put Tune's latest checkpoint (after a retry or --resume) where train() looks for it."""
    checkpoint = tune.get_checkpoint()
    if checkpoint is not None:
        checkpoint.to_directory(os.path.join(workdir, "checkpoint"))


def scalars(values: dict) -> dict:
    """Tune's result table takes numbers and strings; lists (indices) stay in the row only."""
    return {k: v for k, v in values.items() if isinstance(v, (int, float, str, bool))}
