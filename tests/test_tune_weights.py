"""sweeps/tune_weights.py on the session's real local Ray (2 CPUs) with the real trainer at the
smoke grid's sizes: a study of five trials in an Optuna journal file, ASHA's early stops as
PRUNED trials and `stopped` rows, the printed weights run through run_grid's own parser, a
study whose driver is SIGKILLed and then resumed, and one whose driver gets Ctrl-C (a real
SIGINT) and then runs the resume command it printed. Bad input: one line, exit 2, before any Ray.

The killed driver joins the session's Ray (it starts no Ray process of its own): its process
group is killed and Ray ends the dead job's trial actors.
"""
from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import time
from pathlib import Path

import drivers
import optuna
import pytest
from optuna.trial import TrialState

from sweeps import run_grid, tune_weights
from sweeps.store import results
from sweeps.study import study as study_setup, study_run
from sweeps.plan.sweep import plan_sweep
from trainer.core.config import TrialConfig

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "sweeps" / "tune_weights.py"
STUDY = "smoke-study"
GRID = f"tune-{STUDY}"
TRIALS = 4


@pytest.fixture(scope="module")
def small_root(fewpair_cache) -> str:
    from trainer.data import toy_root
    return str(toy_root("toy-streets", "small"))


def study_argv(tmp_path: Path, root: str) -> list[str]:
    """Four trials of the smoke grid (4 steps, a pool of 8 of 40 images), a validation pass on 4
    holdout images every step (ASHA's rungs at steps 1 and 2), one trial at a time so that
    ASHA's decisions do not hang on which trial Ray ran first; 1 CPU and no GPU each."""
    return ["--grid", "smoke", "--data-root", root, "--trials", str(TRIALS), "--eval-every", "1",
            "--eval-limit", "4", "--seed", "3", "--study", STUDY,
            "--journal", str(tmp_path / "optuna.journal"), "--storage", str(tmp_path / "res"),
            "--gpus-per-trial", "0", "--max-concurrent", "1"]


def load_study(tmp_path: Path) -> optuna.Study:
    storage = study_setup.journal_storage(str(tmp_path / "optuna.journal"))
    return optuna.load_study(study_name=STUDY, storage=storage)


def check_study_and_rows(tmp_path: Path) -> list[optuna.trial.FrozenTrial]:
    """The journal holds TRIALS finished trials, none duplicated, and each has one row that says
    the same: `ok` and its value for COMPLETE, `stopped` with why and how far for PRUNED."""
    study = load_study(tmp_path)
    trials = study.trials
    assert [t.number for t in trials] == list(range(TRIALS))
    assert all(t.state in (TrialState.COMPLETE, TrialState.PRUNED) for t in trials), \
        [t.state for t in trials]
    assert all(set(t.params) == set(study_setup.SEARCH) for t in trials)
    assert len({tuple(sorted(t.params.items())) for t in trials}) == TRIALS
    base = TrialConfig.from_dict(study.user_attrs["fewpair"]["base"])   # the stored setup
    assert (base.mode, base.paired_budget, base.eval_split, base.eval_every) == \
        ("hybrid", 5, "holdout", 1)
    rows = results.read_rows(str(tmp_path / "res" / "_tune"), GRID).set_index("trial_key")
    by_key = {study_setup.trial_config(base, t.params).key(): t for t in trials}
    assert sorted(rows.index) == sorted(by_key)
    for key, trial in by_key.items():
        row = rows.loc[key]
        assert row["grid"] == GRID and row["eval_split"] == "holdout" and row["unpaired"] == 8
        assert {name: row[name] for name in trial.params} == trial.params
        assert (row["pack_size"], row["torch_threads"]) == (1, 1)   # how it was computed,
        assert row["torch_version"]                                 # a pruned trial's too
        if trial.state == TrialState.COMPLETE:
            assert row["status"] == "ok" and row["steps_done"] == 4
            assert row["val_score"] == trial.value == row["mean_iou"]
        else:
            assert row["status"] == "stopped" and row["steps_done"] < 4
            assert row["error"] == (f"stopped early at step {row['steps_done']} (val_score "
                                    f"{row['val_score']:.4g}): below an ASHA rung's cutoff, "
                                    f"PRUNED in study {STUDY}")
    return trials


