"""sweeps.plan.grids and run_grid's planning: every grid expands to valid, distinct trials of the
paper's shape; --weights, --dataset, --data-root; --dry-run; bad input is one line, exit 2.
No Ray here (planning never starts it)."""
from __future__ import annotations

import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from sweeps import run_grid
from sweeps.plan import costs, grids, packs, sweep as sweep_plan
from sweeps.store import results
from trainer.core.config import TrialConfig
from trainer.core.packing import pack_key
from trainer.run.schedule import total_steps

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("name", grids.grid_names())
def test_every_grid_expands_to_distinct_valid_trials(name):
    grid = grids.get_grid(name)
    cfgs = grids.expand(grid)
    assert cfgs and all(isinstance(c, TrialConfig) and c.dataset == grid.dataset for c in cfgs)
    assert len({c.key() for c in cfgs}) == len(cfgs)


def test_table1_is_budgets_by_selectors_by_ten_seeds_plus_all_pairs():
    cfgs = grids.expand(grids.get_grid("table1"))
    assert len(cfgs) == 5 * 2 * 10 + 2
    sweep = Counter((c.paired_budget, c.selection) for c in cfgs if c.paired_budget > 0)
    assert sweep == {(b, s): 10 for b in (1, 5, 10, 20, 40) for s in ("random", "kmedoids")}
    everything = [c for c in cfgs if c.paired_budget == -1]   # pix2pix, and the ResNet beside it
    assert [(c.mode, c.unpaired, c.arch) for c in everything] == [("paired", -1, "pix2pix"),
                                                                  ("paired", -1, "resnet")]
    assert all(c.mode == "paired" and c.image_size == 256 and c.n_blocks == 9 for c in cfgs)


def test_table2_has_the_papers_arms():
    cfgs = grids.expand(grids.get_grid("table2"))
    hybrid = Counter((c.paired_budget, c.selection, c.balance) for c in cfgs if c.mode == "hybrid")
    assert hybrid == {**{(b, "kmedoids", True): 10 for b in (1, 5, 10, 20, 40)},
                      (20, "kmedoids", False): 10, (1, "random", True): 10}
    unpaired = Counter((c.unpaired, c.pool_selection) for c in cfgs if c.mode == "unpaired")
    assert unpaired == {(200, "kmedoids"): 10, (200, "random"): 10, (-1, "kmedoids"): 1}
    labels = [arm.label for arm in grids.get_grid("table2").arms]   # random pool: an extension
    assert "unpaired-only, random pool (extension)" in labels
    paired = Counter((c.unpaired, c.paired_budget, c.arch) for c in cfgs if c.mode == "paired")
    assert paired == {(200, -1, "resnet"): 10, (-1, -1, "resnet"): 1, (-1, -1, "pix2pix"): 1}
    pix2pix = next(c for c in cfgs if c.arch == "pix2pix")
    assert (pix2pix.gan_loss, pix2pix.lambda_paired, pix2pix.image_pool) == ("vanilla", 100, 0)
    assert {c.direction for c in cfgs} == {"AtoB"}
    assert {c.direction for c in grids.expand(grids.get_grid("table9"))} == {"BtoA"}


def test_table3_takes_far_and_close_labels_per_dataset():
    for dataset, far, close in (("cityscapes", "gta5", "synscapes"),
                                ("toy-streets", "toy-synthlabels-far", "toy-synthlabels-close")):
        cfgs = grids.expand(grids.get_grid("table3", dataset))
        labels = Counter(c.unpaired_labels for c in cfgs if c.mode == "hybrid")
        assert labels == {far: 50, close: 50, "same": 50}
    with pytest.raises(grids.GridError, match="table3.*'pix2pix'.*cityscapes, toy-streets"):
        grids.get_grid("table3", "pix2pix")


