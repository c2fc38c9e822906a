"""Honest reproducibility: every row a trial writes records how it was computed (pack size,
torch threads and version beside device and precision), and the tables note each cell whose rows
were computed in more than one way (another draw of the same distribution, not a repeat)."""
from __future__ import annotations

import torch

from analysis import build_report
from analysis_rows import make_row, seg, write_rows
from sweeps.store import results
from sweeps.tune.trainable import _write
from trainer.core.config import TrialConfig


def test_a_trials_row_records_how_it_was_computed(tmp_path):
    cfg = TrialConfig(paired_budget=1)
    now = results.utc_now()
    alone = str(tmp_path / "alone.parquet")
    _write(alone, cfg, "g", "failed", error="x", code_version="t", started_at=now)
    row = results.read_row(alone)
    assert (row["pack_size"], row["torch_threads"], row["torch_version"]) == \
        (1, torch.get_num_threads(), torch.__version__)
    assert row["precision"] == "fp32"
    packed = str(tmp_path / "packed.parquet")   # a pack member's row says its pack
    _write(packed, cfg, "g", "ok", result={"pack_id": "p", "pack_size": 4}, code_version="t",
           started_at=now)
    assert results.read_row(packed)["pack_size"] == 4


def _cell_rows(budget: int, selection: str, how: list[dict]) -> list[dict]:
    return [make_row(seg(0.4 + 0.01 * seed), grid="g", dataset="toy-streets", mode="paired",
                     unpaired=-1, paired_budget=budget, selection=selection, seed=seed,
                     extra={"torch_version": "2.14.1", "torch_threads": 1, **extra})
            for seed, extra in enumerate(how)]


def test_a_cell_whose_rows_were_computed_differently_is_noted(tmp_path):
    mixed = _cell_rows(1, "random", [{"pack_size": 1}, {"pack_size": 1}, {"pack_size": 4}])
    same = _cell_rows(5, "random", [{"pack_size": 4}] * 3)
    write_rows(tmp_path, mixed + same)
    text = build_report(tmp_path, tables=["1"]).text
    notes = [line for line in text.splitlines() if "rows computed differently" in line]
    assert notes == ["- Table 1 (toy-streets), paired 1, selection random: rows computed "
                     "differently (pack_size 1 (2 rows), 4 (1 row)); not repeats of one "
                     "computation, other draws of the same distribution"]
