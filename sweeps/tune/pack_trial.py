"""The Ray Tune trial of a pack: several compatible trials trained in one process by
`trainer.run.loop.train_pack`, each writing its own Parquet row (the same key and columns as an
unpacked trial's, plus `pack_id` and `pack_size`).

A pack's Tune config holds its `pack_id`; its member keys come from `packs` (pack id -> trial
keys) and their configs from `configs` (trial key -> TrialConfig row), through
`tune.with_parameters`. Members with an `ok` row are not trained again (a retried pack trains
only the rest). Checkpoints: the members' workdirs live under one folder, `<tmp>/members/<trial
key>/`; whenever a member wrote a checkpoint, that whole folder goes to Tune, and a retried or
resumed pack gets it back and resumes every member from its own checkpoint. A member whose loss
goes non-finite gets a `failed` row while the rest train on; like an unpacked trial's
deterministic failure it is not retried (a later run of the sweep trains it again). A crash of
the whole pack that is not deterministic (a lost node) is raised for Tune to retry the pack.

What a trial alone gets, a pack gets too (sweeps.tune.trainable): `prepare_worker` (torch
threads; the workdirs of killed trials and packs removed), the pre-flight `check_trial` of every
member (one that fails it gets its `failed` row and the rest train on), the workdir naming of
sweeps.store.workdirs, and the row writer of sweeps.store.rows.
"""
from __future__ import annotations

import os
from typing import Callable

from ray import tune
from ray.tune.result import TIMESTEPS_TOTAL

from sweeps.store import results
from sweeps.store.rows import RowSink, one_line
from sweeps.store.workdirs import workdir
from sweeps.tune.trainable import (HEADLINE, ROW_WRITTEN, TRIAL_FAILED, CatchSignals, Sweep,
                                   check_cuda, deterministic, prepare_worker, scalars)
from trainer.core.config import TrialConfig
from trainer.run.checks import check_trial

MEMBERS_DIR = "members"   # under the pack's temporary folder: one workdir per member


class PackReports:
    """Collects the members' report() calls; after each stop of the pack, one Tune report (with
    the members' folder as the checkpoint when a member just wrote one)."""

    def __init__(self, members_dir: str):
        self.members_dir = members_dir
        self.latest: dict[str, dict] = {}
        self.saved = False

    def member(self, key: str) -> Callable[[dict, "str | None"], None]:
        def report(metrics: dict, checkpoint_dir: str | None) -> None:
            self.latest[key] = metrics
            self.saved = self.saved or checkpoint_dir is not None
        return report

    def flush(self) -> None:
        if not self.latest:
            return
        steps = [m["step"] for m in self.latest.values() if "step" in m]
        step = max(steps, default=0)   # timesteps_total: the x-axis of curves and progress
        metrics = {"step": step, TIMESTEPS_TOTAL: step, "members_reporting": len(self.latest)}
        if any("interrupted" in m for m in self.latest.values()):   # a signal's checkpoint
            metrics["interrupted"] = 1
        checkpoint = tune.Checkpoint.from_directory(self.members_dir) if self.saved else None
        tune.report(metrics, checkpoint=checkpoint)
        self.latest, self.saved = {}, False