@pytest.mark.slow
def test_a_study_records_its_trials_stops_weak_ones_and_prints_usable_weights(
        ray_session, small_root, tmp_path, capsys):
    assert tune_weights.main(study_argv(tmp_path, small_root)) == 0
    out = capsys.readouterr().out
    trials = check_study_and_rows(tmp_path)
    # the study's rows are not the grids': `python -m analysis <storage>` does not read them
    assert [p.name for p in (tmp_path / "res").iterdir()] == ["_tune"]
    pruned = [t for t in trials if t.state == TrialState.PRUNED]
    assert out.count("below an ASHA rung's cutoff, PRUNED in study") == len(pruned)
    states = [t.state for t in trials]
    assert TrialState.PRUNED in states and TrialState.COMPLETE in states   # ASHA stopped some
    best = max((t for t in trials if t.state == TrialState.COMPLETE), key=lambda t: t.value)
    assert f"study {STUDY}: {TRIALS} trials" in out
    assert f"best: trial {best.number}, mean_iou {best.value:.4g} on the holdout (4 images)" in out

    # The printed command, run through run_grid's own parser and planner.
    command = shlex.split(out.rstrip("\n").split("\n")[-1])
    assert command[:2] == ["python", "sweeps/run_grid.py"]
    argv = command[2:] + ["--storage", str(tmp_path / "grid-results")]
    assert run_grid.main(argv + ["--dry-run"]) == 0
    plan = plan_sweep(run_grid.build_parser().parse_args(argv))
    assert plan.grid == "smoke" and len(plan.cfgs) == 3
    for cfg in plan.cfgs:
        for name, value in best.params.items():
            assert getattr(cfg, name) == pytest.approx(value, rel=1e-5)   # printed to 6 digits
        assert cfg.lambda_adv == 1.0                                        # not searched


