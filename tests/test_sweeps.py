"""The smoke grid on the session's real local Ray (2 CPUs, no GPU), with the real trainer:
rows with the expected columns and values, a rerun that trains nothing, GPU requests on a
GPU-less cluster, and a trial that fails once and is retried from its checkpoint."""
from __future__ import annotations

import dataclasses
import os
import re
import sys
from pathlib import Path

import pandas as pd
import pytest
from ray import cloudpickle

from sweeps import run_grid
from sweeps.plan import grids, sweep as sweep_plan
from sweeps.tune import launch
from sweeps.store import results
from sweeps.tune.grid_sweep import run_sweep
from sweeps.plan.grids import GridError
from trainer.core.config import TrialConfig

cloudpickle.register_pickle_by_value(sys.modules[__name__])   # FailOnce runs inside trials

SMOKE = grids.expand(grids.get_grid("smoke"))


def row_mtimes(root: Path) -> dict[str, int]:
    return {f: os.stat(f).st_mtime_ns for f in results.row_files(str(root), "smoke")}


@pytest.mark.slow
def test_smoke_grid_writes_one_row_per_trial_then_a_rerun_trains_nothing(
        ray_session, small_streets, tmp_path, capsys):
    argv = ["--grid", "smoke", "--data-root", small_streets, "--storage", str(tmp_path),
            "--gpus-per-trial", "0.5", "--export", str(tmp_path / "export")]
    assert run_grid.main(argv) == 0
    out = capsys.readouterr().out
    assert "trials ask for 0 GPUs, not 0.5" in out          # no GPU here: no endless wait
    assert "sweep smoke: 3/3 trials done, 0 running, 0 failed · 12/12 steps (100%)" in out
    assert f"curves: tensorboard --logdir {tmp_path}/_ray/smoke" in out
    from trainer.data import open_split
    from trainer.eval.evaluate import EXPORT_SUFFIX
    stems = open_split("toy-streets", "val", small_streets).stems[:2]    # eval_limit 2
    for cfg in SMOKE:                                     # the official export, per trial
        exported = sorted(p.name for p in (tmp_path / "export" / cfg.key()).iterdir())
        assert exported == sorted(stem + EXPORT_SUFFIX for stem in stems)
    rows = results.read_rows(str(tmp_path), "smoke").set_index("trial_key")
    assert sorted(rows.index) == sorted(c.key() for c in SMOKE)
    for cfg in SMOKE:
        row = rows.loc[cfg.key()]
        assert row["status"] == "ok" and pd.isna(row["error"]) and row["grid"] == "smoke"
        assert (row["mode"], row["paired_budget"], row["selection"], row["seed"]) == \
            (cfg.mode, cfg.paired_budget, cfg.selection, cfg.seed)
        assert row["data_root"] == small_streets
        assert row["steps_done"] == cfg.steps == 4 and row["device"] == "cpu"
        assert len(row["paired_indices"]) == cfg.paired_budget
        assert len(row["unpaired_indices"]) == cfg.unpaired == 8
        assert set(row["paired_indices"]) <= set(row["unpaired_indices"])
        assert 0 <= row["pixel_acc"] <= 1 and 0 <= row["mean_iou"] <= row["pixel_acc"] + 1e-9
        assert row["code_version"].startswith(("git:", "fewpair:"))
        assert row["started_at"] < row["finished_at"]
        assert row["samples_png"] == results.samples_path(str(tmp_path), "smoke", cfg)
        assert Path(row["samples_png"]).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "rows:" in out and (tmp_path / "_plots" / "smoke-budget.png").is_file()

    before = row_mtimes(tmp_path)
    assert run_grid.main(argv) == 0
    assert "all 3 trials have rows; nothing to train" in capsys.readouterr().out
    assert row_mtimes(tmp_path) == before


def test_gpu_requests_follow_what_the_cluster_can_offer(ray_session, tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))      # no `ray up` bootstrap config: local Ray
    assert launch.trial_resources(1, 0.25) == {"cpu": 1, "gpu": 0.0}
    with pytest.raises(GridError, match="--cpus-per-trial 4 is more than any node offers"):
        launch.trial_resources(4, 0)
    # On a `ray up` head, the autoscaler's node types say which GPUs can still appear.
    (tmp_path / "ray_bootstrap_config.yaml").write_text(
        "available_node_types:\n  head: {resources: {CPU: 0, GPU: 0}}\n"
        "  gpu_worker: {min_workers: 0, max_workers: 4, resources: {CPU: 8, GPU: 1}}\n")
    assert launch.largest_node("GPU") == 1
    assert launch.trial_resources(1, 0.25) == {"cpu": 1, "gpu": 0.25}


class FailOnce:
    """The real trainer, made to raise once right after its first checkpoint reached Tune.
    Each attempt notes whether it started from a checkpoint and what row the trial had then."""

    def __init__(self, marks: Path, row: str):
        self.marks, self.row = marks, row

    def __call__(self, cfg: TrialConfig, workdir: str, report):
        from trainer.run.loop import train
        attempt = len(list(self.marks.glob("attempt-*"))) + 1
        resumed = (Path(workdir) / "checkpoint").is_dir()
        row = results.read_rows(str(Path(self.row).parents[2]), "smoke")
        before = "none" if row.empty else f"{row['status'][0]}: {row['error'][0]}"
        (self.marks / f"attempt-{attempt}").write_text(f"resumed={resumed}; row {before}")

        def flaky_report(metrics, checkpoint_dir):
            report(metrics, checkpoint_dir)
            if checkpoint_dir and attempt == 1:
                raise RuntimeError("injected failure after the first checkpoint")
        return train(cfg, workdir, report=flaky_report)


@pytest.mark.slow
def test_a_trial_that_raises_once_is_retried_from_its_checkpoint(ray_session, small_streets,
                                                                 tmp_path):
    marks = tmp_path / "marks"
    marks.mkdir()
    args = run_grid.build_parser().parse_args(
        ["--grid", "smoke", "--data-root", small_streets, "--storage", str(tmp_path / "res"),
         "--max-failures", "1"])
    plan = sweep_plan.plan_sweep(args)
    plan = dataclasses.replace(plan, todo=plan.todo[:1])
    row = results.row_path(plan.results, "smoke", plan.todo[0])
    outcome = run_sweep(plan, args, train_fn=FailOnce(marks, row))
    assert not outcome.errors
    assert (marks / "attempt-1").read_text() == "resumed=False; row none"
    # the failure was recorded, then the retry started from Tune's checkpoint
    assert re.fullmatch(r"resumed=True; row failed: RuntimeError: injected failure after the "
                        r"first checkpoint \(test_sweeps\.py:\d+\)",
                        (marks / "attempt-2").read_text())
    rows = results.read_rows(plan.results, "smoke")
    assert list(rows["trial_key"]) == [plan.todo[0].key()]
    assert rows["status"].iloc[0] == "ok" and rows["steps_done"].iloc[0] == 4


def test_a_selection_that_cannot_be_made_fails_before_any_trial(ray_session, small_streets,
                                                                 tmp_path, capsys):
    """Table 1 wants a pool of 200; the small toy set has 40 training images."""
    argv = ["--grid", "table1", "--dataset", "toy-streets", "--data-root", small_streets,
            "--storage", str(tmp_path)]
    assert run_grid.main(argv) == 2
    err = capsys.readouterr().err                       # refused in the plan: before Ray
    assert err.startswith("error: trial ") and err.count("\n") == 1, err
    assert "unpaired=200 is larger than toy-streets's 40 training samples" in err
    assert not (tmp_path / "_ray").exists()             # no trial was started
