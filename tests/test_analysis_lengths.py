"""The claims against training length, at each arm's best, the Δ-vs-steps plot and the README
section, on rows of the `verdicts` grid's own trials (sweeps/plan/grids.py) written by the
sweep's row writer, with metric values and holdout curves filled in by hand so that each
verdict is known: one claim holds at every length, one turns round at 2,000 steps ("depends on
length"), one is ruled out, and the metrics disagree on one."""
from __future__ import annotations

import contextlib
import io

import numpy as np
import pytest

from analysis.__main__ import main
from analysis.claims import BEST, at_best, evaluate
from analysis.curves import best_point
from analysis.lengths import DEPENDS, final_verdict
from analysis.load import load_results
from analysis.plots import plot_claim_lengths
from analysis.readme import HEADING, section_of
from sweeps.plan import grids
from sweeps.store import results as store
from tests.analysis_rows import T0

SEEDS = range(6)
# (mode, paired_budget, selection, balance) -> {steps: final pixel_acc of seed 0}; seed s adds
# .004 s. mean_iou is pixel_acc / 4 except where MIOU says otherwise.
ARMS = {
    ("paired", 1, "random", True): {500: .40, 1000: .40, 2000: .40},
    ("paired", 1, "kmedoids", True): {500: .50, 1000: .50, 2000: .50},
    ("unpaired", 0, "kmedoids", True): {500: .30, 1000: .38, 2000: .50},   # still rising
    ("hybrid", 1, "kmedoids", True): {500: .45, 1000: .45, 2000: .45},
    ("hybrid", 1, "random", True): {500: .445, 1000: .445, 2000: .445},
}
MIOU = {("hybrid", 1, "random", True): .09}   # px Δ +.005 (< .02), mIoU Δ +.0225 (> .01)
EVERY = 250   # steps between curve points


def _curve(px: float, miou: float, steps: int) -> dict[str, list]:
    """Points every EVERY steps rising by .01 a point to the row's scores at the last; the
    holdout score .02 above val pixel accuracy."""
    points = list(range(EVERY, steps + 1, EVERY))
    rise = [.01 * (len(points) - 1 - i) for i in range(len(points))]
    return {"curve_step": points, "curve_holdout_score": [px + .02 - r for r in rise],
            "curve_val_pixel_acc": [px - r for r in rise],
            "curve_val_mean_iou": [miou - r / 4 for r in rise],
            "curve_val_mean_class_acc": [(px - r) / 2 for r in rise]}


def _result(cfg, final: float) -> dict:
    key = (cfg.mode, cfg.paired_budget, cfg.selection, cfg.balance)
    px = final + .004 * cfg.seed
    miou = MIOU.get(key, px / 4)
    return {"pixel_acc": px, "mean_class_acc": px / 2, "mean_iou": miou,
            "protocol": "segmentation", **_curve(px, miou, cfg.steps)}


@pytest.fixture(scope="module")
def evidence(tmp_path_factory):
    root = tmp_path_factory.mktemp("evidence")
    for cfg in grids.expand(grids.get_grid("verdicts")):
        key = (cfg.mode, cfg.paired_budget, cfg.selection, cfg.balance)
        if key not in ARMS or cfg.seed not in SEEDS:
            continue
        row = store.make_row(cfg, "verdicts", "ok", result=_result(cfg, ARMS[key][cfg.steps]),
                             code_version="test", started_at=T0, finished_at=T0)
        store.write_row(store.row_path(str(root), "verdicts", cfg), row)
    return root


@pytest.fixture(scope="module")
def sets(evidence):
    ok = load_results(evidence).ok
    return evaluate(ok) + at_best(ok)


def _verdicts(sets, metric: str) -> dict[object, dict[str, str]]:
    """length -> claim -> verdict (with ' (fragile)' where marked)."""
    return {s.length: {c: v + (" (fragile)" if f else "") for c, v, f in
                       zip(s.results["claim"], s.results["verdict"], s.results["fragile"])}
            for s in sets if s.metric == metric and s.family == "science"}


def test_each_length_is_judged_on_its_own_trials(sets):
    px = _verdicts(sets, "pixel_acc")
    assert sorted(k for k in px if k != BEST) == [500, 1000, 2000] and BEST in px
    for length in (500, 1000, 2000):
        assert px[length]["selection, 1 pair"] == "reproduced"            # +.10 everywhere
        assert px[length]["hybrid vs paired only, 1 pair"] == "not reproduced"   # -.05
        assert px[length]["selection inside the hybrid"] == "not reproduced"      # +.005 < .02
    one_pair = {k: px[k]["one pair on unpaired data"] for k in (500, 1000, 2000)}
    assert one_pair == {500: "reproduced", 1000: "reproduced", 2000: "not reproduced"}
    five = [s for s in sets if s.length == 1000 and s.metric == "pixel_acc"][0]
    row = five.results.set_index("claim").loc["one pair on unpaired data"]
    assert row["n_a"] == row["n_b"] == 6 and row["delta_mean"] == pytest.approx(.07)
    assert row["boundary"] == pytest.approx(.02)          # the margin nearest Δ


