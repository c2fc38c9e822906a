"""How long `analysis` takes over a paper-sized results folder, against the plainest read.

Writes N one-row Parquet files in the results layout (a Table 1 + Table 2 shaped grid, 10
seeds, with per-archetype columns on half the rows so the schemas differ), then times
  baseline: pyarrow reads every file and concatenates with permissive schema promotion;
  load:     analysis.load_results (schema unification, typing, failed rows apart);
  report:   analysis.report -- load + every table + markdown.
Prints seconds (best of REPEATS) and each ratio to the baseline measured in the same run.

    .venv/bin/python bench/analysis_load.py [N]
"""
from __future__ import annotations

import datetime as dt
import sys
import tempfile
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from analysis import load_results, report
from trainer.core.config import TrialConfig

REPEATS = 3          # best-of, to damp the noise of a shared 2-core machine
DEFAULT_TRIALS = 400  # about the size of the paper's Tables 1 + 2 at 10 seeds


def configs(n: int) -> list[TrialConfig]:
    arms = [dict(mode="paired", unpaired=200, paired_budget=b, selection=s)
            for b in (1, 5, 10, 20, 40) for s in ("random", "kmedoids")]
    arms += [dict(mode="hybrid", paired_budget=b) for b in (1, 5, 10, 20, 40)]
    arms += [dict(mode="unpaired", paired_budget=0)]
    out, seed = [], 0
    while len(out) < n:
        out += [TrialConfig(seed=seed, **arm) for arm in arms][: n - len(out)]
        seed += 1
    return out


def write(root: Path, cfgs: list[TrialConfig]) -> list[Path]:
    now = dt.datetime.now(dt.timezone.utc)
    paths = []
    for i, cfg in enumerate(cfgs):
        row = {**cfg.to_row(), "trial_key": cfg.key(), "grid": "bench", "status": "ok",
               "error": None, "pixel_acc": .5 + i % 7 / 100, "mean_class_acc": .2,
               "mean_iou": .1, "protocol": "segmentation", "code_version": "bench",
               "started_at": now, "finished_at": now}
        if i % 2:
            row.update({"pixel_acc__day": .6, "pixel_acc__night": .3, "pixel_acc_archmean": .45})
        folder = root / "bench" / f"dataset={cfg.dataset}"
        folder.mkdir(parents=True, exist_ok=True)
        paths.append(folder / f"{cfg.key()}.parquet")
        pq.write_table(pa.Table.from_pylist([row]), paths[-1])
    return paths


def best(fn) -> float:
    times = []
    for _ in range(REPEATS):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_TRIALS
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        paths = write(root, configs(n))
        baseline = best(lambda: pa.concat_tables(
            [pq.read_table(p) for p in paths], promote_options="permissive").to_pandas())
        load = best(lambda: load_results(root))
        full = best(lambda: report(root))
    print(f"{n} row files, best of {REPEATS}:")
    print(f"  baseline (pyarrow read + concat): {baseline:.3f} s")
    print(f"  analysis.load_results:            {load:.3f} s  ({load / baseline:.2f}x baseline)")
    print(f"  analysis.report (all tables, md): {full:.3f} s  ({full / baseline:.2f}x baseline)")


if __name__ == "__main__":
    main()
