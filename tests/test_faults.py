"""The fault tour, kept: the smoke grid on the session's real local Ray (2 CPUs) with the real
trainer, broken the ways a cluster breaks it, and each fault's promised outcome: a true exit
status from the plan, one `error:` line before Ray for bad input, nothing lost or duplicated.

- A trial worker SIGKILLed after its first checkpoint resumes from it (its workdir removed);
  a non-finite loss is a `failed` row at once, not retried.
- Two drivers of one grid: the second refuses, naming the first; the first SIGKILLed (its
  unfinished trials have no row: exit status 1), `--resume` takes its lease over and finishes
  the grid without retraining a finished trial.
- Bad paths (a file as storage, storage no unprivileged user can write, a missing labels root),
  non-finite weights, a torn row, a torn Optuna journal, a grid whose every trial failed.

The killed driver joins the session's Ray (it starts no Ray process of its own): its process
group is killed and Ray ends the dead job's trial actors.
"""
from __future__ import annotations

import dataclasses
import functools
import math
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from ray import cloudpickle

from sweeps.tune import grid_sweep
from sweeps.store import results
from sweeps.store.lease import lease_path
from sweeps.plan.packs import with_packs
from sweeps.plan.sweep import plan_sweep
from sweeps.store.workdirs import remove_dead_workdirs
from sweeps.tune.trainable import TRIAL_FAILED

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "sweeps" / "run_grid.py"
cloudpickle.register_pickle_by_value(sys.modules[__name__])   # Faults runs inside trials


class Faults:
    """The real trainer; trial `once` SIGKILLs its own worker right after its first checkpoint
    reached Tune on its first attempt, trial `diverge` trains
    with λ_cycle = inf (the trainer's real non-finite loss, as a diverging trial meets it).
    Each attempt leaves a mark `<key>-<n>` holding its workdir."""

    def __init__(self, marks: Path, once: str, diverge: str):
        self.marks, self.once, self.diverge = marks, once, diverge

    def __call__(self, cfg, workdir: str, report):
        from trainer.run.loop import train
        attempt = len(list(self.marks.glob(f"{cfg.key()}-*"))) + 1
        (self.marks / f"{cfg.key()}-{attempt}").write_text(workdir)
        if cfg.key() == self.once and attempt == 1:
            report = functools.partial(_kill_after_checkpoint, report)
        if cfg.key() == self.diverge:   # TrialConfig refuses inf: set past its validation
            cfg = cfg.replace()
            object.__setattr__(cfg, "lambda_cycle", math.inf)
        return train(cfg, workdir, report=report)


def _kill_after_checkpoint(report, metrics: dict, checkpoint_dir: str | None) -> None:
    report(metrics, checkpoint_dir)
    if checkpoint_dir:
        os.kill(os.getpid(), signal.SIGKILL)


def _alone_at(cfg, workdir: Path, threads: int) -> dict:
    """The trial trained uninterrupted in this process with `threads` torch threads: bit for
    bit needs the threads the row was computed with (docs/contracts.md), and this process has
    a thread per core while a trial has one per CPU it reserves (1 here). At 2 threads the
    smoke trial's mean_iou moves at the 6th digit (0.0147256519 vs 0.0147257431 at 1)."""
    import torch
    from trainer.run.loop import train
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        return train(cfg, str(workdir)).to_row()
    finally:
        torch.set_num_threads(before)


def parse(*argv: str):
    return grid_sweep.build_parser().parse_args(list(argv))


def attempts(marks: Path, key: str) -> list[Path]:
    return sorted(marks.glob(f"{key}-*"))


