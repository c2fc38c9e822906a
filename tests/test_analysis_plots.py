"""analysis.plots: the PNGs exist, and the figures carry the expected series -- budget curves
per selector with t 95 % CI bands; hybrid vs unpaired only vs paired only; per-seed boxes/points."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from analysis import AnalysisError, load_results, plot_budget_curves, plot_seed_distributions
from analysis.inference import mean_ci
from analysis.report import build_report
from analysis_rows import TABLE_1_VALUES, TABLE_2_VALUES, make_row, seg, write_row


def _labels(ax) -> list[str]:
    return [line.get_label() for line in ax.get_lines()]


def test_budget_curves_series(paper_results, tmp_path):
    out = tmp_path / "curves.png"
    fig = plot_budget_curves(paper_results, out)
    paired, hybrid = fig.axes
    assert _labels(paired) == ["random", "kmedoids", "paired only, 200 pairs",
                               "paired only, all pairs"]
    assert len(paired.collections) == 2                      # one CI band per selector
    rnd = paired.get_lines()[0]
    assert list(rnd.get_xdata()) == [1, 5]
    assert list(rnd.get_ydata()) == pytest.approx([.4, .6])
    band = paired.collections[0].get_paths()[0].vertices[:, 1]
    assert band.min() == pytest.approx(mean_ci([.2, .3, .4, .5, .6])[0])   # 1 pair, random
    assert band.max() == pytest.approx(.6)                   # 5 pairs: five seeds of .6
    bands = [len(c.get_paths()[0].vertices) if c.get_paths() else 0 for c in hybrid.collections]
    assert bands[:3] == [0, 0, 0] and all(bands[3:])   # hybrid: 2 seeds, no band; paired: 5
    assert _labels(hybrid) == ["hybrid, random", "hybrid, kmedoids",
                               "hybrid, kmedoids, unbalanced", "unpaired only (200)",
                               "paired only, random", "paired only, kmedoids",
                               "paired only, 200 pairs", "paired only, all pairs"]
    km = hybrid.get_lines()[1]
    assert list(km.get_xdata()) == [1, 20] and list(km.get_ydata()) == pytest.approx([.7, .8])
    assert hybrid.get_lines()[3].get_ydata()[0] == pytest.approx(.5)   # unpaired-only mean
    assert [t.get_text() for t in hybrid.get_xticklabels()] == ["1", "5", "20"]
    with Image.open(out) as image:
        assert image.format == "PNG" and image.size[0] > 800
    assert not list(tmp_path.glob(".*"))                      # the temporary name is gone


def test_seed_distributions_show_every_seed(paper_results, tmp_path):
    fig = plot_seed_distributions(paper_results, tmp_path / "seeds.png")
    paired, hybrid = fig.axes
    ticks = [t.get_text().replace("\n", " ") for t in paired.get_xticklabels()]
    assert ticks == ["1 pair random", "1 pair kmedoids", "5 pairs random", "5 pairs kmedoids"]
    points = [np.sort(c.get_offsets()[:, 1]) for c in paired.collections]
    assert [len(p) for p in points] == [5, 3, 5, 5]
    assert list(points[0]) == pytest.approx(sorted(TABLE_1_VALUES[(1, "random")].values()))
    assert len(paired.patches) == 4                           # one box per budget x selector
    hybrid_ticks = [t.get_text().replace("\n", " ") for t in hybrid.get_xticklabels()]
    assert hybrid_ticks == ["1 pair random balanced", "1 pair kmedoids balanced",
                            "20 pairs kmedoids balanced", "20 pairs kmedoids unbalanced"]
    hybrid_points = sum(len(c.get_offsets()) for c in hybrid.collections)
    assert hybrid_points == sum(len(v) for k, v in TABLE_2_VALUES.items() if k[0] == "hybrid")


def test_without_a_paired_budget_sweep_one_panel_holds_every_baseline(tmp_path):
    """The demo's shape: hybrid arms, unpaired only, and every pool sample paired."""
    rows = [make_row(seg(px), mode="hybrid", unpaired=40, paired_budget=1, seed=seed)
            for seed, px in enumerate((.3, .5))]
    rows.append(make_row(seg(.2), mode="unpaired", unpaired=40, paired_budget=0))
    rows.append(make_row(seg(.45), mode="paired", unpaired=40, paired_budget=-1))
    for row in rows:
        write_row(tmp_path / "res", row)
    (only,) = plot_budget_curves(load_results(tmp_path / "res"), tmp_path / "c.png").axes
    assert _labels(only) == ["hybrid, kmedoids", "unpaired only (40)", "paired only, 40 pairs"]
    assert only.get_lines()[0].get_ydata()[0] == pytest.approx(.4)
    assert only.get_lines()[2].get_ydata()[0] == pytest.approx(.45)


def test_one_plot_per_dataset_when_several(tmp_path):
    for dataset in ("toy-streets", "cityscapes"):
        write_row(tmp_path / "res", make_row(seg(.5), dataset=dataset, mode="paired", unpaired=-1,
                                             paired_budget=1, seed=0))
    with pytest.raises(AnalysisError, match="one dataset and protocol"):
        plot_budget_curves(load_results(tmp_path / "res"), tmp_path / "x.png")
    made = build_report(tmp_path / "res", plot=tmp_path / "c.png").plots
    assert sorted(p.name for p in made) == ["c-cityscapes-segmentation.png",
                                            "c-toy-streets-segmentation.png"]
    assert all(p.exists() for p in made)


def test_plot_into_a_missing_folder_is_an_error(paper_results, tmp_path):
    with pytest.raises(AnalysisError, match="no such folder"):
        plot_budget_curves(paper_results, tmp_path / "nope" / "c.png")


def test_without_a_paired_budget_sweep_the_seed_plot_has_no_empty_panel(tmp_path):
    """The demo's shape again: only the hybrid panel is drawn, never a 'no rows' one."""
    rows = [make_row(seg(px), mode="hybrid", unpaired=40, paired_budget=1, seed=seed)
            for seed, px in enumerate((.3, .5))]
    rows.append(make_row(seg(.2), mode="unpaired", unpaired=40, paired_budget=0))
    for row in rows:
        write_row(tmp_path / "res", row)
    fig = plot_seed_distributions(load_results(tmp_path / "res"), tmp_path / "s.png")
    (only,) = fig.axes
    assert only.get_title() == "hybrid" and not only.texts
    assert sorted(only.collections[0].get_offsets()[:, 1]) == pytest.approx([.3, .5])