def _wait_for_finished(tmp_path: Path, n: int, driver: subprocess.Popen, timeout: float) -> None:
    """Until the journal holds n finished trials (the driver still running)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and driver.poll() is None:
        journal = tmp_path / "optuna.journal"
        if journal.is_file() and STUDY in journal.read_text():
            done = [t for t in load_study(tmp_path).trials if t.state.is_finished()]
            if len(done) >= n:
                return
        time.sleep(0.2)
    raise AssertionError(f"no {n} finished trials within {timeout:.0f}s (rc={driver.poll()})")


@pytest.mark.slow
def test_a_killed_study_resumes_to_the_requested_trials_none_duplicated(
        ray_session, small_root, tmp_path, capsys):
    argv = study_argv(tmp_path, small_root)
    address = ray_session.get_runtime_context().gcs_address
    log = tmp_path / "first.log"
    with drivers.started(SCRIPT, [*argv, "--address", address], log) as first:
        _wait_for_finished(tmp_path, 1, first, timeout=180)
        drivers.kill(first)   # no cleanup code of its own runs
    assert first.returncode == -signal.SIGKILL, log.read_text()[-3000:]
    before = load_study(tmp_path).trials
    assert 1 <= len([t for t in before if t.state.is_finished()]) < TRIALS
    kept = {f: os.stat(f).st_mtime_ns for f in results.row_files(str(tmp_path / "res" / "_tune"), GRID)
            if results.row_status(f) == "ok"}

    assert tune_weights.main([*argv, "--resume"]) == 0
    assert f"study {STUDY}: {TRIALS} trials" in capsys.readouterr().out
    trials = check_study_and_rows(tmp_path)
    for old in before:   # trials asked before the kill kept their number and their λs
        assert trials[old.number].params == old.params
    assert {f: os.stat(f).st_mtime_ns for f in kept} == kept   # finished trials were not rerun


def _mid_study(tmp_path: Path) -> bool:
    """Whether the journal holds a finished trial and a running one that has reported a score."""
    journal = tmp_path / "optuna.journal"
    if not (journal.is_file() and STUDY in journal.read_text()):
        return False
    trials = load_study(tmp_path).trials
    return any(t.state.is_finished() for t in trials) and any(
        t.state == TrialState.RUNNING and t.intermediate_values for t in trials)


@pytest.mark.slow
def test_ctrl_c_stops_the_study_quietly_and_its_resume_command_finishes_it(
        ray_session, small_root, tmp_path, capsys):
    """A real SIGINT to a real driver mid-study: exit 130, the resume line and, before it, the
    driver's default output (the progress line, no Tune table or checkpoint notes); the printed
    command then ends the study with its trials, none duplicated."""
    argv = study_argv(tmp_path, small_root)
    address = ray_session.get_runtime_context().gcs_address
    log = tmp_path / "driver.log"
    with drivers.started(SCRIPT, [*argv, "--address", address], log) as driver:
        deadline = time.monotonic() + 180
        while not _mid_study(tmp_path):
            assert time.monotonic() < deadline and driver.poll() is None, log.read_text()[-3000:]
            time.sleep(0.2)
        text = drivers.ctrl_c(driver, log, timeout=120)
    # (each of these is there with --verbose)
    for chatter in ("Trial status", "== Status ==", "╭", "Checkpoint successfully",
                    "A new study created"):
        assert chatter not in text, text[-3000:]
    assert f"sweep {GRID}: 1/{TRIALS} trials done" in text   # run_grid's progress line
    done = sum(t.state.is_finished() for t in load_study(tmp_path).trials)
    assert 1 <= done < TRIALS
    assert f"interrupted: {done} of {TRIALS} trials of study {STUDY} have finished (in " \
           f"{tmp_path / 'optuna.journal'}); the rest resume from their checkpoints with:\n" \
           f"  python sweeps/tune_weights.py " in text
    resume = shlex.split(text.split("python sweeps/tune_weights.py ", 1)[1].splitlines()[0])
    assert resume == [*argv, "--address", address, "--resume"]
    stopped = [results.read_row(f) for f in results.row_files(str(tmp_path / "res" / "_tune"), GRID)
               if results.row_status(f) == "stopped"]
    assert len(stopped) == 1 and "interrupted at step " in stopped[0]["error"], stopped
    step = int(stopped[0]["error"].split("interrupted at step ")[1].split(";")[0])
    assert 0 < step < 4   # it checkpointed mid-trial

    assert tune_weights.main(resume) == 0   # the printed command, on the session's Ray
    assert f"study {STUDY}: {TRIALS} trials" in capsys.readouterr().out
    check_study_and_rows(tmp_path)
    [reported] = [[json.loads(line) for line in found.read_text().splitlines()]
                  for found in (tmp_path / "res" / "_tune" / "_ray" / GRID).glob("*/result.json")
                  if '"interrupted": 1' in found.read_text()]   # the stopped trial's results
    at = [r.get("interrupted") for r in reported].index(1)
    assert reported[at]["step"] == step and reported[at + 1]["step"] == step + 1, \
        [r.get("step") for r in reported]                        # resumed from that checkpoint


# --- bad input: one line, exit 2, before Ray starts -------------------------------------------
def _started(tmp_path: Path, root: str) -> study_setup.Study:
    """A started study (setup in the journal) with one trial asked, as a killed run leaves it."""
    args = tune_weights.build_parser().parse_args(study_argv(tmp_path, root))
    study = study_setup.open_study(args)
    load_study(tmp_path).ask()
    return study


def test_bad_input_is_one_line_and_exit_2(small_root, tmp_path, capsys):
    argv = study_argv(tmp_path, small_root)
    at = argv.index("--journal")
    no_journal = argv[:at] + argv[at + 2:]
    cases = [
        ([*argv, "--resume"], "--resume: no journal file "),
        ([*argv, "--eval-every", "4"], "--eval-every 4 must be in [1, 3]"),
        ([*argv, "--journal", "s3://bucket/optuna.journal"], "the Optuna journal is a file path"),
        ([*no_journal, "--storage", "s3://bucket/res"], "--storage s3://bucket/res: a URI holds no "
                                                  "Optuna journal; give --journal FILE"),
        ([*argv, "--results", "res"], "--results res: say --storage res (the results root, as "
                                      "in run_grid); the Optuna journal is --journal FILE"),
        ([*argv, "--storage", "results/optuna.journal"],   # the old meaning of --storage
         "--storage results/optuna.journal: a journal file; --storage is the results root now "
         "(as in run_grid), the journal --journal results/optuna.journal"),
        ([*argv, "--study", "a b"], "--study 'a b': use letters"),
        ([*argv, "--trials", "0"], "--trials 0 must be >= 1"),
        ([*argv, "--grid", "demo"], "grid demo's pool of 40 unpaired images leaves none of "
                                    "toy-streets's 40 training images to validate on"),
        ([*argv, "--grid", "nope"], "unknown grid 'nope' (valid: "),
        ([*argv, "--gpus-per-trial", "-1"], "--gpus-per-trial -1"),
    ]
    for case, message in cases:
        assert tune_weights.main(case) == 2, case
        err = capsys.readouterr().err
        assert err.startswith("error: ") and message in err, (case, err)
        assert err.count("\n") == 1
    assert not (tmp_path / "optuna.journal").exists()   # nothing written for bad flags
    study = _started(tmp_path, small_root)
    assert study.setup["eval_every"] == 1 and study.base.checkpoint_every == 1
    for case, message in [
            (argv, f"study '{STUDY}' already holds 1 trials in "),
            ([*argv, "--resume", "--paired-budget", "3"],
             f"--paired-budget 3: study '{STUDY}' was started with 5; --resume continues it"),
            ([*argv, "--resume"], f"--resume: no Tune state of study '{STUDY}' at "),
            ([*argv, "--resume", "--study", "other"], "--resume: no study 'other' in ")]:
        assert tune_weights.main(case) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"error: {message}") and err.count("\n") == 1, err
    assert not (tmp_path / "res").exists()   # no trial ran, no Tune state was written


def test_a_best_of_too_few_finishers_says_so(small_root, tmp_path):
    """One trial ran to its end, two were pruned: the best is named as the best of one."""
    from optuna.distributions import FloatDistribution
    from optuna.trial import create_trial
    study = _started(tmp_path, small_root)        # its trial 0 asked, never told
    ot_study = load_study(tmp_path)
    space = {k: FloatDistribution(*bounds, log=True) for k, bounds in study_setup.SEARCH.items()}
    params = {k: bounds[0] for k, bounds in study_setup.SEARCH.items()}
    ot_study.add_trial(create_trial(params=params, distributions=space, value=0.3))
    ot_study.add_trial(create_trial(params=params, distributions=space,
                                    state=TrialState.PRUNED, intermediate_values={1: 0.1}))
    text, found = study_run.summarize(study)
    assert found and "note: only 1 of 3 trials ran to their end" in text
    assert "best: trial 1, mean_iou 0.3 " in text


def test_read_row_returns_the_asked_columns_it_has(tmp_path):
    """What a skipped trial reports (sweeps.tune.trainable): its row's headline, as stored."""
    cfg = TrialConfig(lambda_paired=99.0)
    path = results.row_path(str(tmp_path), GRID, cfg)
    assert results.read_row(path) == {}
    now = results.utc_now()
    results.write_row(path, results.make_row(cfg, GRID, "ok", result={"val_score": 0.25},
                                             code_version="t", started_at=now, finished_at=now))
    assert results.read_row(path, ("val_score", "mean_iou", "lambda_paired", "no_such")) == \
        {"val_score": 0.25, "mean_iou": None, "lambda_paired": 99.0}   # one schema: null there
    assert results.read_row(path)["trial_key"] == cfg.key()


