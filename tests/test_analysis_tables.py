"""analysis.tables: each paper table's cells from hand-made rows with known values -- means,
stds, spread, n, missing seeds and failed trials, row order, the paper's numbers beside them."""
from __future__ import annotations

from pathlib import Path

import pytest

from analysis import AnalysisError, build_table, load_results
from analysis.axes import NA
from analysis.paper_numbers import PAPER, PAPER_TABLES
from analysis_rows import FAILED_ERROR, make_row, seg, write_row, write_rows

ALL = -1
PAPER_TEXT = Path(__file__).resolve().parents[2] / "shared" / "seed" / "paper.txt"


def _only(tables):
    assert len(tables) == 1
    return tables[0]


def _cells(table):
    return table.cells.set_index(list(table.spec.axes))


def test_table_1_known_means_spread_and_order(paper_results):
    table = _only(build_table(1, paper_results))
    cells = _cells(table)
    assert list(cells.index) == [(1, "random"), (1, "kmedoids"), (5, "random"), (5, "kmedoids"),
                                 (ALL, NA)]
    rnd = cells.loc[(1, "random")]                   # pixel_acc .2 .3 .4 .5 .6
    assert rnd["n"] == 5 and rnd["seeds"] == (0, 1, 2, 3, 4)
    assert rnd["pixel_acc.mean"] == pytest.approx(.4)
    assert rnd["pixel_acc.std"] == pytest.approx(.158113883)   # sample std, ddof 1
    assert rnd["pixel_acc.median"] == pytest.approx(.4)
    assert rnd["pixel_acc.p10"] == pytest.approx(.24)          # .2 + 0.4 * (.3 - .2)
    assert rnd["pixel_acc.worst"] == pytest.approx(.2)
    assert rnd["mean_iou.mean"] == pytest.approx(.1)
    kmd = cells.loc[(1, "kmedoids")]                 # .5 .6 .7; seed 3 failed, 4 absent
    assert kmd["n"] == 3 and kmd["seeds"] == (0, 1, 2)
    assert (kmd["pixel_acc.mean"], kmd["pixel_acc.std"]) == pytest.approx((.6, .1))
    assert (kmd["pixel_acc.p10"], kmd["pixel_acc.worst"]) == pytest.approx((.52, .5))
    assert cells.loc[(ALL, NA), "n"] == 1
    assert cells.loc[(1, "random"), "pixel_acc.paper"] == .401
    assert cells.loc[(1, "kmedoids"), "mean_iou.paper"] == .114
    assert cells.loc[(ALL, NA), "pixel_acc.paper"] == .878
    assert table.paper_label == "Cityscapes paper" and table.seeds == (0, 1, 2, 3, 4)


def test_missing_seeds_name_the_failed_trial_and_the_absent_rows(paper_results):
    table = _only(build_table("1", paper_results))
    missing = {(r.n_paired, r.selector, r.seed): r.reason for r in table.missing.itertuples()}
    assert missing == {
        (1, "kmedoids", 3): "failed: " + FAILED_ERROR.splitlines()[0],
        (1, "kmedoids", 4): "no row",
        **{(ALL, NA, s): "no row" for s in (1, 2, 3, 4)},
    }
    declared = _only(build_table("1", paper_results, expected_seeds=(0, 1)))
    assert [(r.n_paired, r.seed) for r in declared.missing.itertuples()] == [(ALL, 1)]