def run_pack(config: dict, *, configs: dict[str, dict], packs: dict[str, list[str]],
             sweep: Sweep, train_fn=None) -> None:
    """Train the pack's members without an `ok` row, write every member's row, report."""
    pack_id = config["pack_id"]
    if pack_id not in packs:
        raise KeyError(f"pack {pack_id} is not in grid {sweep.grid!r} any more; "
                       f"rerun without --resume")
    cfgs = [TrialConfig.from_dict(configs[key]) for key in packs[pack_id]]
    extra = {"pack_id": pack_id, "pack_size": len(cfgs)}
    todo = [c for c in cfgs if sweep.force or results.row_status(_path(sweep, c)) != "ok"]
    if not todo:
        tune.report({ROW_WRITTEN: 0, "skipped": 1, **extra})
        return
    prepare_worker(sweep.cpus)
    rows = sweep.rows(**extra)
    checked = _checked(todo, rows)
    if train_fn is None:
        from trainer.run.loop import train_pack as train_fn   # the loop, imported when a pack runs
    outcomes = []
    if checked:
        with workdir(pack_id) as root:
            members_dir = os.path.join(root, MEMBERS_DIR)
            _restore_members(members_dir)
            outcomes = _train_members(checked, rows, members_dir, train_fn)
    failed = len(todo) - len(checked) + sum(o.failure is not None for o in outcomes)
    headline = [o.result.to_row() for o in outcomes if o.result is not None]
    # A failed member's row says why; its failure (a non-finite loss, bad input) is
    # deterministic, so the pack ends normally instead of being retried (as a trial alone).
    tune.report({**_mean_headline(headline), ROW_WRITTEN: 1, "skipped": 0, **extra,
                 "members_trained": len(todo), "members_failed": failed,
                 **({TRIAL_FAILED: 1} if failed == len(todo) else {})})


run_pack.__mixins__ = (CatchSignals,)   # SIGTERM: every member checkpoints (sweeps.tune.trainable)


def _path(sweep: Sweep, cfg: TrialConfig) -> str:
    return results.row_path(sweep.results_root, sweep.grid, cfg)


def _checked(todo: list[TrialConfig], rows: RowSink) -> list[TrialConfig]:
    """The members that pass check_trial (as a trial alone checks itself before it trains);
    the others get their `failed` row now. A check that fails other than deterministically
    (the data unreadable for a moment) is raised for Tune to retry the pack."""
    passed = []
    for cfg in todo:
        started = results.utc_now()
        try:
            check_trial(cfg)
        except Exception as err:
            rows.write_failure(cfg, err, started)
            if not deterministic(err):
                raise
            continue
        passed.append(cfg)
    return passed


def _restore_members(members_dir: str) -> None:
    """Tune's latest pack checkpoint (after a retry or --resume): every member's workdir."""
    checkpoint = tune.get_checkpoint()
    if checkpoint is not None:
        checkpoint.to_directory(members_dir)


def _train_members(todo: list[TrialConfig], rows: RowSink, members_dir: str, train_fn) -> list:
    """train_fn over the members, then one row each. A crash of the whole pack is recorded in
    every member's row and raised again for Tune to retry, unless it is deterministic (bad
    input): then every member has failed for good, as a trial alone would."""
    started = results.utc_now()
    reports = PackReports(members_dir)
    workdirs = [os.path.join(members_dir, c.key()) for c in todo]
    try:
        check_cuda()   # deterministic when it fails: every member's row fails for good
        outcomes = train_fn(todo, workdirs, [reports.member(c.key()) for c in todo],
                            on_stop=reports.flush)
    except BaseException as err:
        for cfg in todo:
            rows.write_failure(cfg, err, started)
        if isinstance(err, Exception) and deterministic(err):   # a retry would fail the same way
            from trainer.run.loop import TrialOutcome
            return [TrialOutcome(cfg, failure=one_line(err)) for cfg in todo]
        if not isinstance(err, Exception):   # park for the driver's stop, or raise for a retry
            from sweeps.tune.trial_stop import end_stopped
            end_stopped(err)
        raise
    for outcome in outcomes:
        cfg = outcome.cfg
        if outcome.failure is not None:
            rows.write(cfg, "failed", started, error=f"NonFiniteLoss: {outcome.failure}")
            continue
        row = outcome.result.to_row()
        row["samples_png"] = rows.keep_samples(row.get("samples_png"), cfg)
        rows.write(cfg, "ok", started, result=row)
    return outcomes


def _mean_headline(rows: list[dict]) -> dict:
    """The members' headline metrics, averaged, for Tune's progress table (rows hold each)."""
    out = {}
    for name in HEADLINE:
        values = [r[name] for r in rows if isinstance(r.get(name), (int, float))]
        if values:
            out[name] = sum(values) / len(values)
    return scalars(out)
