"""Adaptive seeds: the stopping rule (sweeps.plan.adaptive) on outcomes whose verdicts are known
by construction, and the Tune searcher (sweeps.tune.adaptive) on a real local Ray with tiny
real trials: MIN seeds first, more only where the comparison stays unresolved, never past MAX,
every trial an ordinary row on disk that a rerun counts."""
from __future__ import annotations

import argparse
import dataclasses
import math
import sys

import pytest
from ray import cloudpickle

from analysis.inference import delta_ci
from sweeps import run_grid
from sweeps.store import results
from sweeps.plan import sweep as sweep_plan
from sweeps.plan.adaptive import AdaptiveSeeds, build_rule, parse_adaptive, seeds_arg, verdict

cloudpickle.register_pickle_by_value(sys.modules[__name__])   # the train_fn runs inside trials

GRID_FILE = """
name: adapt
dataset: toy-streets
base: {image_size: 32, load_size: 36, ngf: 8, ndf: 8, n_blocks: 2, steps: 2, unpaired: 8,
       eval_limit: 2, report_every: 1, checkpoint_every: 0, image_pool: 4}
arms:
  - label: hybrid
    fixed: {mode: hybrid}
    axes: {paired_budget: [1, 2], selection: [random, kmedoids]}
"""


def _rows(max_seeds: int) -> list[dict]:
    """Trial rows of two budgets x {random, kmedoids} plus an unpaired-only arm, seeds 0..MAX-1."""
    out = []
    for budget, selection, mode in [(1, "random", "hybrid"), (1, "kmedoids", "hybrid"),
                                    (5, "random", "hybrid"), (5, "kmedoids", "hybrid"),
                                    (0, "kmedoids", "unpaired")]:
        out += [{"mode": mode, "paired_budget": budget, "selection": selection, "seed": s,
                 "steps": 10, "trial_key": f"{mode}-{budget}-{selection}-{s}"}
                for s in range(max_seeds)]
    return out


def _score(key: str) -> float:
    """Budget 1: k-medoids .8 vs random .4 (clearly different); budget 5: both arms the same
    seed-to-seed spread (.5 / .6 alternating: the Δ CI holds 0 and stays wide)."""
    _, budget, selection, seed = key.split("-")
    if budget == "1":
        return (.8 if selection == "kmedoids" else .4) + .01 * int(seed)
    return .5 + .1 * (int(seed) % 2)


def test_parse_bounds_and_lists():
    assert parse_adaptive("adaptive") == AdaptiveSeeds(3, 10)
    assert seeds_arg("adaptive:4-6") == AdaptiveSeeds(4, 6) and seeds_arg("0-2") == (0, 1, 2)
    for bad, says in (("adaptive:2-5", "need 3 <= MIN <= MAX"), ("adaptive:6-4", "need 3"),
                      ("adaptive:x", "expected adaptive:MIN-MAX"), ("adaptiv", "expected")):
        with pytest.raises(argparse.ArgumentTypeError, match=says):
            seeds_arg(bad)


def test_verdicts():
    assert verdict(.01, .05, .04) == "differs" and verdict(-.05, -.01, .01) == "differs"
    assert verdict(-.01, .02, .04) == "narrow" and verdict(-.03, .02, .04) is None
    assert verdict(math.nan, math.nan, .04) is None        # too few ok seeds


def test_rule_resolves_the_clear_comparison_at_min_and_runs_the_other_to_max():
    rule = build_rule(_rows(6), ["paired_budget", "selection", "mode"], AdaptiveSeeds(3, 6), .04)
    assert [c.name for c in rule.comparisons] == [
        "paired_budget=1, selection=kmedoids, mode=hybrid vs random",
        "paired_budget=5, selection=kmedoids, mode=hybrid vs random"]
    assert len(rule.asked()) == 5 * 3 and len(rule.asked(worst=True)) == 4 * 6 + 3
    outcome: dict[str, float | None] = {}
    while set(rule.asked()) - set(outcome):            # run what is asked, a batch at a time
        outcome.update({k: _score(k) for k in rule.asked() if k not in outcome})
        rule.step(outcome)
    clear, same = rule.comparisons
    assert (clear.verdict, clear.seeds, same.verdict, same.seeds) == ("differs", 3, "unresolved", 6)
    assert clear.ci == pytest.approx(delta_ci([.8, .81, .82], [.4, .41, .42]))   # the tables' one
    counts = {name: sum(k in outcome for k in keys) for name, keys in rule.settings.items()}
    assert sorted(counts.values()) == [3, 3, 3, 6, 6]   # unpaired only: MIN, never more
    assert "resolved: excludes 0 at 3 seeds" in clear.line()
    assert "unresolved at the maximum at 6 seeds" in same.line()


