"""`python -m analysis evidence RESULTS EVIDENCE --grid NAME`, as README's reproduction section
uses it: a grid's rows become one compacted file per dataset folder that the analysis and stock
readers read as before, with the machine-local image path cleared; a second copy replaces the
first; a grid with no rows, or a row file that does not read, is one error line and nothing
is written. The committed evidence
itself is checked against README by tests/test_readme_evidence.py."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd

from analysis import load_results
from analysis.compact import is_compacted
from stock_readers import stock_reads
from test_row_schema import HYBRID, T0, UNPAIRED, _result, write_mixed_grid

ROOT = Path(__file__).resolve().parent.parent


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "analysis", "evidence", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)


def _frame(root: Path) -> pd.DataFrame:
    frame = load_results(root).all.set_index("trial_key").sort_index()
    return frame[["status", "pixel_acc", "error", "seed", "curve_step"]]


def test_evidence_copies_rows_compacted_and_without_local_paths(tmp_path):
    results, evidence = tmp_path / "res", tmp_path / "docs" / "evidence"
    sink = write_mixed_grid(str(results))
    png = tmp_path / "res" / "g" / "_samples" / "x.png"
    sink.write(UNPAIRED, "ok", T0, result=_result([], .5, samples_png=str(png)))   # a rerun
    done = _cli(str(results), str(evidence), "--grid", "g")
    folder = evidence / "g" / "dataset=toy-streets"
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"{folder}: 4 rows\n"
    files = os.listdir(folder)
    assert len(files) == 1 and is_compacted(files[0])
    pd.testing.assert_frame_equal(_frame(evidence), _frame(results))
    frame, table = stock_reads(evidence / "g")
    assert sorted(frame.index) == sorted(table.index) == sorted(_frame(results).index)
    assert frame["samples_png"].isna().all()
    assert load_results(results).all.set_index("trial_key").loc[UNPAIRED.key(),
                                                                "samples_png"] == str(png)
    assert list(frame.loc[HYBRID.key(), "curve_step"]) == [2, 4]

    sink.write(HYBRID, "ok", T0, result=_result([3, 7], .9))     # re-run, copied again
    assert _cli(str(results), str(evidence), "--grid", "g").returncode == 0
    again = os.listdir(folder)
    assert len(again) == 1 and again != files
    assert _frame(evidence).loc[HYBRID.key(), "pixel_acc"] == .9


def test_a_grid_without_rows_or_a_torn_file_is_one_error_line_and_nothing_is_written(tmp_path):
    results, evidence = tmp_path / "res", tmp_path / "evidence"
    write_mixed_grid(str(results))
    done = _cli(str(results), str(evidence), "--grid", "g", "--grid", "nope")
    assert done.returncode == 2
    assert done.stderr == (f"error: {results / 'nope'}: no rows of grid 'nope' "
                           f"(no dataset=* folder)\n")
    assert not evidence.exists()
    torn = results / "h" / "dataset=toy-streets" / "0123456789abcdef.parquet"
    torn.parent.mkdir(parents=True)
    torn.write_bytes(b"PAR1 cut short")                       # a row file cut by a crash
    done = _cli(str(results), str(evidence), "--grid", "g", "--grid", "h")
    assert done.returncode == 2 and done.stderr.startswith(f"error: {torn}: not a readable "
                                                           f"Parquet file")
    assert len(done.stderr.splitlines()) == 1 and not evidence.exists()
    missing = _cli(str(tmp_path / "gone"), str(evidence), "--grid", "g")
    assert (missing.returncode, missing.stderr) == (2, f"error: {tmp_path / 'gone'}: no such "
                                                       f"results folder\n")
