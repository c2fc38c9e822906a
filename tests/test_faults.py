"""The fault tour, kept: the smoke grid on the session's real local Ray (2 CPUs) with the real
trainer, broken the ways a cluster breaks it. A trial worker SIGKILLed after its first
checkpoint resumes from it, and a later trial on the node removes the killed one's workdir; a
trial whose loss goes non-finite gets its `failed` row at once, without retries."""
from __future__ import annotations

import functools
import math
import os
import signal
import sys
from pathlib import Path

import pytest
from ray import cloudpickle

from sweeps import results, run_grid
from sweeps.trainable import TRIAL_FAILED, remove_dead_workdirs

cloudpickle.register_pickle_by_value(sys.modules[__name__])   # Faults runs inside trials


@pytest.fixture(scope="session")
def small_streets(fewpair_cache) -> str:
    """toy-streets' small variant (40 train / 16 val images): the smoke grid's data."""
    from trainer.data import toy_root
    return str(toy_root("toy-streets", "small"))


class Faults:
    """The real trainer; trial `kill` SIGKILLs its own worker right after its first checkpoint
    reached Tune (attempt 1 only), trial `diverge` trains with λ_cycle = inf (a real non-finite
    loss). Each attempt leaves a mark `<key>-<n>` holding its workdir."""

    def __init__(self, marks: Path, kill: str, diverge: str):
        self.marks, self.kill, self.diverge = marks, kill, diverge

    def __call__(self, cfg, workdir: str, report):
        from trainer.train import train
        attempt = len(list(self.marks.glob(f"{cfg.key()}-*"))) + 1
        (self.marks / f"{cfg.key()}-{attempt}").write_text(workdir)
        if cfg.key() == self.kill and attempt == 1:
            report = functools.partial(_kill_after_checkpoint, report)
        if cfg.key() == self.diverge:
            cfg = cfg.replace(lambda_cycle=math.inf)
        return train(cfg, workdir, report=report)


def _kill_after_checkpoint(report, metrics: dict, checkpoint_dir: str | None) -> None:
    report(metrics, checkpoint_dir)
    if checkpoint_dir:
        os.kill(os.getpid(), signal.SIGKILL)


@pytest.mark.slow
def test_a_killed_worker_resumes_and_a_diverged_trial_fails_at_once(ray_session, small_streets,
                                                                   tmp_path):
    marks = tmp_path / "marks"
    marks.mkdir()
    args = run_grid.build_parser().parse_args(
        ["--grid", "smoke", "--data-root", small_streets, "--storage", str(tmp_path / "res"),
         "--max-failures", "2", "--gpus-per-trial", "0"])
    plan = run_grid.plan_sweep(args)
    plan.todo = plan.todo[:2]
    kill, diverge = plan.todo[0], plan.todo[1]
    outcome = run_grid.run_sweep(plan, args, train_fn=Faults(marks, kill.key(), diverge.key()))
    assert not outcome.errors   # the killed trial was retried; the diverged one ended normally
    rows = results.read_rows(plan.results, "smoke").set_index("trial_key")
    assert sorted(rows.index) == sorted([kill.key(), diverge.key()])

    # The diverged trial: one attempt, a failed row naming the loss term, Tune told it failed.
    assert sorted(p.name for p in marks.glob(f"{diverge.key()}-*")) == [f"{diverge.key()}-1"]
    failed = rows.loc[diverge.key()]
    assert failed["status"] == "failed" and failed["error"].startswith("NonFiniteLoss: ")
    last = {r.config["trial_key"]: r.metrics for r in outcome}[diverge.key()]
    assert last[TRIAL_FAILED] == 1 and math.isnan(last["val_score"])

    # The killed trial: retried from its checkpoint to an ok row equal to an uninterrupted run.
    attempts = sorted(marks.glob(f"{kill.key()}-*"))
    assert [p.name for p in attempts] == [f"{kill.key()}-1", f"{kill.key()}-2"]
    assert not Path(attempts[0].read_text()).exists()   # removed when the retry started
    ok = rows.loc[kill.key()]
    assert ok["status"] == "ok" and ok["steps_done"] == 4
    from trainer.train import train
    alone = train(kill, str(tmp_path / "alone")).to_row()
    for column in ("pixel_acc", "mean_iou", "mean_class_acc", "paired_indices"):
        assert list(ok[column]) == list(alone[column]) if column.endswith("indices") \
            else ok[column] == alone[column], column


def test_only_workdirs_of_dead_processes_are_removed(tmp_path, monkeypatch):
    import subprocess
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True).stdout.strip()
    names = {f"fewpair-{'a' * 16}-{dead}-x1": False,        # its process is gone
             f"fewpair-{'a' * 16}-{os.getpid()}-x2": True,  # this (live) process's
             f"fewpair-{'b' * 16}-y3": True,                # not a name with a pid
             "other-1": True}
    for name in names:
        (tmp_path / name).mkdir()
        (tmp_path / name / "checkpoint").mkdir()
    assert remove_dead_workdirs() == [str(tmp_path / f"fewpair-{'a' * 16}-{dead}-x1")]
    assert {name: (tmp_path / name).exists() for name in names} == names


def test_a_trial_failed_for_good_is_fail_in_the_study(tmp_path):
    """TRIAL_FAILED's NaN val_score is neither an intermediate value nor the trial's value."""
    import optuna
    from optuna.samplers import TPESampler
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend
    from ray import tune
    from sweeps.journal_search import JournalOptunaSearch
    storage = JournalStorage(JournalFileBackend(str(tmp_path / "j.journal")))
    search = JournalOptunaSearch(storage=storage, study_name="s", sampler=TPESampler(seed=0))
    assert search.set_search_properties("val_score", "max", {"x": tune.loguniform(1, 10)})
    search.suggest("t0")
    failure = {"row_written": 1, TRIAL_FAILED: 1, "val_score": math.nan, "training_iteration": 1}
    search.on_trial_result("t0", failure)
    search.on_trial_complete("t0", failure)
    (trial,) = optuna.load_study(study_name="s", storage=storage).trials
    assert trial.state == optuna.trial.TrialState.FAIL and trial.intermediate_values == {}


def test_a_torn_row_is_named_with_its_remedy(small_streets, tmp_path, capsys):
    """A row file cut short (rows are written whole: by hand, or a disk that lost its tail)."""
    from trainer.config import TrialConfig
    cfg = run_grid.plan_sweep(run_grid.build_parser().parse_args(
        ["--grid", "smoke", "--data-root", small_streets, "--storage", str(tmp_path)])).cfgs[0]
    assert isinstance(cfg, TrialConfig)
    path = results.row_path(str(tmp_path), "smoke", cfg)
    now = results.utc_now()
    results.write_row(path, results.make_row(cfg, "smoke", "ok", code_version="t",
                                             started_at=now, finished_at=now))
    whole = Path(path).read_bytes()
    Path(path).write_bytes(whole[:len(whole) // 2])
    argv = ["--grid", "smoke", "--data-root", small_streets, "--storage", str(tmp_path),
            "--dry-run"]
    assert run_grid.main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {path}: not a readable results row (") and err.count("\n") == 1
    assert err.endswith("); delete that file to retrain its trial, or rerun with --force to "
                        "retrain every trial\n")
    assert run_grid.main([*argv, "--force"]) == 0   # the remedy: every trial to run
    assert "3 trials, 3 to run, 0 done" in capsys.readouterr().out
