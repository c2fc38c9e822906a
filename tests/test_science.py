"""The science grid: its shape (Table 1 x four selectors x 10 seeds, Table 2's hybrid
arms), that a real trial of it writes a row carrying per-archetype scores and their plain
average, and that hand-made rows in the grid's own layout come out of the analysis with the
spread statistics worked out by hand (mean, sample std, median, p10, worst, n per cell)."""
from __future__ import annotations

import datetime as dt
from collections import Counter
from pathlib import Path

import pytest

from analysis import build_report, build_table, load_results, selection_effects, with_planned
from analysis.axes import NA
from analysis.inference import delta_ci, mean_ci, welch_p
from sweeps.plan import grids
from sweeps.store import results
from trainer.core.config import TrialConfig
from trainer.data import toy_root
from trainer.data.toy_streets import ARCHETYPES
from trainer.run.loop import train

SELECTORS = ("random", "kmedoids", "kcenter", "typiclust")
NAMES = tuple(a.name for a in ARCHETYPES)   # downtown suburb highway park night (50 ... 4 %)
T0 = dt.datetime(2025, 1, 1, tzinfo=dt.timezone.utc)


@pytest.fixture(scope="module")
def cfgs() -> list[TrialConfig]:
    return grids.expand(grids.get_grid("science"))


def test_science_grid_is_table_1_by_four_selectors_and_table_2s_arms(cfgs):
    paired = Counter((c.paired_budget, c.selection) for c in cfgs if c.mode == "paired")
    assert paired == {(b, s): 10 for b in (1, 5) for s in SELECTORS}
    hybrid = Counter((c.paired_budget, c.balance) for c in cfgs if c.mode == "hybrid")
    assert hybrid == {(1, True): 6, (5, True): 6, (1, False): 6, (5, False): 6}
    assert Counter(c.paired_budget for c in cfgs if c.mode == "unpaired") == {0: 6}
    assert {c.selection for c in cfgs if c.mode == "hybrid"} == {"kmedoids"}
    assert len(cfgs) == 80 + 30


def test_science_trials_share_pool_steps_sizes_and_test_set(cfgs):
    """Arms differ only in what they vary: same k-medoids pool of 200, same 1,000 steps of 32x32,
    the whole val split scored (eval_limit 0), on toy-streets."""
    shared = {(c.dataset, c.unpaired, c.pool_selection, c.steps, c.image_size, c.ngf,
               c.n_blocks, c.eval_limit, c.eval_split) for c in cfgs}
    assert shared == {("toy-streets", 200, "kmedoids", 1000, 32, 8, 2, 0, "val")}


def _tiny(cfg: TrialConfig) -> TrialConfig:
    """The grid's trial shrunk to seconds: 2 steps, a pool of 16 on the small toy variant
    (40 train / 16 val scenes, every archetype present)."""
    root = str(toy_root("toy-streets", "small"))
    return cfg.replace(steps=2, unpaired=16, data_root=root, report_every=1, checkpoint_every=0)


def test_a_science_trial_row_carries_per_archetype_scores(cfgs, tmp_path):
    cfg = _tiny(next(c for c in cfgs if c.mode == "hybrid" and c.paired_budget == 1))
    result = train(cfg, tmp_path / "work").to_row()
    row = results.make_row(cfg, "science", "ok", result=result, code_version="test",
                           started_at=T0, finished_at=T0)
    results.write_row(results.row_path(str(tmp_path / "res"), "science", cfg), row)
    ok = load_results(tmp_path / "res", grid="science").ok
    assert len(ok) == 1
    got = ok.iloc[0]
    for metric in ("pixel_acc", "mean_iou"):
        per_archetype = [got[f"{metric}__{name}"] for name in NAMES]
        assert all(0 <= v <= 1 for v in per_archetype)
        assert got[f"{metric}_archmean"] == pytest.approx(sum(per_archetype) / len(NAMES))
    assert got["pixel_acc"] == pytest.approx(result["pixel_acc"])


# --- hand-made rows in the science grid's layout ---------------------------------------------
# pixel_acc per paired-only cell, seeds 0-9: random draws one catastrophic pair at budget 1
# (the expected shape: means close, worst seeds far apart); per-archetype scores give the average.
BAD_SEED = 7


def _pixel_acc(cfg: TrialConfig) -> float:
    if cfg.mode != "paired":
        return {0: .30, 1: .55, 5: .60}[cfg.paired_budget] + .01 * cfg.seed
    if cfg.selection == "random":
        return .20 if (cfg.paired_budget, cfg.seed) == (1, BAD_SEED) else .50
    return .48 + (.1 if cfg.paired_budget == 5 else 0)


def _archetypes(cfg: TrialConfig) -> dict[str, float]:
    """night scores 0 for the random draw that missed it, .4 otherwise; the rest .6."""
    night = 0.0 if (cfg.selection, cfg.seed) == ("random", BAD_SEED) else .4
    return {f"pixel_acc__{n}": (night if n == "night" else .6) for n in NAMES}


