"""Honest reproducibility: every row a trial writes records how it was computed (pack size,
torch threads and version beside device and precision), and the tables note each cell whose rows
were computed in more than one way (another draw of the same distribution, not a repeat)."""
from __future__ import annotations

import torch

from analysis import build_report
from analysis_rows import make_row, seg, write_rows
from sweeps.store import results
from sweeps.tune.trainable import Sweep
from trainer.core.config import TrialConfig


def test_a_trials_row_records_how_it_was_computed(tmp_path):
    """Through the sink a trial and a pack build on their worker (Sweep.rows)."""
    cfg = TrialConfig(paired_budget=1)
    now = results.utc_now()
    sweep = Sweep("g", str(tmp_path), "t", force=False)
    sweep.rows().write_failure(cfg, ValueError("x"), now)
    row = results.read_row(sweep.rows().path(cfg))
    assert (row["pack_id"], row["pack_size"], row["torch_threads"], row["torch_version"]) == \
        (None, 1, torch.get_num_threads(), torch.__version__)
    assert row["precision"] == "fp32" and row["status"] == "failed"
    sweep.rows(pack_id="p", pack_size=4).write(cfg, "ok", now)   # a pack member says its pack
    assert results.read_row(sweep.rows().path(cfg), ("pack_id", "pack_size")) == \
        {"pack_id": "p", "pack_size": 4}


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