def test_labels_roots_point_table3_arms_at_their_label_sets():
    grid = grids.get_grid("table3")
    roots = grids.parse_labels_roots(["gta5=data/gta5", "synscapes=data/synscapes"], grid)
    cfgs = grids.expand(grid, labels_roots=roots)
    pairs = {(c.unpaired_labels, c.unpaired_labels_root) for c in cfgs}
    assert pairs == {("same", None), ("gta5", "data/gta5"), ("synscapes", "data/synscapes")}
    with pytest.raises(grids.GridError, match="grid table1 takes no unpaired labels from 'gta5'"):
        grids.parse_labels_roots(["gta5=data/gta5"], grids.get_grid("table1"))
    with pytest.raises(grids.GridError, match="'gta5' is not NAME=PATH"):
        grids.parse_labels_roots(["gta5"], grid)


def test_demo_is_small_learns_and_fills_both_cores():
    """9 trials of 1,000 steps (docs/learning-curve.md: where the demo's curves flatten), one
    pack key (hybrid and unpaired-only share the step), so --pack auto cuts 5 + 4 on 2 cores."""
    grid = grids.get_grid("demo")
    cfgs = grids.expand(grid)
    hybrid = Counter((c.paired_budget, c.selection) for c in cfgs if c.mode == "hybrid")
    assert hybrid == {(5, s): 3 for s in ("random", "kmedoids")}
    assert Counter(c.mode for c in cfgs) == {"hybrid": 6, "unpaired": 3}
    sizes = {(c.dataset, c.image_size, c.ngf, c.n_blocks, c.steps) for c in cfgs}
    assert sizes == {("toy-streets", 32, 8, 2, 1000)}
    assert len({pack_key(c) for c in cfgs}) == 1
    assert "1,000" in grid.description and "docs/learning-curve.md" in grid.description


def test_fidelity_grid_pairs_the_papers_step_with_the_released_one():
    cfgs = grids.expand(grids.get_grid("fidelity"))
    arms = Counter((c.variant, c.paired_budget, c.mix, c.balance) for c in cfgs)
    assert arms == {(variant, budget, mix, balance): 6 for budget in (1, 5)
                    for variant, mix, balance in (("paper", "interleave", True),
                                                  ("released", "alternate", False),
                                                  ("paper", "alternate", False))}
    assert {(c.mode, c.selection, c.unpaired, c.steps) for c in cfgs} == {
        ("hybrid", "kmedoids", 100, 1000)}


def test_science_gpu_grid_is_the_science_arms_at_gpu_size(capsys):
    cfgs = grids.expand(grids.get_grid("science-gpu"))
    paired = Counter((c.paired_budget, c.selection) for c in cfgs if c.mode == "paired")
    assert paired == {**{(b, s): 10 for b in (1, 5) for s in grids.SCIENCE_SELECTORS},
                      (20, "random"): 10, (20, "kmedoids"): 10}
    assert Counter(c.mode for c in cfgs) == {"paired": 100, "unpaired": 6, "hybrid": 18}
    assert {(c.image_size, c.ngf, c.n_blocks, c.steps) for c in cfgs} == {(64, 32, 6, 1200)}
    assert run_grid.main(["--grid", "science-gpu", "--dry-run", "--storage", "unused"]) == 0
    assert "grid science-gpu: 124 trials, 124 to run" in capsys.readouterr().out


def test_weights_override_the_lambdas_but_the_ablation_keeps_its_zeros():
    weights = grids.parse_weights("cycle=5, identity=2.5,paired=100,adv=0.5")
    assert weights == {"cycle": 5.0, "identity": 2.5, "paired": 100.0, "adv": 0.5}
    cfgs = grids.expand(grids.get_grid("ablation"), weights=weights)
    lambdas = Counter((c.lambda_adv, c.lambda_cycle, c.lambda_identity, c.lambda_paired)
                      for c in cfgs)
    assert lambdas == {(0.5, 5.0, 2.5, 100.0): 10, (0.5, 0.0, 2.5, 100.0): 10,
                       (0.5, 5.0, 0.0, 100.0): 10}


