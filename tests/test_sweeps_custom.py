"""Custom experiments without editing Python (run_grid's --grid-file, --set, --seeds, --export),
the progress table's trial labels, the driver's progress line and ETA, the environment
forwarded to a cluster's workers, and help that shows every default. No Ray trials run here."""
from __future__ import annotations

import argparse
from types import SimpleNamespace

import pytest
from ray.exceptions import ActorDiedError, RayTaskError

from sweeps import run_grid, tune_weights
from sweeps.plan import sweep as sweep_plan
from sweeps.tune import grid_sweep, launch
from sweeps.plan.custom import customise, parse_sets
from sweeps.plan.grids import expand, get_grid
from sweeps.tune.progress import SweepProgress
from test_cli_help import unexplained

GRID_FILE = """
name: mine
dataset: toy-streets
base: {image_size: 32, load_size: 36, ngf: 8, ndf: 8, n_blocks: 2, steps: 50, unpaired: 20}
arms:
  - label: hybrid
    fixed: {mode: hybrid}
    axes: {paired_budget: [1, 5], selection: [random, kmedoids], seed: [0, 1]}
  - label: baseline
    fixed: {mode: unpaired, paired_budget: 0}
"""


def plan_for(argv: list[str], tmp_path):
    args = run_grid.build_parser().parse_args([*argv, "--storage", str(tmp_path / "out")])
    return sweep_plan.plan_sweep(args)