def test_at_each_arms_best_takes_the_best_holdout_point_over_every_length(sets):
    """Unpaired-only's best holdout points are its 2,000-step trials' last: at its best it
    reaches .50 + .004 s, and one pair on unpaired data is ruled out there too."""
    best = _verdicts(sets, "pixel_acc")[BEST]
    assert best["one pair on unpaired data"] == "not reproduced"
    assert best["selection, 1 pair"] == "reproduced"
    at = [s for s in sets if s.length == BEST and s.metric == "pixel_acc"][0]
    row = at.results.set_index("claim").loc["one pair on unpaired data"]
    assert row["delta_mean"] == pytest.approx(-.05)


def test_best_point_ties_go_to_the_earlier_step():
    row = {"curve_step": np.array([250, 500, 750, 1000]),
           "curve_holdout_score": np.array([.3, .5, .5, .4]),
           "curve_val_pixel_acc": np.array([.31, .52, .55, .41])}
    assert best_point(row, ["pixel_acc"]) == {"best_holdout": .5, "best_step": 500,
                                              "best_pixel_acc": .52}
    assert best_point({"curve_step": None, "curve_holdout_score": None}, ["pixel_acc"]) is None


def test_final_verdict_holds_at_the_two_longest_lengths():
    assert final_verdict({500: "unresolved", 1000: "reproduced", 2000: "reproduced"}) == (
        "reproduced")
    assert final_verdict({500: "reproduced", 1000: "reproduced", 2000: "unresolved"}) == DEPENDS
    assert final_verdict({1000: "reproduced"}) == ""
    assert final_verdict({1000: "reproduced (fragile)", 2000: "reproduced"}) == (
        "reproduced (fragile)")


def _cli(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(list(argv))
    return code, out.getvalue()


def _table(text: str, title: str) -> dict[str, dict[str, str]]:
    block = text.split(f"### {title}", 1)[1].split("\n### ", 1)[0]
    lines = [line for line in block.splitlines() if line.startswith("|")]
    cells = [[c.strip() for c in line.strip("|").split("|")] for line in lines]
    return {row[0]: dict(zip(cells[0], row)) for row in cells[2:]}


def test_the_printed_length_table_and_its_final_verdicts(evidence, tmp_path):
    page = tmp_path / "report.html"
    code, text = _cli(str(evidence), "--claims-plot", str(tmp_path / "claims.png"),
                      "--html", str(page))
    assert code == 0
    assert page.read_text(encoding="utf-8").count(
        "<h2>The paper&#x27;s claims against training length: science (verdicts grid") == 2
    table = _table(text, "The paper's claims against training length: science (verdicts grid, "
                         "toy-streets, pixel_acc)")
    one = table["one pair on unpaired data"]
    assert one["500 steps"].startswith("+.150 [") and one["500 steps"].endswith("] reproduced")
    assert one["2,000 steps"].startswith("-.050 [") and one["2,000 steps"].endswith(
        "not reproduced")
    assert one["final verdict"] == DEPENDS
    assert one[BEST].endswith("not reproduced")
    assert table["selection, 1 pair"]["final verdict"] == "reproduced"
    assert table["hybrid vs paired only, 1 pair"]["final verdict"] == "not reproduced"
    miou = _table(text, "The paper's claims against training length: science (verdicts grid, "
                        "toy-streets, mean_iou)")
    assert miou["selection inside the hybrid"]["final verdict"] == "reproduced"
    assert ("- selection inside the hybrid (verdicts grid, 2,000 steps): the metrics disagree: "
            "pixel_acc not reproduced; mean_iou reproduced") in text
    assert (tmp_path / "claims.png").stat().st_size > 10_000


def test_the_plot_draws_each_claims_delta_and_band_against_steps(sets, tmp_path):
    fig = plot_claim_lengths(sets, tmp_path / "d.png", "verdicts")
    px = fig.axes[0]
    assert px.get_title().startswith("science, pixel_acc")
    lines = {line.get_label(): line for line in px.get_lines()
             if not line.get_label().startswith("_")}     # the margin and 0 lines are unlabelled
    one = lines["one pair on unpaired data"]
    assert list(one.get_xdata()) == [500, 1000, 2000]
    assert list(one.get_ydata()) == pytest.approx([.15, .07, -.05])
    assert len(px.collections) == len(lines)          # one CI band per claim


def test_readme_section_from_rows_and_its_check(evidence, tmp_path):
    code, text = _cli("readme", str(evidence))
    assert code == 0 and text.startswith(HEADING + "\n")
    summary = [line for line in text.splitlines() if line.startswith("| verdicts")]
    assert any("| one pair on unpaired data" in line and f"| {DEPENDS} |" in line
               for line in summary)
    readme = tmp_path / "README.md"
    readme.write_text("# fewpair\n\nintro\n\n" + text + "\n## Next\n\nmore\n", encoding="utf-8")
    # the blank lines before the next heading are not the section's
    assert section_of(readme.read_text(encoding="utf-8")) == text
    assert _cli("readme", str(evidence), "--check", str(readme))[0] == 0
    readme.write_text(readme.read_text(encoding="utf-8").replace("reproduced |", "x |", 1),
                      encoding="utf-8")
    assert _cli("readme", str(evidence), "--check", str(readme))[0] == 1


def test_readme_of_a_folder_without_claims_is_one_error_line(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert main(["readme", str(tmp_path / "missing")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1