@pytest.mark.parametrize("text, message", [
    ("cycle=1,identity=1", "missing paired"),
    ("cycle=1,identity=1,paired=x", "paired='x' is not a number"),
    ("cycle=1,identity=1,paired=1,gan=2", "'gan=2' is not NAME=VALUE"),
    ("cycle=-1,identity=1,paired=1", "cycle=-1 must be a finite number >= 0"),
])
def test_bad_weights_name_the_problem(text, message):
    with pytest.raises(grids.GridError, match=message):
        grids.parse_weights(text)


def test_data_root_and_dataset_point_a_grid_elsewhere_without_changing_keys():
    plain = grids.expand(grids.get_grid("table4"))
    rooted = grids.expand(grids.get_grid("table4"), data_root="maps-data")
    assert {c.data_root for c in rooted} == {"maps-data"}
    assert [c.key() for c in plain] == [c.key() for c in rooted]
    assert {c.dataset for c in grids.expand(grids.get_grid("table4", "toy-maps"))} == {"toy-maps"}


def test_gpu_hours_follow_steps_at_the_measured_rate():
    fp32 = packs.measured_rate("gpu", packs.PAPER_SIZES, "fp32", 1)
    one_hour = TrialConfig(steps=int(fp32 * 3600))      # the paper's sizes: GPU-sized
    plan = sweep_plan.SweepPlan("t", "/nowhere", [one_hour], [one_hour], ["seed"])
    assert costs.unpacked_cost(plan, 1.0).gpu_hours == pytest.approx(1.0)
    # steps=0: the trainer's rule, 200 epochs of a balanced hybrid epoch (max(P, U) + U steps)
    default = TrialConfig(mode="hybrid", paired_budget=5, unpaired=200, steps=0)
    assert total_steps(default) == 200 * (200 + 200)
    # every training image in the pool: the registry's train size (toy-streets' default: 300)
    assert total_steps(default.replace(unpaired=-1, paired_budget=-1)) == 200 * (300 + 300)


def _doc_cost_table() -> dict[str, tuple[int, float]]:
    """docs/real-data.md's cost table: grid -> (trials, GPU-hours)."""
    text = (ROOT / "docs" / "real-data.md").read_text()
    section = text.split("## What each table costs")[1].split("\n## ")[0]
    rows = [line.strip("|").split("|") for line in section.splitlines()
            if line.startswith("| ") and not line.startswith("| grid")]
    return {name.strip(): (int(n), float(h)) for name, n, h in rows}


def test_every_cost_figure_in_the_docs_is_the_dry_runs():
    """docs/real-data.md's table, README's science-gpu figure: the dry run's one cost model
    (sweeps.plan.costs over measured_rates.csv), recomputed here."""
    def cost(name: str) -> tuple[int, float]:
        cfgs = grids.expand(grids.get_grid(name))
        plan = sweep_plan.SweepPlan(name, "/nowhere", cfgs, cfgs, ["seed"])
        return len(cfgs), round(costs.unpacked_cost(plan, 0.25).gpu_hours, 1)

    documented = _doc_cost_table()
    computed = {name: cost(name) for name in documented if name != "sum"}
    assert {n: documented[n] for n in computed} == computed
    assert documented["sum"] == (sum(n for n, _ in computed.values()),
                                 round(sum(h for _, h in computed.values()), 1))
    readme = (ROOT / "README.md").read_text()
    assert f"`--dry-run` estimates {cost('science-gpu')[1]} GPU-hours" in readme
    assert "--dry-run` prints its cost" in grids.get_grid("science-gpu").description