@pytest.mark.slow
def test_a_killed_worker_resumes_and_a_diverged_trial_fails_at_once(ray_session,
                                                                   small_streets, tmp_path,
                                                                   capsys):
    marks = tmp_path / "marks"
    marks.mkdir()
    args = parse("--grid", "smoke", "--data-root", small_streets, "--storage",
                 str(tmp_path / "res"), "--max-failures", "1", "--gpus-per-trial", "0")
    plan = plan_sweep(args)
    plan = dataclasses.replace(plan, todo=plan.todo[:2])
    once, diverge = plan.todo
    outcome = grid_sweep.run_sweep(plan, args, train_fn=Faults(marks, once.key(), diverge.key()))
    assert not outcome.errors   # the killed trial was retried, the diverged one ended normally
    said = [line for line in capsys.readouterr().out.splitlines() if "retrying" in line]
    assert len(said) == 1 and re.fullmatch(   # the retry, in one line (SweepProgress)
        rf"trial {once.key()}: \w+Error; retrying from (step 2|its start) \(retry 1 of 1\)",
        said[0]), said
    rows = results.read_rows(plan.results, "smoke").set_index("trial_key")
    assert sorted(rows.index) == sorted([once.key(), diverge.key()])

    # The diverged trial: one attempt, a failed row naming the loss term, Tune told it failed.
    assert [p.name for p in attempts(marks, diverge.key())] == [f"{diverge.key()}-1"]
    failed = rows.loc[diverge.key()]
    assert failed["status"] == "failed" and failed["error"].startswith("NonFiniteLoss: ")
    last = {r.config["trial_key"]: r.metrics for r in outcome}[diverge.key()]
    assert last[TRIAL_FAILED] == 1 and math.isnan(last["val_score"])

    # Killed once: retried from its checkpoint to an ok row equal to an uninterrupted run; the
    # killed attempt's workdir was removed when the retry started.
    tried = attempts(marks, once.key())
    assert [p.name for p in tried] == [f"{once.key()}-1", f"{once.key()}-2"]
    assert not Path(tried[0].read_text()).exists()
    ok = rows.loc[once.key()]
    assert ok["status"] == "ok" and ok["steps_done"] == 4
    alone = _alone_at(once, tmp_path / "alone", threads=int(ok["torch_threads"]))
    assert [ok[c] for c in ("pixel_acc", "mean_iou")] == [alone[c] for c in ("pixel_acc",
                                                                           "mean_iou")]
    assert list(ok["paired_indices"]) == alone["paired_indices"]

    # The summary lists the failure beside the table and plots; the exit status is 1.
    summary = grid_sweep.summarize(plan)
    assert f"| {diverge.key()} |" in summary and "NonFiniteLoss: " in summary
    assert "plot:" in summary and grid_sweep.plan_status(plan)[0] == 1


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
    from sweeps.study.journal_search import JournalOptunaSearch
    storage = JournalStorage(JournalFileBackend(str(tmp_path / "j.journal")))
    search = JournalOptunaSearch(storage=storage, study_name="s", sampler=TPESampler(seed=0))
    assert search.set_search_properties("val_score", "max", {"x": tune.loguniform(1, 10)})
    search.suggest("t0")
    failure = {"row_written": 1, TRIAL_FAILED: 1, "val_score": math.nan, "training_iteration": 1}
    search.on_trial_result("t0", failure)
    search.on_trial_complete("t0", failure)
    (trial,) = optuna.load_study(study_name="s", storage=storage).trials
    assert trial.state == optuna.trial.TrialState.FAIL and trial.intermediate_values == {}


def _write(root: Path, cfg, status: str, **fields) -> str:
    now = results.utc_now()
    path = results.row_path(str(root), "smoke", cfg)
    results.write_row(path, results.make_row(cfg, "smoke", status, code_version="t",
                                             started_at=now, finished_at=now, **fields))
    return path