def test_table_2_layout_follows_the_paper(paper_results):
    table = _only(build_table("2", paper_results))
    cells = _cells(table)
    assert list(cells.index) == [
        (NA, 200, NA, NA),                  # the pool, all paired
        (200, NA, NA, NA),                  # the pool, unpaired only
        (200, 1, "random", True), (200, 1, "kmedoids", True),
        (200, 20, "kmedoids", True), (200, 20, "kmedoids", False),
        (NA, ALL, NA, NA),                  # every pair of the split
    ]
    assert cells.loc[(200, NA, NA, NA), "pixel_acc.mean"] == pytest.approx(.5)
    assert cells.loc[(200, 20, "kmedoids", False), "pixel_acc.std"] == pytest.approx(.0707107)
    paper = cells["pixel_acc.paper"].tolist()
    assert paper == [.830, .570, .588, .697, .768, .759, .878]
    notes = cells["paper_note"].tolist()
    assert [bool(n) for n in notes] == [False, False, True, False, False, True, False]
    assert "random" in notes[2] and "no count" in notes[2] and "unbalanced" in notes[5]


def test_table_3_unpaired_labels(paper_results):
    cells = _cells(_only(build_table("3", paper_results)))
    assert list(cells.index) == [(200, 20, "kmedoids", "far"), (200, 20, "kmedoids", "close"),
                                 (200, 20, "kmedoids", "same")]
    assert cells["pixel_acc.mean"].tolist() == pytest.approx([.6, .78, .8])
    assert cells["pixel_acc.paper"].tolist() == [.703, .761, .768]


def test_table_5_ablation(paper_results):
    cells = _cells(_only(build_table("5", paper_results)))
    assert [i[3] for i in cells.index] == ["full", "w/o cycle", "w/o identity"]
    assert cells["pixel_acc.mean"].tolist() == pytest.approx([.8, .7, .75])
    assert cells["mean_iou.paper"].tolist() == [.237, .227, .224]


def test_tables_without_rows_are_empty(paper_results):
    assert build_table("4", paper_results) == [] and build_table("8", paper_results) == []


def test_table_4_maps_with_published_std(tmp_path):
    rows = [make_row({"maps_pixel_acc": v, "maps_pixel_acc_archmean": v - .1}, dataset="toy-maps",
                     unpaired=100, seed=s, **config)
            for config, values in (
                (dict(mode="paired", paired_budget=-1), (.40, .42)),
                (dict(mode="unpaired", paired_budget=0), (.30, .34)),
                (dict(mode="hybrid", paired_budget=1), (.45, .47)))
            for s, v in enumerate(values)]
    write_rows(tmp_path, rows)
    table = _only(build_table("4", load_results(tmp_path)))
    cells = _cells(table)
    assert table.headline == ("maps_pixel_acc",) and table.paper_label == "pix2pix maps paper"
    assert "maps_pixel_acc_archmean" in table.metrics
    assert cells["maps_pixel_acc.mean"].tolist() == pytest.approx([.41, .32, .46])
    assert cells["maps_pixel_acc_archmean.mean"].tolist() == pytest.approx([.31, .22, .36])
    assert cells["maps_pixel_acc.paper"].tolist() == [.377, .356, .405]
    assert cells["maps_pixel_acc.paper_std"].tolist() == [.018, .016, .152]


def test_tables_8_and_9_take_labels_to_photos_only(tmp_path):
    common = dict(direction="BtoA", selection="random", paired_budget=1)
    write_rows(tmp_path, [make_row(seg(.3), mode="paired", unpaired=-1, seed=0, **common),
                          make_row(seg(.5), mode="paired", unpaired=-1, seed=1, **common),
                          make_row(seg(.6), unpaired=200, seed=0, **common)])
    res = load_results(tmp_path, grid="g")
    assert build_table("1", res) == [] and build_table("2", res) == []
    eight = _cells(_only(build_table("8", res)))
    assert eight.loc[(1, "random"), "pixel_acc.mean"] == pytest.approx(.4)
    assert eight.loc[(1, "random"), "pixel_acc.paper"] == .494
    nine = _cells(_only(build_table("9", res)))
    assert nine.loc[(200, 1, "random", True), "pixel_acc.paper"] == .619


