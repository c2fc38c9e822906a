"""analysis.render: markdown, LaTeX (booktabs, balanced braces, best per column bold) and CSV
of tables built from hand-made rows."""
from __future__ import annotations

import io
import re

import pandas as pd
import pytest
from scipy import stats

from analysis import AnalysisError, build_table, load_results, render
from analysis.inference import mean_ci


def _ci(values: list[float]) -> str:
    """'.400 [.204, .596]' from analysis.inference's t interval (checked against scipy in
    test_analysis_effects), spelled as the tables spell it."""
    low, high = mean_ci(values)
    return f"{sum(values) / len(values):.3f} [{low:.3f}, {high:.3f}]".replace("0.", ".")


@pytest.fixture(scope="module")
def grid(paper_results):
    return paper_results, build_table("1", paper_results) + build_table("2", paper_results)


def _rows_of(markdown: str, heading: str) -> list[list[str]]:
    """The cells of the markdown table under `heading`."""
    block = markdown.split(heading, 1)[1].split("\n\n")[1]
    return [[c.strip() for c in line.strip("|").split("|")] for line in block.splitlines()[2:]]


def test_markdown_cells_notes_missing_and_failed(grid):
    res, tables = grid
    text = render(tables, "md", res.failed)
    rows = _rows_of(text, "### Table 1:")
    assert rows[0][:9] == ["1", "random", "5", _ci([.2, .3, .4, .5, .6]), "0.158", "0.400",
                           "0.240", "0.200", "0.401"]
    assert rows[1][:9] == ["1", "kmedoids", "3", _ci([.5, .6, .7]), "0.100", "0.600", "0.520",
                           "0.500", "0.567"]
    assert rows[-1][:4] == ["all", "-", "1", "**.900 (n=1: too few)**"]   # one seed: no CI
    assert "Missing seeds (every cell expects seeds 0-4):" in text
    assert ("- paired 1, selection kmedoids: no row for seed 4; seed 3 failed: RuntimeError: loss "
            "is not finite at step 12 (paired)") in text
    assert "- paired all, selection -: no row for seed 1-4" in text
    assert "'Cityscapes paper' columns are the paper's published numbers" in text
    two = _rows_of(text, "### Table 2:")
    assert two[2][:6] == ["200", "1", "random", "yes", "2", ".550 (n=2: too few)"]
    assert two[2][10] == "0.588†"
    comparisons = _rows_of(text, "Selection vs random (pixel_acc)")
    assert [r[:4] for r in comparisons] == [["1", "kmedoids", "3 vs 5", "+.200 [-.024, +.424]"],
                                            ["5", "kmedoids", "5 vs 5", "+.100 [+.100, +.100]"]]
    failed = _rows_of(text, "### Failed trials (1)")
    assert failed[0][7:10] == ["3", "failed", "RuntimeError: loss is not finite at step 12 (paired)"]


def test_latex_booktabs_balanced_bold_best(grid):
    res, tables = grid
    tex = render(tables, "latex", res.failed)
    assert tex.count(r"\begin{table}") == 2
    for rule in (r"\toprule", r"\midrule", r"\bottomrule"):
        assert tex.count(rule) == 2
    body = "\n".join(line for line in tex.splitlines() if not line.startswith("%"))
    depth = 0
    for char in body:
        depth += {"{": 1, "}": -1}.get(char, 0)
        assert depth >= 0
    assert depth == 0
    first = body.split(r"\midrule", 1)[1].split(r"\bottomrule", 1)[0]
    rows = [r.strip().rstrip("\\").strip().split(" & ") for r in first.strip().splitlines()]
    assert rows[0][:5] == ["1", "random", "5", _ci([.2, .3, .4, .5, .6]), "0.158"]
    assert rows[-1][3] == r"\textbf{.900 (n=1: too few)}"       # best mean of pixel_acc
    assert rows[1][7] == r"0.500" and rows[-1][7] == r"\textbf{0.900}"   # worst-seed column
    bold_per_column = [sum(r"\textbf" in row[c] for row in rows) for c in range(len(rows[0]))]
    assert all(n <= 1 for n in bold_per_column)
    assert r"pixel\_acc" in body and r"0.588$^\dagger$" in body
    assert "% paired 1, selection kmedoids: no row for seed 4" in tex
    assert "% Failed trials (1):" in tex
    assert re.search(r"^% .* failed +RuntimeError: loss is not finite", tex, re.M)


def test_csv_long_form_numbers(grid):
    res, tables = grid
    frame = pd.read_csv(io.StringIO(render(tables, "csv", res.failed)), dtype={"seeds": str})
    one = frame[(frame["table"] == 1) & (frame["paired"] == "1") & (frame["selection"] == "kmedoids")
                & (frame["metric"] == "pixel_acc")].iloc[0]
    assert (one["n"], one["mean"], one["std"], one["p10"], one["worst"]) == pytest.approx(
        (3, .6, .1, .52, .5))
    assert (one["ci_low"], one["ci_high"]) == pytest.approx(mean_ci([.5, .6, .7]), abs=1e-6)
    assert (one["n_random"], one["delta_mean"], one["p_improve"]) == pytest.approx((5, .2, 13 / 15))
    assert one["p"] == pytest.approx(stats.ttest_ind([.5, .6, .7], [.2, .3, .4, .5, .6],
                                                     equal_var=False).pvalue, abs=1e-6)   # Welch
    random = frame[(frame["selection"] == "random") & (frame["metric"] == "pixel_acc")]
    assert random["p"].isna().all()             # the baseline has no comparison of its own
    assert one["paper"] == .567 and one["missing_seeds"] == "3 4" and one["failed_seeds"] == 3
    assert set(frame["metric"]) == {"pixel_acc", "mean_class_acc", "mean_iou"}
    assert list(frame.columns[:5]) == ["table", "dataset", "protocol", "paired", "selection"]


def test_unknown_format_lists_the_valid_ones(grid):
    with pytest.raises(AnalysisError, match=r"unknown format 'html' \(valid: md, latex, csv\)"):
        render(grid[1], "html")


def test_archetype_average_beside_its_twin_and_unwritten_trials(tmp_path):
    from analysis import with_planned
    from analysis_rows import make_row, seg, write_rows
    from trainer.core.config import TrialConfig
    write_rows(tmp_path, [make_row(seg(.8, pixel_acc_archmean=v, mean_iou_archmean=v / 2),
                                   paired_budget=1, seed=s) for s, v in enumerate((.4, .6))])
    planned = [dict(TrialConfig(paired_budget=1, seed=2).to_row(),
                    trial_key=TrialConfig(paired_budget=1, seed=2).key())]
    res = with_planned(load_results(tmp_path), planned)
    text = render(build_table("2", res), "md", res.failed)
    header = [c.strip() for c in text.split("\n")[2].strip("|").split("|")]
    at = header.index("pixel_acc_archmean [95% CI]")
    assert header[at - 1] == "pixel_acc (Cityscapes paper)"
    assert header[header.index("mean_iou_archmean [95% CI]") - 1] == "mean_iou (Cityscapes paper)"
    row = [c.strip() for c in text.split("\n")[4].strip("|").split("|")]
    assert row[at] == "**.500 (n=2: too few)**"
    assert "### Failed and unwritten trials (1)" in text and "| not run  |" in text
    assert "seed 2 not run" in text