# --- the searcher on its own (no trial runs) ----------------------------------------------------
def _searcher(tmp_path: Path, **setup):
    """A JournalOptunaSearch on the study STUDY in tmp_path's journal, as make_tuner builds it."""
    from optuna.samplers import TPESampler
    from sweeps.study.journal_search import JournalOptunaSearch
    storage = study_setup.journal_storage(str(tmp_path / "optuna.journal"))
    search = JournalOptunaSearch(storage=storage, study_name=STUDY, sampler=TPESampler(seed=0))
    space = study_run.param_space({"tune_adv": False, "tune_gan_loss": False, **setup})
    assert search.set_search_properties("val_score", "max", space)
    return search, storage


def test_the_search_space_and_each_suggestion_names_its_optuna_trial(tmp_path):
    search, _ = _searcher(tmp_path, tune_adv=True, tune_gan_loss=True)
    ranges = {**study_setup.SEARCH, "lambda_adv": study_setup.ADV_RANGE}
    for number in range(6):
        config = search.suggest(f"t{number}")
        assert config["optuna_trial"] == number
        for name, (low, high) in ranges.items():
            assert low <= config[name] <= high, name
        assert config["gan_loss"] in ("rsgan", "rasgan", "ralsgan", "lsgan", "vanilla")
        cfg = study_setup.trial_config(TrialConfig(), config)   # what the trial trains
        assert (cfg.lambda_adv, cfg.gan_loss) == (config["lambda_adv"], config["gan_loss"])
    plain, _ = _searcher(tmp_path / "plain")
    assert set(plain.suggest("t0")) == {*study_setup.SEARCH, "optuna_trial"}