def test_a_torn_row_is_named_with_its_remedy(small_streets, tmp_path, capsys):
    """A row file cut short (rows are written whole: by hand, or a disk that lost its tail)."""
    argv = ["--grid", "smoke", "--data-root", small_streets, "--storage", str(tmp_path),
            "--dry-run"]
    path = _write(tmp_path, plan_sweep(parse(*argv)).cfgs[0], "ok")
    whole = Path(path).read_bytes()
    Path(path).write_bytes(whole[:len(whole) // 2])
    assert grid_sweep.main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {path}: not a readable results row (") and err.count("\n") == 1
    assert err.endswith("); delete that file to retrain its trial, or rerun with --force to "
                        "retrain every trial\n")
    assert grid_sweep.main([*argv, "--force"]) == 0   # the remedy: every trial to run
    assert "3 trials, 3 to run, 0 done" in capsys.readouterr().out


def test_a_grid_whose_trials_failed_or_vanished_is_summarised_and_exits_1(small_streets,
                                                                         tmp_path):
    """What the sweep prints at its end: every failed trial listed under the table (no plots
    to draw is a note, not the whole summary); a planned trial without a row fails the exit."""
    plan = plan_sweep(parse("--grid", "smoke", "--data-root", small_streets, "--storage",
                            str(tmp_path)))
    error = "NonFiniteLoss: non-finite loss at step 1: g_total = inf (engine.py:240)"
    for cfg in plan.cfgs:
        _write(tmp_path, cfg, "failed", error=error)
    summary = grid_sweep.summarize(plan)
    assert "### Failed trials (3)" in summary and summary.count(error) >= 3
    assert "no plots: " in summary and "no finished trials to plot" in summary
    assert grid_sweep.plan_status(plan)[0] == 1
    for cfg in plan.cfgs[:2]:
        _write(tmp_path, cfg, "ok", result={"pixel_acc": 0.5, "mean_iou": 0.2,
                                            "mean_class_acc": 0.3, "protocol": "segmentation"})
    os.remove(results.row_path(str(tmp_path), "smoke", plan.cfgs[2]))   # its row was lost
    assert grid_sweep.plan_status(plan) == (1, (
        f"grid smoke: 2 of 3 planned trials have an ok row; 0 failed or stopped, 1 have no row: "
        f"{plan.cfgs[2].key()} (a rerun retrains them)"))


@pytest.mark.parametrize("case, make, message", [
    ("storage a file", lambda d: d.joinpath("f").write_text("x") and ["--storage", str(d / "f")],
     "--storage {d}/f: a file, not a folder"),
    ("storage under a file",
     lambda d: d.joinpath("f").write_text("x") and ["--storage", str(d / "f" / "res")],
     "--storage {d}/f/res: a file, not a folder ({d}/f is a file)"),
    ("grid folder a file",
     lambda d: d.joinpath("smoke").write_text("x") and ["--storage", str(d)],
     "--storage {d}: {d}/smoke is a file, not a folder"),
    ("labels root missing",
     lambda d: ["--storage", str(d), "--grid", "table3", "--dataset", "toy-streets",
                "--labels-root", f"toy-synthlabels-far={d}/none", "--dry-run"],
     "--labels-root: dataset root {d}/none does not exist (toy-synthlabels-far)"),
    ("weights inf", lambda d: ["--storage", str(d), "--weights", "cycle=inf,identity=1,paired=1"],
     "--weights: cycle=inf must be a finite number >= 0"),
    ("weights nan", lambda d: ["--storage", str(d), "--weights", "cycle=1,identity=nan,paired=1"],
     "--weights: identity=nan must be a finite number >= 0"),
])
def test_bad_paths_and_weights_are_one_line_before_ray(small_streets, tmp_path, capsys, case,
                                                       make, message):
    argv = ["--grid", "smoke", "--data-root", small_streets, *make(tmp_path)]
    before = sorted(p.name for p in tmp_path.iterdir())
    assert grid_sweep.main(argv) == 2, case
    err = capsys.readouterr().err
    assert err == f"error: {message.format(d=tmp_path)}\n", case
    assert sorted(p.name for p in tmp_path.iterdir()) == before   # nothing written


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("setpriv"),
                    reason="runs the driver as user nobody (needs root and setpriv)")
def test_storage_an_unprivileged_user_cannot_write_is_one_line_before_ray():
    """As root every folder is writable: the driver runs as `nobody`, on storage owned by root."""
    base = Path(tempfile.mkdtemp(prefix="fewpair-faults-", dir="/tmp"))
    try:
        base.chmod(0o755)
        (base / "home").mkdir()
        shutil.chown(base / "home", "nobody")
        run = subprocess.run(
            ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", sys.executable,
             str(SCRIPT), "--grid", "smoke", "--storage", str(base / "res")],
            capture_output=True, text=True, timeout=300, cwd="/tmp",
            env={**os.environ, "HOME": str(base / "home"),
                 "FEWPAIR_CACHE": str(base / "home" / "cache")})
        assert (run.returncode, run.stdout) == (2, ""), run.stderr[-2000:]
        assert run.stderr == f"error: --storage {base}/res: cannot write in {base} " \
                             f"(Permission denied)\n"
        assert sorted(p.name for p in base.iterdir()) == ["home"]   # no Ray state, no lease
    finally:
        shutil.rmtree(base)


def test_a_torn_journal_is_repaired_and_the_trial_it_finished_counts(small_streets, tmp_path,
                                                                     capsys):
    """A study's journal cut inside its last record (the one that told trial 0 COMPLETE), as
    a crash mid-write leaves it: the next driver sets the cut record aside with a warning,
    and trial 0's `ok` row makes it COMPLETE again; damaged before its end, it is refused."""
    import optuna
    from sweeps.study import study as studies
    from sweeps.study import study_run
    journal = tmp_path / "j.journal"
    argv = ["--grid", "smoke", "--data-root", small_streets, "--trials", "2", "--eval-every",
            "1", "--journal", str(journal), "--storage", str(tmp_path / "res"),
            "--gpus-per-trial", "0"]
    started = studies.open_study(study_run.build_parser().parse_args([*argv, "--study", "a"]))
    ot_study = optuna.load_study(study_name="a", storage=studies.journal_storage(str(journal)))
    trial = ot_study.ask()
    params = {name: trial.suggest_float(name, low, high, log=True)
              for name, (low, high) in studies.SEARCH.items()}
    cfg = studies.trial_config(started.base, params)
    now = results.utc_now()
    results.write_row(results.row_path(started.results, started.grid_name, cfg), results.make_row(
        cfg, started.grid_name, "ok", result={"val_score": 0.25}, code_version="t",
        started_at=now, finished_at=now))
    ot_study.tell(trial, 0.25)
    whole = journal.read_bytes()
    journal.write_bytes(whole[:-40])
    capsys.readouterr()

    studies.open_study(study_run.build_parser().parse_args([*argv, "--study", "b"]))
    err = capsys.readouterr().err
    assert f"warning: journal {journal}: its last record (set_trial_state_values, " in err
    text, found = study_run.summarize(started)
    assert found and "best: trial 0, mean_iou 0.25 on the holdout" in text
    assert "note: trial 0 of study a finished (ok rows) but the journal had lost the record: " \
           "told COMPLETE" in capsys.readouterr().err

    cut = journal.read_bytes()
    journal.write_bytes(cut[:-10])
    with pytest.raises(AssertionError, match="Should not reach"):   # Optuna appends after it
        optuna.create_study(study_name="c", storage=studies.journal_storage(str(journal)))
    assert study_run.main([*argv, "--study", "d"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: journal {journal}: record ") and err.count("\n") == 1
    offset = cut[:-10].rfind(b"\n") + 1   # where the damaged record starts
    assert err.rstrip().endswith(f"truncate -s {offset} {journal}")


def _wait(condition, driver: subprocess.Popen, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and driver.poll() is None:
        if condition():
            return
        time.sleep(0.2)
    raise AssertionError(f"no {what} within {timeout:.0f}s (driver rc={driver.poll()})")


@pytest.mark.slow
def test_a_second_driver_is_refused_and_a_killed_one_is_resumed(ray_session, small_streets,
                                                                tmp_path, capsys):
    storage = tmp_path / "res"
    argv = ["--grid", "smoke", "--data-root", small_streets, "--storage", str(storage),
            "--gpus-per-trial", "0", "--max-concurrent", "1"]
    address = ray_session.get_runtime_context().gcs_address
    log = tmp_path / "first.log"
    first = subprocess.Popen([sys.executable, str(SCRIPT), *argv, "--address", address],
                             stdout=log.open("w"), stderr=subprocess.STDOUT,
                             start_new_session=True)
    lease = Path(lease_path(str(storage), "smoke"))
    try:
        _wait(lease.is_file, first, 120, "lease")
        assert grid_sweep.main(argv) == 2   # the second driver, while the first trains
        err = capsys.readouterr().err
        assert err.startswith(f"error: grid 'smoke' at {storage} is being run by another "
                              f"driver: host ") and f", pid {first.pid}, started " in err
        assert err.count("\n") == 1
        ok_rows = lambda: [f for f in results.row_files(str(storage), "smoke")   # noqa: E731
                           if results.row_status(f) == "ok"]
        _wait(lambda: ok_rows() and list((storage / "_ray" / "smoke").glob(
            "experiment_state-*.json")), first, 240, "ok row and Tune state")
    finally:
        os.killpg(first.pid, signal.SIGKILL)   # no cleanup code of its own runs
        first.wait(timeout=30)
    assert first.returncode == -signal.SIGKILL, log.read_text()[-3000:]
    kept = {f: os.stat(f).st_mtime_ns for f in ok_rows()}
    assert 1 <= len(kept) < 3 and lease.is_file()   # the dead driver's lease is left behind
    plan = plan_sweep(parse(*argv))   # what the grid's exit status sees now: trials, no rows
    missing = [c.key() for c in plan.cfgs if results.row_status(
        results.row_path(str(storage), "smoke", c)) is None]
    assert grid_sweep.plan_status(plan) == (1, (
        f"grid smoke: {len(kept)} of 3 planned trials have an ok row; 0 failed or stopped, "
        f"{len(missing)} have no row: {', '.join(missing)} (a rerun retrains them)"))

    assert grid_sweep.main([*argv, "--resume"]) == 0
    err = capsys.readouterr().err
    assert "note: took over the lease of grid 'smoke' from a driver that is gone (host " in err
    assert f"pid {first.pid} no longer exists on this host)" in err
    rows = results.read_rows(str(storage), "smoke")
    assert sorted(rows["trial_key"]) == sorted(c.key() for c in plan_sweep(parse(*argv)).cfgs)
    assert (rows["status"] == "ok").all() and len(rows) == 3
    assert {f: os.stat(f).st_mtime_ns for f in kept} == kept   # finished trials not retrained
    assert not lease.exists()


def test_the_progress_line_counts_a_trial_failed_for_good_as_failed():
    from types import SimpleNamespace
    from sweeps.tune.progress import SweepProgress
    progress = SweepProgress("g", {"a": 4, "b": 4}, out=lambda line: None, every_s=1e9)
    for key, last in (("a", {TRIAL_FAILED: 1, "val_score": math.nan}), ("b", {})):
        trial = SimpleNamespace(config={"trial_key": key}, last_result=last)
        progress.on_trial_start(0, [], trial)
        progress.on_trial_complete(0, [], trial)
    assert progress.line(1.0).startswith("sweep g: 1/2 trials done, 0 running, 1 failed")


def _restart_steps(storage: Path) -> dict[str, list[int]]:
    """Tune trial folder -> the steps at which its reported steps went back (a retry or resume
    from an earlier step), from its result.json (every attempt's results, in order)."""
    import json
    out = {}
    for found in (storage / "_ray" / "smoke").glob("*/result.json"):
        steps = [r["timesteps_total"] for r in map(json.loads, found.read_text().splitlines())
                 if "timesteps_total" in r and "row_written" not in r]   # (not a last result)
        out[found.parent.name] = [b for a, b in zip(steps, steps[1:]) if b <= a]
    return out


@pytest.mark.slow
def test_a_driver_killed_during_a_packed_sweep_resumes_each_member_from_its_checkpoint(
        ray_session, small_streets, tmp_path):
    storage = tmp_path / "res"
    argv = ["--grid", "smoke", "--data-root", small_streets, "--storage", str(storage),
            "--gpus-per-trial", "0", "--pack", "2", "--max-concurrent", "1", "--set",
            "steps=60", "--set", "checkpoint_every=10", "--set", "report_every=5"]
    plan = with_packs(plan_sweep(parse(*argv)), 2, 0.0)
    first, second = [p.keys for p in plan.packs]
    assert (len(first), len(second)) == (2, 1)
    address = ray_session.get_runtime_context().gcs_address
    log = tmp_path / "first.log"
    driver = subprocess.Popen([sys.executable, str(SCRIPT), *argv, "--address", address],
                              stdout=log.open("w"), stderr=subprocess.STDOUT,
                              start_new_session=True)
    rows = lambda: {Path(f).stem: results.row_status(f)   # noqa: E731
                    for f in results.row_files(str(storage), "smoke")}
    ray_dir = storage / "_ray" / "smoke"
    try:   # the first pack's rows written, the second pack checkpointed: kill it there
        _wait(lambda: len(rows()) == 2 and any(
            p.name.startswith(plan.packs[1].id) for c in ray_dir.glob("*/checkpoint_*")
            for p in [c.parent]), driver, 300, "the second pack's checkpoint")
    finally:
        os.killpg(driver.pid, signal.SIGKILL)
        driver.wait(timeout=30)
    assert rows() == {key: "ok" for key in first}, log.read_text()[-3000:]
    kept = {f: os.stat(f).st_mtime_ns for f in results.row_files(str(storage), "smoke")}

    assert grid_sweep.main([*argv, "--resume"]) == 0
    assert rows() == {key: "ok" for key in (*first, *second)}   # one row each, all ok
    assert {f: os.stat(f).st_mtime_ns for f in kept} == kept    # the first pack not retrained
    # The second pack had a checkpoint (step 10 or later) when the driver died. Resumed from
    # it, its first report is a checkpoint's step + 5 (>= 15), which repeats a report made
    # before the kill when the kill landed after that report; resumed from step 0 it would
    # report 5 again. The first pack, finished, never restarts.
    restarts = {name.split("_")[0]: found for name, found in _restart_steps(storage).items()}
    assert restarts[plan.packs[0].id] == []
    assert all(step >= 15 for step in restarts[plan.packs[1].id]), restarts