@pytest.fixture(scope="module")
def science_rows(cfgs, tmp_path_factory):
    root = str(tmp_path_factory.mktemp("results"))
    for cfg in cfgs:
        if cfg.mode == "hybrid" and not cfg.balance and cfg.seed == 2:
            continue   # one unwritten trial: the plan must report it, the cell keep n = 5
        metrics = {"pixel_acc": _pixel_acc(cfg), "mean_class_acc": .3, "mean_iou": .2,
                   **_archetypes(cfg)}
        row = results.make_row(cfg, "science", "ok", result=metrics, code_version="test",
                               started_at=T0, finished_at=T0)
        results.write_row(results.row_path(root, "science", cfg), row)
    planned = [dict(c.to_row(), trial_key=c.key()) for c in cfgs]
    return root, with_planned(load_results(root, grid="science"), planned), planned


def _cells(table):
    return table.cells.set_index(list(table.spec.axes))


def test_table_1_spread_per_selector_worked_by_hand(science_rows):
    _, res, _ = science_rows
    cells = _cells(build_table("1", res, per_cell=True)[0])
    assert sorted(cells.index) == sorted((b, s) for b in (1, 5) for s in SELECTORS)
    rnd = cells.loc[(1, "random")]   # nine .50 and one .20
    assert rnd["n"] == 10 and rnd["seeds"] == tuple(range(10))
    assert rnd["pixel_acc.mean"] == pytest.approx(.47)
    assert rnd["pixel_acc.std"] == pytest.approx(.0948683298)   # sqrt((9 * .03² + .27²) / 9)
    assert rnd["pixel_acc.median"] == pytest.approx(.50)
    assert rnd["pixel_acc.p10"] == pytest.approx(.47)           # .20 + 0.9 * (.50 - .20)
    assert rnd["pixel_acc.worst"] == pytest.approx(.20)
    for selector in ("kmedoids", "kcenter", "typiclust"):
        one = cells.loc[(1, selector)]
        assert (one["pixel_acc.mean"], one["pixel_acc.std"], one["pixel_acc.worst"]) == \
            pytest.approx((.48, 0, .48))
    # archetype average (4 * .6 + night) / 5: .56 with night at .4, .48 for the draw that missed it
    assert rnd["pixel_acc_archmean.mean"] == pytest.approx((9 * .56 + .48) / 10)
    assert rnd["pixel_acc_archmean.worst"] == pytest.approx(.48)
    assert cells.loc[(5, "kcenter"), "pixel_acc_archmean.std"] == pytest.approx(0)


def test_selection_effects_for_every_selector_in_randoms_spread(science_rows):
    _, res, _ = science_rows
    effects = selection_effects(build_table("1", res, per_cell=True)[0])
    effects = effects.set_index(["n_paired", "selector"])
    assert sorted(effects.index) == sorted((b, s) for b in (1, 5) for s in SELECTORS[1:])
    one = effects.loc[(1, "typiclust")]
    assert (one["n"], one["n_random"]) == (10, 10)
    assert one["delta_mean"] == pytest.approx(.01)
    # .48 x 10 vs .50 x 9 and .20: typiclust beats only random's bad seed
    assert one["p_improve"] == pytest.approx(10 / 100)
    x, y = [.48] * 10, [.5] * 9 + [.2]
    assert one["p"] == pytest.approx(welch_p(x, y)) and one["p"] > .5             # noise
    assert (one["delta_ci_low"], one["delta_ci_high"]) == pytest.approx(delta_ci(x, y))
    assert one["delta_ci_low"] < 0 < one["delta_ci_high"]
    assert one["delta_worst"] == pytest.approx(.28)
    assert effects.loc[(5, "kmedoids"), "delta_mean"] == pytest.approx(.08)


def test_hybrid_cells_expect_their_six_planned_seeds(science_rows):
    _, res, _ = science_rows
    table = build_table("2", res, per_cell=True)[0]
    hybrid = table.cells[table.cells["n_paired"].isin([1, 5])]
    assert sorted(hybrid["n"]) == [5, 5, 6, 6]
    one_pair = hybrid[hybrid["n_paired"] == 1]
    balanced_one = one_pair[one_pair["balanced"].astype(bool)].iloc[0]
    assert balanced_one["pixel_acc.mean"] == pytest.approx(.575)       # .55 .56 ... .60
    assert balanced_one["pixel_acc.std"] == pytest.approx(.01 * 3.5 ** .5)   # sample std of 0..5, x .01
    unpaired = table.cells[table.cells["n_paired"] == NA].iloc[0]   # 0 pairs: shown as "-"
    assert (unpaired["n"], unpaired["pixel_acc.worst"]) == (6, pytest.approx(.30))
    missing = [(r.n_paired, r.seed, r.reason) for r in table.missing.itertuples()]
    assert sorted(missing) == [(1, 2, "not run"), (5, 2, "not run")]


def test_report_of_the_science_rows_prints_both_tables_and_a_seed_plot(science_rows, tmp_path):
    root, _, planned = science_rows
    built = build_report(root, "science", planned=planned, seed_plot=tmp_path / "seeds.png")
    low, high = mean_ci([.5] * 9 + [.2])       # random, one pair: .47
    assert f".470 [{low:.3f}, {high:.3f}]".replace("0.", ".") in built.text
    assert "typiclust" in built.text
    assert [Path(p).name for p in built.plots] == ["seeds.png"]
    assert (tmp_path / "seeds.png").stat().st_size > 0