def test_a_narrow_comparison_settles_and_failed_seeds_count_as_run():
    rows = [r for r in _rows(5) if r["paired_budget"] == 5]
    rule = build_rule(rows, ["selection"], AdaptiveSeeds(3, 5), target_width=.5)
    outcome = {r["trial_key"]: _score(r["trial_key"]) for r in rows if r["seed"] < 3}
    assert [c.verdict for c in rule.step(outcome)] == ["narrow"]      # CI within .5: settled
    rule = build_rule(rows, ["selection"], AdaptiveSeeds(3, 5), target_width=.5)
    outcome["hybrid-5-random-1"] = None                                # a failed seed
    assert rule.step(outcome) == [] and rule.comparisons[0].seeds == 4   # 2 ok values: no CI
    assert "hybrid-5-random-3" in rule.asked()


def _values_by_construction(cfg, workdir, report):
    """The real trainer (2 steps at 32², ngf 8), its score then set by construction so that the
    searcher's choices are known in advance (the rule's statistics are tested above)."""
    from trainer.run.loop import train
    result = train(cfg, workdir, report=report)
    key = f"{cfg.mode}-{cfg.paired_budget}-{cfg.selection}-{cfg.seed}"
    return dataclasses.replace(result, metrics={**result.metrics, "pixel_acc": _score(key)})


@pytest.mark.slow
def test_searcher_on_ray_adds_seeds_only_where_unresolved(ray_session, small_streets, tmp_path,
                                                          capsys):
    grid_file = tmp_path / "adapt.yaml"
    grid_file.write_text(GRID_FILE)
    argv = ["--grid-file", str(grid_file), "--data-root", small_streets, "--storage",
            str(tmp_path / "res"), "--seeds", "adaptive:3-4", "--gpus-per-trial", "0"]
    assert run_grid.main([*argv, "--dry-run"]) == 0
    dry = capsys.readouterr().out
    assert ("adaptive seeds 3-4 over 2 comparisons (target Δ CI width 0.04): at least 12 trials"
            in dry) and "at most 16 if no comparison resolves" in dry
    args = run_grid.build_parser().parse_args(argv)
    plan = sweep_plan.plan_sweep(args)
    from sweeps.tune.grid_sweep import run_sweep
    outcome = run_sweep(plan, args, train_fn=_values_by_construction)
    assert not outcome.errors
    finished, summary = sweep_plan.finish_adaptive(plan)   # a new plan: plans are frozen
    out = capsys.readouterr().out
    assert ("adaptive seeds: paired_budget=1, selection=kmedoids vs random: "
            "resolved: excludes 0 at 3 seeds") in out                 # printed as it happened
    assert "paired_budget=2, selection=kmedoids vs random: unresolved at the " \
           "maximum at 4 seeds" in summary
    rows = results.read_rows(plan.results, "adapt")
    assert (rows["status"] == "ok").all() and len(rows) == 3 * 2 + 4 * 2
    seeds = rows.groupby(["paired_budget", "selection"])["seed"].apply(sorted).to_dict()
    assert seeds == {(1, "kmedoids"): [0, 1, 2],
                     (1, "random"): [0, 1, 2], (2, "kmedoids"): [0, 1, 2, 3],
                     (2, "random"): [0, 1, 2, 3]}
    assert len(plan.cfgs) == 16                 # planned: the worst case, MAX seeds each
    assert len(finished.cfgs) == len(rows)      # the tables expect the asked trials, not MAX
    again = sweep_plan.plan_sweep(args)         # a rerun counts the rows as seeds done
    assert again.todo == [] and [c.verdict for c in again.adaptive.comparisons] == \
        ["differs", "unresolved"]