def test_paper_column_policy(tmp_path):
    """Published numbers: 'paper' for Cityscapes, labelled 'Cityscapes paper' for toy-streets,
    absent for a dataset the paper has no table for."""
    for dataset in ("cityscapes", "toy-streets", "synscapes"):
        write_row(tmp_path, make_row(seg(.5), dataset=dataset, mode="paired", unpaired=-1,
                                     paired_budget=20, seed=0))
    labels = {t.dataset: t.paper_label for t in build_table("1", load_results(tmp_path))}
    assert labels == {"cityscapes": "paper", "toy-streets": "Cityscapes paper", "synscapes": None}
    real = _only(build_table("1", load_results(tmp_path), dataset="cityscapes"))
    assert real.cells.loc[0, "pixel_acc.paper"] == .746
    other = _only(build_table("1", load_results(tmp_path), dataset="synscapes"))
    assert "pixel_acc.paper" not in other.cells


def test_rows_that_differ_elsewhere_are_not_merged(tmp_path):
    write_rows(tmp_path, [make_row(seg(v), mode="paired", unpaired=-1, paired_budget=1,
                                   steps=steps, seed=s)
                          for steps, values in ((100, (.2, .4)), (400, (.6, .8)))
                          for s, v in enumerate(values)])
    table = _only(build_table("1", load_results(tmp_path)))
    assert table.axes == ("n_paired", "selector", "steps")
    assert table.cells["pixel_acc.mean"].tolist() == pytest.approx([.3, .7])


def test_archetype_average_spread(tmp_path):
    values = (.2, .4, .6, .8)
    write_rows(tmp_path, [make_row(seg(.9, pixel_acc_archmean=v, mean_iou_archmean=v / 2),
                                   paired_budget=1, selection="random", seed=s)
                          for s, v in enumerate(values)])
    cell = _only(build_table("2", load_results(tmp_path))).cells.iloc[0]
    assert cell["pixel_acc.mean"] == pytest.approx(.9)
    assert cell["pixel_acc_archmean.mean"] == pytest.approx(.5)
    assert cell["pixel_acc_archmean.std"] == pytest.approx(.2581989)
    assert cell["pixel_acc_archmean.p10"] == pytest.approx(.26)
    assert cell["pixel_acc_archmean.worst"] == pytest.approx(.2)
    assert cell["mean_iou_archmean.median"] == pytest.approx(.25)


def test_unknown_table_lists_the_valid_ones(paper_results):
    with pytest.raises(AnalysisError, match=r"unknown table '7' \(valid: 1, 2, 3, 4, 5, 8, 9\)"):
        build_table("7", paper_results)


@pytest.mark.skipif(not PAPER_TEXT.exists(), reason="shared/seed/paper.txt not beside the repo")
def test_paper_numbers_are_rows_of_the_extracted_text():
    """Every transcribed row's values stand together, in order, on one line of the paper."""
    text = PAPER_TEXT.read_text(encoding="utf-8")
    for table_id, rows in PAPER_TABLES.items():
        for row in rows:
            means = [mean for mean, _ in row.values.values()]
            stds = [std for _, std in row.values.values() if std is not None]
            candidates = [" | ".join(f"{v:.{d}f}" for v in means) for d in (3, 2)]
            if stds:
                candidates = [f"{means[0]:.3f} {stds[0]:.3f}"]
            assert any(c in text for c in candidates), (table_id, row.axes, candidates)
            assert row.source == PAPER or table_id in ("2", "6", "9")


