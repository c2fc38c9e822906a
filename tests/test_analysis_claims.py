"""analysis.claims through `python -m analysis`: real Parquet rows shaped like the science and
fidelity grids (sweeps/plan/grids.py) with known metric values, the CLI's printed claims
section parsed back, every number checked against scipy / analysis.inference on the same
values, and each verdict word produced by data built to give it."""
from __future__ import annotations

import contextlib
import io
import re

import numpy as np
import pytest
from scipy import stats

from analysis.__main__ import main
from analysis.claims import CLAIMS, evaluate
from analysis.inference import delta_ci, holm, permutation_p
from analysis.load import load_results
from sweeps.plan import grids
from sweeps.store import results as rows
from tests.analysis_rows import T0, make_row, seg, write_rows

SEEDS10 = range(10)
# science-shaped: (label, config, pixel_acc per seed); pool 200, pairs chosen inside it
SCIENCE = [
    ("random 1", dict(mode="paired", paired_budget=1, selection="random"),
     [.40 + .01 * i for i in SEEDS10]),
    ("kmedoids 1", dict(mode="paired", paired_budget=1, selection="kmedoids"),
     [.55 + .01 * i for i in SEEDS10]),                     # +.15 over random: reproduced
    ("random 5", dict(mode="paired", paired_budget=5, selection="random"),
     [.60 + .01 * i for i in SEEDS10]),
    ("kmedoids 5", dict(mode="paired", paired_budget=5, selection="kmedoids"),
     [.50 + .01 * i for i in SEEDS10]),                     # -.10: not reproduced
    ("unpaired", dict(mode="unpaired", paired_budget=0), [.40, .60, .80]),
    ("hybrid 1", dict(mode="hybrid", paired_budget=1), [.45, .65, .85]),   # +.05, wide: unresolved
    ("hybrid 1 unbalanced", dict(mode="hybrid", paired_budget=1, balance=False), [.5, .6]),
    ("hybrid 5", dict(mode="hybrid", paired_budget=5), [.70, .71, .72]),  # no unbalanced twin
]
# fidelity-shaped: pool 100, 5 seeds; the released step sets its own epochs (mix, balance)
FIDELITY = [
    ("released 1", dict(paired_budget=1, variant="released"), [.60, .61, .62, .63, .64]),
    ("epochs 1", dict(paired_budget=1, mix="alternate", balance=False), [.40, .41, .42, .43, .44]),
    ("paper 1", dict(paired_budget=1), [.601, .611, .621, .631, .641]),
    ("released 5", dict(paired_budget=5, variant="released"), [.5, .6, .7, .5, .6]),
    ("epochs 5", dict(paired_budget=5, mix="alternate", balance=False), [.55, .65, .45, .7, .5]),
    ("paper 5", dict(paired_budget=5), [.3, .5, .7, .4, .6]),
]
V = {label: values for label, _, values in SCIENCE + FIDELITY}
SCIENCE_CLAIMS = {   # claim -> (A, B, verdict), as the printed section must say
    "selection, 1 pair": ("kmedoids 1", "random 1", "reproduced"),
    "selection, 5 pairs": ("kmedoids 5", "random 5", "not reproduced"),
    "one pair on unpaired data": ("hybrid 1", "unpaired", "unresolved"),
    "hybrid vs paired only, 1 pair": ("hybrid 1", "kmedoids 1", None),
    "hybrid vs paired only, 5 pairs": ("hybrid 5", "kmedoids 5", None),
    "balancing, 1 pair": ("hybrid 1", "hybrid 1 unbalanced", "too few seeds"),
}
FIDELITY_CLAIMS = {
    "released vs paper step, 1 pair": ("released 1", "epochs 1", "differs"),
    "released training vs paper text, 1 pair": ("released 1", "paper 1", "agrees within ±0.02"),
    "released vs paper step, 5 pairs": ("released 5", "epochs 5", "unresolved"),
    "released training vs paper text, 5 pairs": ("released 5", "paper 5", "unresolved"),
}
NUMBER = re.compile(r"[+-]?\d*\.\d+")


def _rows(grid: str, table, steps: int = 400, **base) -> list[dict]:
    return [make_row(seg(px), grid=grid, dataset="toy-streets", seed=seed, steps=steps,
                     **base, **config)
            for _, config, values in table for seed, px in enumerate(values)]


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    root = tmp_path_factory.mktemp("claims")
    write_rows(root, _rows("science", SCIENCE, unpaired=200)
               + _rows("fidelity", FIDELITY, unpaired=100, mode="hybrid")
               + _rows("t1", SCIENCE[:4], steps=500, unpaired=200))   # another trial key
    return root


