"""`python -m analysis`: tables on stdout, --out written atomically, plots written, and user
mistakes as one `error: ...` line with exit status 2 and no traceback."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from analysis.__main__ import main, parse_seeds

REPO = Path(__file__).resolve().parents[1]


def test_module_prints_the_requested_table(paper_grid_root, tmp_path):
    run = subprocess.run([sys.executable, "-m", "analysis", str(paper_grid_root), "--table", "1",
                          "--plot", str(tmp_path / "c.png"), "--seed-plot", str(tmp_path / "s.png")],
                         cwd=REPO, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith("### Table 1: photos -> labels, paired only")
    assert "| 1        | random      | 5   | .400 [.204, .596]       | 0.158 " in run.stdout
    assert "### Table 2" not in run.stdout
    assert run.stderr.splitlines() == [f"wrote {tmp_path / 'c.png'}", f"wrote {tmp_path / 's.png'}"]
    assert (tmp_path / "c.png").stat().st_size > 0 and (tmp_path / "s.png").stat().st_size > 0


def test_module_user_mistake_is_one_line(tmp_path):
    run = subprocess.run([sys.executable, "-m", "analysis", str(tmp_path / "none")], cwd=REPO,
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 2 and run.stdout == ""
    assert run.stderr == f"error: {tmp_path / 'none'}: no such results folder\n"


@pytest.mark.parametrize("argv, message", [
    (["--table", "6"], "error: unknown table '6' (valid: 1, 2, 3, 4, 5, 8, 9)"),
    (["--grid", "other"], "error: {root}: no grid 'other' (grids found: paper)"),
    (["--plot", "{tmp}/no/such/c.png"], "error: {tmp}/no/such: no such folder for the plot c.png"),
    (["--out", "{tmp}/no/such/t.md"], "error: {tmp}/no/such: no such folder for --out"),
    (["--table", "1", "--dataset", "toy-maps"],   # asked for, but no row fills it
     "error: no rows for table 1 (photos -> labels, paired only: samples x selection) in {root} "
     "on dataset 'toy-maps': its ok rows are from grid paper (sweeps/run_grid.py --grid table1"),
    (["--seeds", "5-1"], "error: argument --seeds: '5-1': expected e.g. 0-9 or 0,1,5"),
    (["--dataset", "toy-maps", "--plot", "{tmp}/c.png"],
     "error: {root}: no finished trials to plot for dataset 'toy-maps'"),
])
def test_main_errors(paper_grid_root, tmp_path, capsys, argv, message):
    argv = [a.format(tmp=tmp_path) for a in argv]
    try:
        code = main([str(paper_grid_root), *argv])
    except SystemExit as exit_:   # argparse's own errors exit
        code = exit_.code
    assert code == 2
    err = capsys.readouterr().err
    assert err.startswith(message.format(root=paper_grid_root, tmp=tmp_path)) and err.count("\n") == 1


def test_the_hint_for_an_empty_table_names_a_grid_that_exists(paper_grid_root, capsys):
    """Every paper table's hint names a run_grid grid (table 5's is `ablation`), and says so."""
    from analysis.report import grid_of_table
    from analysis.tables import TABLES
    from sweeps.plan.grids import grid_names
    assert {i: grid_of_table(i) for i in TABLES} == {
        "1": "table1", "2": "table2", "3": "table3", "4": "table4", "5": "ablation",
        "8": "table8", "9": "table9"}
    assert set(map(grid_of_table, TABLES)) <= set(grid_names())
    assert main([str(paper_grid_root), "--table", "5", "--dataset", "toy-maps"]) == 2
    assert "(sweeps/run_grid.py --grid ablation runs that table's grid)" in capsys.readouterr().err


def test_out_file_latex_and_declared_seeds(paper_grid_root, tmp_path, capsys):
    out = tmp_path / "tables.tex"
    assert main([str(paper_grid_root), "--table", "1", "--table", "5", "--format", "latex",
                 "--seeds", "0-1", "--out", str(out)]) == 0
    assert capsys.readouterr().out == ""
    tex = out.read_text(encoding="utf-8")
    assert tex.count(r"\toprule") == 2 and "Table 5" in tex
    assert "seed 4" not in tex and "no row for seed 1" in tex       # only seeds 0-1 expected
    assert [p.name for p in tmp_path.iterdir()] == ["tables.tex"]    # no temporary left


def test_parse_seeds():
    assert parse_seeds("0-3,7") == (0, 1, 2, 3, 7) and parse_seeds("5") == (5,)


@pytest.mark.parametrize("n_ok", [0, 1])
def test_a_grid_with_failed_trials_prints_its_cells_and_what_failed(tmp_path, capsys, n_ok):
    """Failed rows as the sweep writes them: no metric columns at all. Every trial failed
    (n_ok 0) or all but one: the table shows each cell with its n, then each failure."""
    from analysis_rows import SEGMENTATION, make_row, seg, write_rows
    error = "NonFiniteLoss: loss cycle_x is inf at step 1 (engine.py:212)"
    rows = []
    for i, (mode, budget, selection) in enumerate([("unpaired", 0, "kmedoids"),
                                                   ("hybrid", 1, "random"),
                                                   ("hybrid", 1, "kmedoids")]):
        config = dict(dataset="toy-streets", mode=mode, paired_budget=budget,
                      selection=selection, unpaired=8, seed=0)
        if i < n_ok:
            rows.append(make_row(seg(0.5), **config))
            continue
        row = make_row(None, status="failed", error=error, **config)
        rows.append({k: v for k, v in row.items() if k not in (*SEGMENTATION, "protocol")})
    write_rows(tmp_path, rows)
    assert main([str(tmp_path)]) == 0
    out = capsys.readouterr().out
    table = [line for line in out.splitlines() if line.startswith("| 8 ")]
    assert len(table) == 3
    assert sorted(line.split("|")[5].strip() for line in table) == sorted(["0", "0", str(n_ok)])
    assert f"### Failed trials ({3 - n_ok})" in out
    for row in rows[n_ok:]:
        assert f"| {row['trial_key']} |" in out and error in out