def test_dry_run_prints_the_plan_and_skips_trials_with_rows(tmp_path, capsys):
    cfg = grids.expand(grids.get_grid("table1"))[0]
    row = results.make_row(cfg, "table1", "ok", result={"pixel_acc": 0.5}, code_version="t",
                           started_at=results.utc_now(), finished_at=results.utc_now())
    results.write_row(results.row_path(str(tmp_path), "table1", cfg), row)
    assert run_grid.main(["--grid", "table1", "--dry-run", "--storage", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "grid table1: 102 trials, 101 to run, 1 done" in out
    assert f"{cfg.key()}" in out and "GPU-hours" in out
    assert not (tmp_path / "_ray").exists()   # a dry run starts nothing


def test_the_entry_points_run_as_modules(tmp_path):
    """`python -m sweeps.run_grid` / `-m sweeps.tune_weights` work beside the scripts (which
    test_sweeps_cluster.py and test_tune_weights.py run)."""
    run = subprocess.run([sys.executable, "-m", "sweeps.run_grid", "--grid", "smoke", "--dry-run",
                          "--storage", str(tmp_path)], capture_output=True, text=True, cwd=ROOT)
    assert run.returncode == 0, run.stderr
    assert "grid smoke: 3 trials, 3 to run, 0 done" in run.stdout
    run = subprocess.run([sys.executable, "-m", "sweeps.tune_weights", "--trials", "0"],
                         capture_output=True, text=True, cwd=tmp_path)
    assert (run.returncode, run.stderr) == (2, "error: --trials 0 must be >= 1\n")


def test_a_rerun_skips_ok_rows_retries_failed_ones_and_force_retrains_all(tmp_path):
    done, failed = grids.expand(grids.get_grid("smoke"))[:2]
    now = results.utc_now()
    for cfg, status in ((done, "ok"), (failed, "failed")):
        row = results.make_row(cfg, "smoke", status, code_version="t", started_at=now,
                               finished_at=now)
        results.write_row(results.row_path(str(tmp_path), "smoke", cfg), row)
    argv = ["--grid", "smoke", "--storage", str(tmp_path)]
    plan = sweep_plan.plan_sweep(run_grid.build_parser().parse_args(argv))
    assert [c.key() for c in plan.todo] == [c.key() for c in plan.cfgs if c.key() != done.key()]
    forced = sweep_plan.plan_sweep(run_grid.build_parser().parse_args([*argv, "--force"]))
    assert forced.todo == forced.cfgs


@pytest.mark.parametrize("argv, message", [
    (["--grid", "tabel1"], "unknown grid 'tabel1' (did you mean 'table1'?) (valid: demo, smoke"),
    (["--dataset", "imagenet"], "unknown dataset 'imagenet'"),
    (["--weights", "cycle=1"], "--weights: missing identity, paired"),
    (["--grid", "table3", "--dataset", "toy-maps"], "grid table3 needs far/close label sets"),
    (["--gpus-per-trial", "1.5"], "--gpus-per-trial 1.5: give a fraction in [0, 1]"),
    (["--cpus-per-trial", "0"], "--cpus-per-trial 0 must be > 0"),
    (["--max-concurrent", "0"], "--max-concurrent 0 must be >= 1"),
    (["--max-failures", "-2"], "--max-failures -2 must be >= 0"),
    (["--data-root", "no/such/folder"], "--data-root no/such/folder: no such folder"),
])
def test_bad_input_is_one_line_and_exit_2(argv, message, capsys, tmp_path):
    assert run_grid.main([*argv, "--dry-run", "--storage", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {message}") and err.count("\n") == 1


def test_relative_data_and_label_roots_reach_trials_as_absolute_paths(tmp_path, monkeypatch):
    """Tune starts each trial in its own folder, so a relative --data-root would break there."""
    (tmp_path / "data" / "cityscapes").mkdir(parents=True)
    (tmp_path / "gta").mkdir()
    monkeypatch.chdir(tmp_path)
    argv = ["--grid", "table3", "--data-root", "data/cityscapes", "--labels-root", "gta5=gta",
            "--storage", "out"]
    plan = sweep_plan.plan_sweep(run_grid.build_parser().parse_args(argv))
    assert {c.data_root for c in plan.cfgs} == {str(tmp_path / "data" / "cityscapes")}
    far = {c.unpaired_labels_root for c in plan.cfgs if c.unpaired_labels == "gta5"}
    assert far == {str(tmp_path / "gta")}
    assert plan.results == str(tmp_path / "out")