def test_a_grid_file_is_a_grid_and_its_rows_go_under_its_name(tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text(GRID_FILE)
    plan = plan_for(["--grid-file", str(path)], tmp_path)
    assert plan.grid == "mine" and len(plan.cfgs) == 2 * 2 * 2 + 1
    assert {(c.mode, c.paired_budget, c.steps, c.unpaired) for c in plan.cfgs} >= \
        {("hybrid", 5, 50, 20), ("unpaired", 0, 50, 20)}
    assert plan.experiment.endswith("/out/_ray/mine")


@pytest.mark.parametrize("text, message", [
    ("dataset: toy-streets\narms: [{axes: {seed: [0]}}]\nbase: {stepz: 3}",
     "unknown config field 'stepz'"),
    ("dataset: toy-streets\narms: [{fixd: {}}]", "unknown key arms[0].'fixd'"),
    ("dataset: toy-streets\narms: [{axes: {seed: 3}}]", "arms[0].axes.seed must be a non-empty"),
    ("dataset: toy-streets\narms: [{fixed: {mode: pix2pix}}]", "mode='pix2pix' is not one of"),
    ("arms: [{}]", "needs 'dataset' and at least one arm"),
    ("name: [unclosed", "not YAML/JSON"),
])
def test_a_bad_grid_file_is_one_line_naming_the_file(tmp_path, capsys, text, message):
    path = tmp_path / "g.yaml"
    path.write_text(text)
    code = run_grid.main(["--grid-file", str(path), "--dry-run", "--storage", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1
    assert err.startswith(f"error: --grid-file {path}: ") and message in err, err


def test_set_overrides_every_trial_and_is_typed_by_trialconfig(tmp_path):
    plan = plan_for(["--grid", "demo", "--set", "steps=20", "--set", "precision=bf16",
                     "--set", "balance=false", "--set", "lambda_paired=50"], tmp_path)
    assert {(c.steps, c.precision, c.balance, c.lambda_paired) for c in plan.cfgs} == \
        {(20, "bf16", False, 50.0)}
    assert parse_sets(["judge=none"]) == {"judge": "none"}   # a str field keeps the text
    assert parse_sets(["unpaired_labels_root=none"]) == {"unpaired_labels_root": None}


@pytest.mark.parametrize("argv, message", [
    (["--set", "stepz=3"], "--set stepz: unknown TrialConfig field (did you mean 'steps'?) "
                          "(valid: arch, balance, beta1"),
    (["--set", "steps=lots"], "--set steps=lots: steps takes a int"),
    (["--set", "steps"], "--set 'steps': expected FIELD=VALUE"),
    (["--set", "dataset=cityscapes"], "--set dataset: use --dataset"),
    (["--set", "precision=fp8"], "--set: precision='fp8' is not one of fp32, bf16"),
    (["--set", "paired_budget=3"], "--set: paired_budget=3 must be 0 in mode='unpaired'"),
    (["--grid", "demo", "--grid-file", "x.yaml"], "give --grid or --grid-file, not both"),
    (["--seeds", "0-x"], "argument --seeds: '0-x': expected e.g. 0-9 or 0,1,5"),
    (["--seeds", "3-1"], "argument --seeds: '3-1': expected e.g. 0-9 or 0,1,5 (a range runs "
                         "upwards)"),   # a range with no seed in it, not an empty sweep
])
def test_bad_custom_flags_are_one_line_and_exit_2(tmp_path, capsys, argv, message):
    try:
        code = run_grid.main([*argv, "--dry-run", "--storage", str(tmp_path)])
    except SystemExit as exit_:
        code = exit_.code
    err = capsys.readouterr().err
    assert code == 2
    if message:
        assert err.startswith(f"error: {message}") and err.count("\n") == 1, err


def test_seeds_replace_every_arms_seeds_and_export_gets_a_folder_per_trial(tmp_path):
    cfgs = expand(get_grid("demo"))
    out = customise(cfgs, {}, (4, 5), str(tmp_path / "exp"))
    settings = {c.replace(seed=0).key() for c in cfgs}
    assert len(out) == 2 * len(settings) and {c.seed for c in out} == {4, 5}
    assert all(c.export_dir == str(tmp_path / "exp" / c.key()) for c in out)
    plan = plan_for(["--grid", "demo", "--seeds", "0-9"], tmp_path)
    assert len(plan.cfgs) == 10 * len(settings)


def test_tune_asks_exactly_the_planned_trials_with_their_varying_fields(tmp_path):
    """Ray's progress table shows a column per categorical: the key and what varies."""
    plan = plan_for(["--grid", "smoke"], tmp_path)
    points = grid_sweep.trial_points(plan)
    assert points == [{"trial_key": c.key(), "mode": c.mode, "paired_budget": c.paired_budget,
                       "selection": c.selection} for c in plan.todo]
    space = grid_sweep.param_space(plan)
    assert list(space) == ["trial_key", "mode", "paired_budget", "selection"]
    assert space["mode"].categories == ["hybrid", "unpaired"]
    assert grid_sweep.search_alg(plan)._points_to_evaluate == points


def _trial(key: str):
    return SimpleNamespace(config={"trial_key": key})


def test_the_driver_prints_trials_steps_and_an_eta(tmp_path):
    lines: list[str] = []
    progress = SweepProgress("g", {"a": 100, "b": 300}, out=lines.append, every_s=1e9)
    progress.on_trial_start(0, [], _trial("a"))
    progress.on_trial_start(0, [], _trial("b"))
    progress.on_trial_result(0, [], _trial("b"), {"timesteps_total": 100})
    progress.on_trial_complete(0, [], _trial("a"))
    progress.started -= 60                     # pretend the sweep has run for a minute
    assert progress.line(60.0) == ("sweep g: 1/2 trials done, 1 running, 0 failed · "
                                   "200/400 steps (50%) · 1m00s · ETA 1m00s")
    assert lines[0].startswith("sweep g: 1/2 trials done, 1 running")   # printed on completion
    progress.on_trial_recover(0, [], _failing(tmp_path, "b", ActorDiedError(), failures=1,
                                              step=200))
    assert lines[-1] == "trial b: ActorDiedError; retrying from step 200 (retry 1 of 2)"
    cause = RayTaskError("run_trial", "Traceback ...", OSError("disk full"))
    progress.on_trial_error(0, [], _failing(tmp_path, "b", cause, failures=3, step=250))
    assert lines[-2:][0] == "trial b: OSError; failed after 2 retries (Tune's error file: " \
                            "/r/b/error.txt)"   # then the progress line
    assert progress.line(3725.0).startswith("sweep g: 1/2 trials done, 0 running, 1 failed")
    assert "1h02m" in progress.line(3725.0)


def _failing(folder, key: str, error: BaseException, failures: int, step: int):
    """What SweepProgress reads of a Tune Trial that failed `failures` times (its latest
    checkpoint at `step`), as ray.tune.experiment.Trial has it: the error pickled by Tune."""
    from ray import cloudpickle
    pickled = folder / f"{key}-error.pkl"
    pickled.write_bytes(cloudpickle.dumps(error))
    return SimpleNamespace(config={"trial_key": key}, num_failures=failures, max_failures=2,
                           error_file=f"/r/{key}/error.txt", pickled_error_file=str(pickled),
                           latest_checkpoint_result=SimpleNamespace(
                               metrics={"timesteps_total": step}))


def test_cache_and_weights_reach_a_joined_clusters_workers_as_absolute_paths(tmp_path,
                                                                            monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("FEWPAIR_CACHE", "cache")
    monkeypatch.setenv("FEWPAIR_RESNET50_WEIGHTS", "weights/resnet50-11ad3fa6.pth")
    assert launch.forwarded_env() == {
        "FEWPAIR_CACHE": str(tmp_path / "cache"),
        "FEWPAIR_RESNET50_WEIGHTS": str(tmp_path / "weights" / "resnet50-11ad3fa6.pth")}
    monkeypatch.delenv("FEWPAIR_RESNET50_WEIGHTS")
    assert list(launch.forwarded_env()) == ["FEWPAIR_CACHE"]


@pytest.mark.parametrize("parser", [run_grid.build_parser(), tune_weights.build_parser()],
                         ids=["run_grid", "tune_weights"])
def test_sweep_clis_explain_every_flag_and_show_defaults(parser: argparse.ArgumentParser):
    assert unexplained(parser) == []
    text = " ".join(parser.format_help().split())
    assert "[default: 0.25]" in text and "[default: results" in text


def test_the_demo_says_what_its_size_cannot_show_and_where_to_go(tmp_path):
    plan = plan_for(["--grid", "demo"], tmp_path)
    assert "cannot: the selection effect" in plan.note
    assert "python sweeps/run_grid.py --grid science" in plan.note
    assert plan_for(["--grid", "smoke"], tmp_path).note == ""


def test_packs_count_trials_and_trial_steps():
    """Packs of 10 trials of 1,500 steps: the line says trials and trial-steps, not packs."""
    progress = SweepProgress("g", {"p0": 1500, "p1": 1500, "p2": 1500, "p3": 1500},
                             out=lambda line: None, every_s=1e9,
                             sizes={"p0": 10, "p1": 10, "p2": 10, "p3": 10})
    for pack in ("p0", "p1", "p2"):
        progress.on_trial_start(0, [], SimpleNamespace(config={"pack_id": pack}))
    progress.on_trial_complete(0, [], SimpleNamespace(config={"pack_id": "p0"}))
    progress.on_trial_result(0, [], SimpleNamespace(config={"pack_id": "p1"}),
                             {"timesteps_total": 1500})
    assert progress.line(60.0).startswith("sweep g: 10/40 trials done, 20 running, 0 failed · "
                                          "30,000/60,000 steps (50%)")