def test_a_resumed_searcher_adopts_a_trial_the_killed_driver_was_asking(tmp_path):
    """The driver died after writing one of the trial's λs: the trial keeps its number and that
    λ, the rest are drawn; the next suggestion is a new trial; a stop is told as PRUNED, a run
    to its end as COMPLETE; FinishedInJournal then stops reruns of both."""
    from sweeps.study.journal_search import FinishedInJournal
    search, storage = _searcher(tmp_path)
    study = optuna.load_study(study_name=STUDY, storage=storage)
    orphan = study.ask()
    orphan.suggest_float("lambda_cycle", 1.0, 100.0, log=True)   # ...then SIGKILL
    resumed, _ = _searcher(tmp_path)
    adopted = resumed.suggest("tune-a")
    assert adopted["optuna_trial"] == 0 and adopted["lambda_cycle"] == orphan.params["lambda_cycle"]
    assert set(adopted) == {*study_setup.SEARCH, "optuna_trial"}
    assert resumed.suggest("tune-b")["optuna_trial"] == 1
    resumed.on_trial_complete("tune-a", {"val_score": 0.2, "step": 1})          # stopped early
    resumed.on_trial_complete("tune-b", {"val_score": 0.3, "row_written": 1})   # ran to its end
    states = [(t.number, t.state) for t in study.trials]
    assert states == [(0, TrialState.PRUNED), (1, TrialState.COMPLETE)]
    assert study.trials[1].value == 0.3
    stopper = FinishedInJournal(storage, STUDY)
    assert stopper("x", {"config": {"optuna_trial": 0}})
    assert stopper("y", {"config": {"optuna_trial": 1}})
    assert not stopper("z", {"config": {"optuna_trial": 2}}) and not stopper("z", {})
