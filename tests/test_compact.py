"""`python -m analysis compact`: a grid's one-row files become one file per dataset folder that
stock readers, analysis.load_results and the sweeps' own readers all read; idempotent; a row
written after it (a rerun) wins over its compacted copy; a compaction stopped half-way leaves
duplicates the readers drop, never a lost row."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd

from analysis import load_results
from analysis.__main__ import main
from analysis.compact import compact, is_compacted
from stock_readers import stock_reads
from sweeps.store import results
from test_row_schema import FAILED, HYBRID, STOPPED, T0, UNPAIRED, write_mixed_grid

ROOT = Path(__file__).resolve().parent.parent


def _folder(root: Path) -> Path:
    return root / "g" / "dataset=toy-streets"


def _loaded(root) -> pd.DataFrame:
    frame = load_results(root).all.set_index("trial_key").sort_index()
    return frame[["status", "pixel_acc", "error", "seed"]]


def test_compact_by_the_cli_reads_the_same_and_is_idempotent(tmp_path, capsys):
    root = tmp_path / "res"
    write_mixed_grid(str(root))
    before = _loaded(root)
    assert main(["compact", str(root)]) == 0
    assert capsys.readouterr().out == (f"{_folder(root)}: 4 loose rows absorbed, 4 rows in one "
                                       f"compacted file\n")
    files = os.listdir(_folder(root))
    assert len(files) == 1 and is_compacted(files[0])
    pd.testing.assert_frame_equal(_loaded(root), before)
    frame, table = stock_reads(root / "g")                 # stock readers: each trial once
    assert sorted(frame.index) == sorted(table.index) == sorted(before.index)
    assert list(frame.loc[HYBRID.key(), "paired_indices"]) == [3, 7]
    stamp = os.stat(_folder(root) / files[0]).st_mtime_ns
    assert main(["compact", str(root)]) == 0               # again: nothing to do
    assert capsys.readouterr().out == f"{root}: already compact (no loose rows)\n"
    assert os.listdir(_folder(root)) == files
    assert os.stat(_folder(root) / files[0]).st_mtime_ns == stamp


def test_the_sweeps_readers_see_compacted_rows_and_a_later_row_wins(tmp_path):
    root = tmp_path / "res"
    sink = write_mixed_grid(str(root))
    compact(root)
    store = str(root)
    assert results.row_status(sink.path(UNPAIRED)) == "ok"          # a rerun skips it
    assert results.row_status(sink.path(FAILED)) == "failed"        # and retrains this one
    assert results.row_status(results.row_path(store, "g", UNPAIRED.replace(seed=9))) is None
    assert results.done_keys(store, "g", [UNPAIRED, HYBRID, FAILED]) == {UNPAIRED.key(),
                                                                        HYBRID.key()}
    assert results.read_row(sink.path(HYBRID), ("pixel_acc", "dataset")) == \
        {"pixel_acc": .7, "dataset": "toy-streets"}
    sink.write(FAILED, "ok", T0, result={"pixel_acc": .8})           # the rerun: a loose row
    assert results.row_status(sink.path(FAILED)) == "ok"
    ours = results.read_rows(store, "g").set_index("trial_key")
    assert len(ours) == 4 and ours.loc[FAILED.key(), "status"] == "ok"
    loaded = load_results(root)
    assert loaded.ok.set_index("trial_key").loc[FAILED.key(), "pixel_acc"] == .8
    assert sorted(loaded.failed["trial_key"]) == [STOPPED.key()]
    compact(root)                                                    # absorbed: one file again
    assert len(os.listdir(_folder(root))) == 1
    assert results.row_status(sink.path(FAILED)) == "ok"
    assert load_results(root).ok.set_index("trial_key").loc[FAILED.key(), "pixel_acc"] == .8


def test_a_compaction_stopped_half_way_loses_nothing(tmp_path):
    """Stopped after writing its file, before removing the loose ones (their copies kept
    here): the readers drop the duplicates; a second compaction finishes the job. A loose row
    rewritten while a compaction runs is kept."""
    root = tmp_path / "res"
    write_mixed_grid(str(root))
    before = _loaded(root)
    saved = tmp_path / "saved"
    shutil.copytree(_folder(root), saved)
    compact(root)
    for path in saved.iterdir():
        shutil.copy2(path, _folder(root) / path.name)
    assert len(os.listdir(_folder(root))) == 5
    pd.testing.assert_frame_equal(_loaded(root), before)
    assert len(results.read_rows(str(root), "g")) == 4
    compact(root)
    assert len(os.listdir(_folder(root))) == 1
    pd.testing.assert_frame_equal(_loaded(root), before)

    from analysis import compact as module
    path = _folder(root) / f"{HYBRID.key()}.parquet"
    shutil.copy2(saved / path.name, path)
    seen = os.stat(path)
    os.replace(saved / f"{FAILED.key()}.parquet", path)   # a rewrite lands after the read
    module._absorb(path.parent, path.name, seen)
    assert path.exists() and not [n for n in os.listdir(path.parent) if n.startswith(".")]


def test_bad_input_is_one_line(tmp_path):
    out = subprocess.run([sys.executable, "-m", "analysis", "compact", str(tmp_path / "no")],
                         capture_output=True, text=True, cwd=ROOT,
                         env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert out.returncode == 2 and out.stdout == ""
    assert out.stderr == f"error: {tmp_path / 'no'}: no such results folder\n"
    assert main(["compact", "s3://bucket/results"]) == 2