def _cli(*argv: str) -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(list(argv)) == 0
    return out.getvalue()


@pytest.fixture(scope="module")
def printed(results) -> str:
    return _cli(str(results))


def _block(text: str, grid: str) -> str:
    """The one claims section printed for `grid`."""
    heads = [h for h in text.split("\n### ") if h.startswith("The paper's claims")
             and f"({grid} grid," in h.splitlines()[0]]
    assert len(heads) == 1, f"one claims section for {grid}"
    return heads[0]


def _section(text: str, grid: str) -> dict[str, dict[str, str]]:
    """claim -> column -> cell of the claims table printed for `grid`."""
    lines = [line for line in _block(text, grid).splitlines() if line.startswith("|")]
    cells = [[c.strip() for c in line.strip("|").split("|")] for line in lines]
    return {row[0]: dict(zip(cells[0], row)) for row in cells[2:]}


def _close(text: str, *expected: float, decimals: int = 3) -> None:
    """The numbers printed in `text` (to `decimals`) are `expected`."""
    found = [float(n) for n in NUMBER.findall(text)]
    assert found == pytest.approx(list(expected), abs=.5 * 10 ** -decimals + 1e-9), text


def _check_numbers(row: dict[str, str], a: list[float], b: list[float], p_adj: float) -> None:
    low, high = delta_ci(a, b)
    _close(row["Δ mean (A − B) [95% CI]"], np.mean(a) - np.mean(b), low, high)
    p = _exact_p(a, b) if len(a) + len(b) <= 10 else permutation_p(a, b)
    for column, value in (("p", p), ("p (Holm)", p_adj)):
        if value < .001:
            assert row[column] == "<.001"
        else:
            _close(row[column], value)
    u = stats.mannwhitneyu(a, b).statistic / (len(a) * len(b))
    _close(row["P(A > B)"], u, decimals=2)


def _exact_p(a: list[float], b: list[float]) -> float:
    """scipy's permutation test over every split (252 for 5 + 5): no resampling at all."""
    return stats.permutation_test((a, b), lambda x, y, axis: x.mean(axis) - y.mean(axis),
                                  permutation_type="independent", vectorized=True,
                                  n_resamples=np.inf).pvalue


def _family_holm(claims: dict) -> dict[str, float]:
    tested = {c: (V[a], V[b]) for c, (a, b, _) in claims.items()
              if min(len(V[a]), len(V[b])) >= 3}
    adjusted = holm([permutation_p(a, b) for a, b in tested.values()])
    return dict(zip(tested, adjusted))


def test_science_claims_numbers_and_verdicts(printed):
    section = _section(printed, "science")
    assert list(section) == list(SCIENCE_CLAIMS)   # balancing at 5 pairs: no unbalanced rows
    adjusted = _family_holm(SCIENCE_CLAIMS)
    for claim, (a, b, word) in SCIENCE_CLAIMS.items():
        row = section[claim]
        assert row["n (A vs B)"] == f"{len(V[a])} vs {len(V[b])}"
        if word is not None:
            assert row["verdict"] == word, claim
        if claim in adjusted:
            _check_numbers(row, V[a], V[b], adjusted[claim])
    few = section["balancing, 1 pair"]
    assert [few[c] for c in ("p", "p (Holm)", "P(A > B)")] == ["too few"] * 3
    assert few["Δ mean (A − B) [95% CI]"] == "+.100 (n=2: too few)"   # .65 - .55
    assert section["selection, 1 pair"]["paper (A vs B)"] == ".567 vs .401"   # Table 1
    assert section["selection, 1 pair"]["paper Δ"] == "+.166"
    assert section["one pair on unpaired data"]["paper (A vs B)"] == ".697 vs .570"   # Table 2
    assert section["balancing, 1 pair"]["paper Δ"] == ""   # the paper has no 1-pair unbalanced
    notes = [line for line in _block(printed, "science").splitlines() if line.startswith("- ")]
    assert notes == ["- selection, 5 pairs: the paper's own Δ (+.003) is inside ±0.02: its "
                     "number shows no effect above +0.02 either, so a 'not reproduced' here "
                     "does not contradict it."]     # .636 vs .633: the only such claim