def test_sweeps_table_grids_land_in_their_tables(tmp_path):
    """As sweeps/plan/grids.py builds them: Table 1's pairs chosen inside the 200 pool, steps that
    grow with the budget, and unpaired-only runs on a random and a k-medoids pool."""
    rows = [make_row(seg(.4 + b / 100), mode="paired", unpaired=200, paired_budget=b,
                     selection="kmedoids", steps=100 * b, seed=s) for b in (1, 5) for s in (0, 1)]
    rows += [make_row(seg(.9), mode="paired", unpaired=-1, paired_budget=-1, seed=0)]
    rows += [make_row(seg(v), mode="unpaired", unpaired=200, paired_budget=0, pool_selection=p,
                      seed=0) for p, v in (("random", .5), ("kmedoids", .55))]
    write_rows(tmp_path, rows)
    res = load_results(tmp_path)
    one = _only(build_table("1", res))
    assert one.axes == ("n_paired", "selector")       # steps vary only between cells
    assert list(_cells(one).index) == [(1, "kmedoids"), (5, "kmedoids"), (ALL, NA)]
    two = _only(build_table("2", res))
    assert two.axes == (*two.spec.axes, "pool_selection")
    cells = two.cells.set_index("pool_selection")
    pool_rows = cells[cells["n_unpaired"] == 200]
    assert pool_rows["pixel_acc.mean"].tolist() == pytest.approx([.5, .55])
    assert pool_rows["pixel_acc.paper"].isna().tolist() == [True, False]   # random pool: none
    assert pool_rows.loc["kmedoids", "pixel_acc.paper"] == .570


def test_no_paper_columns_when_no_cell_has_a_published_counterpart(tmp_path):
    write_rows(tmp_path, [make_row(seg(.5), unpaired=8, paired_budget=1, seed=0),
                          make_row(seg(.4), mode="unpaired", unpaired=8, paired_budget=0, seed=0)])
    table = _only(build_table("2", load_results(tmp_path)))
    assert table.paper_label is None and table.cells["pixel_acc.paper"].isna().all()


def test_planned_trials_set_each_cells_expected_seeds(tmp_path):
    """With the grid's plan, a baseline planned for one seed is not 'missing' seeds 1-2."""
    from analysis import with_planned
    from trainer.core.config import TrialConfig
    plan = [TrialConfig(paired_budget=1, seed=s) for s in (0, 1, 2)]
    plan += [TrialConfig(mode="paired", unpaired=-1, paired_budget=-1, seed=0)]
    write_rows(tmp_path, [make_row(seg(.5), paired_budget=1, seed=s) for s in (0, 1)]
               + [make_row(seg(.9), mode="paired", unpaired=-1, paired_budget=-1, seed=0)])
    planned = [dict(cfg.to_row(), trial_key=cfg.key()) for cfg in plan]
    res = with_planned(load_results(tmp_path), planned)
    table = _only(build_table("2", res, per_cell=True))
    assert table.seeds is None
    assert [(r.n_paired, r.seed, r.reason) for r in table.missing.itertuples()] == [
        (1, 2, "not run")]
    union = _only(build_table("2", res))
    assert sorted((r.n_paired, r.seed) for r in union.missing.itertuples()) == [
        (ALL, 1), (ALL, 2), (1, 2)]


def test_variant_and_arch_are_named_and_older_rows_read_as_the_defaults(tmp_path):
    """The released step's rows differ from the paper's in `balanced` too; the table still says
    which step made each; a row written before `variant` / `arch` existed reads as paper /
    resnet; the paper's pix2pix number goes to the pix2pix row only."""
    old = make_row(seg(.4), unpaired=8, paired_budget=1, seed=0)
    del old["variant"], old["arch"]
    write_rows(tmp_path, [old, make_row(seg(.2), unpaired=8, paired_budget=1, seed=0,
                                        variant="released")])
    two = _only(build_table("2", load_results(tmp_path)))
    assert "variant" in two.axes and "arch" not in two.axes
    assert two.cells.set_index("variant")["pixel_acc.mean"].to_dict() == pytest.approx(
        {"paper": .4, "released": .2})
    full = [make_row(seg(v), mode="paired", paired_budget=-1, unpaired=-1, seed=0, arch=arch,
                     image_size=64, load_size=72) for v, arch in ((.9, "pix2pix"), (.8, "resnet"))]
    write_rows(tmp_path / "full", full)
    one = _only(build_table("1", load_results(tmp_path / "full")))
    paper = one.cells.set_index("arch")["pixel_acc.paper"]
    assert paper["pix2pix"] == .878 and paper.isna()["resnet"]