def test_fidelity_claims_two_sided(printed):
    section = _section(printed, "fidelity")
    assert list(section) == [c for c in (
        "released vs paper step, 1 pair", "released training vs paper text, 1 pair",
        "released vs paper step, 5 pairs", "released training vs paper text, 5 pairs")]
    adjusted = _family_holm(FIDELITY_CLAIMS)
    for claim, (a, b, word) in FIDELITY_CLAIMS.items():
        assert section[claim]["verdict"] == word, claim
        assert section[claim]["paper Δ"] == ""
        _check_numbers(section[claim], V[a], V[b], adjusted[claim])


def test_table1_only_grid_prints_claims_1_and_2_and_the_html_too(results, tmp_path):
    page = tmp_path / "report.html"
    text = _cli(str(results), "--grid", "t1", "--html", str(page))
    assert text.count("The paper's claims at this size") == 1
    assert list(_section(text, "t1")) == ["selection, 1 pair", "selection, 5 pairs"]
    assert "Verdict where the paper says A > B: reproduced when Holm p < 0.05" in text
    html = page.read_text(encoding="utf-8")
    assert html.count("<h2>The paper&#x27;s claims at this size: science (t1 grid") == 1
    assert ">reproduced</td>" in html and ">not reproduced</td>" in html


def test_margin_flag_changes_the_verdict_and_latex_comments(results):
    # unresolved at the default ±0.02, the 5-pair step claim's CI [-.090, +.110] fits in ±0.25
    text = _cli(str(results), "--grid", "fidelity", "--claim-margin", "0.25", "--format", "latex")
    lines = [line for line in text.splitlines() if "released vs paper step, 5 pairs" in line]
    assert len(lines) == 1 and lines[0].startswith("% ") and "agrees within ±0.25" in lines[0]


def test_bad_margin_is_one_line(results, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([str(results), "--claim-margin", "-1"])
    assert exit_info.value.code == 2
    assert capsys.readouterr().err.count("\n") == 1


def test_every_claim_finds_its_arms_in_the_grids_it_belongs_to(tmp_path):
    """The arms are the grids' own trials: every trial of science and fidelity written by the
    sweep's row writer, each claim finds both arms with the grid's seed counts."""
    for name in ("science", "fidelity"):
        for cfg in grids.expand(grids.get_grid(name)):
            row = rows.make_row(cfg, name, "ok", result=seg(.5 + .01 * cfg.seed),
                                code_version="test", started_at=T0, finished_at=T0)
            rows.write_row(rows.row_path(str(tmp_path), name, cfg), row)
    found = {(s.grid, s.family): dict(zip(s.results["claim"], zip(s.results["n_a"],
                                                                 s.results["n_b"])))
             for s in evaluate(load_results(tmp_path).ok)}
    assert set(found) == {("science", "science"), ("fidelity", "fidelity")}
    science = {c.name: (6, 6) for c in CLAIMS if c.family == "science"}   # hybrid: 6 seeds
    science.update({"selection, 1 pair": (10, 10), "selection, 5 pairs": (10, 10),
                    "hybrid vs paired only, 1 pair": (6, 10),
                    "hybrid vs paired only, 5 pairs": (6, 10)})
    assert found["science", "science"] == science
    assert found["fidelity", "fidelity"] == {c.name: (5, 5) for c in CLAIMS
                                             if c.family == "fidelity"}


def test_a_rerun_at_more_steps_is_its_own_partition_and_pix2pix_rows_split_nothing(tmp_path):
    """Two step counts in one grid folder: two families, never one pooled arm; a pix2pix row
    (no claim's arm) varies arch, gan_loss, ... and still adds no partition."""
    table = SCIENCE[:2]   # 1 pair, random and k-medoids
    write_rows(tmp_path, _rows("rerun", table, steps=600, unpaired=200)
               + _rows("rerun", table, steps=800, unpaired=200)
               + [make_row(seg(.9), grid="rerun", dataset="toy-streets", mode="paired",
                           paired_budget=-1, unpaired=-1, arch="pix2pix", steps=600)])
    sets = evaluate(load_results(tmp_path).ok)
    assert [(s.context, list(s.results["claim"]), list(s.results["n_a"])) for s in sets] == [
        ({"steps": "600"}, ["selection, 1 pair"], [10]),
        ({"steps": "800"}, ["selection, 1 pair"], [10])]
