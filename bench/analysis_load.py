"""How long `analysis` takes over a paper-sized results folder, against the plainest read, and
what `python -m analysis compact` changes.

Writes N one-row Parquet files in the results layout through the sweeps' own writer (a Table 1
+ Table 2 shaped grid, 10 seeds, with per-archetype columns on half the rows), then times
  baseline: pyarrow reads every file and concatenates with permissive schema promotion;
  load:     analysis.load_results (schema unification, typing, failed rows apart);
  report:   analysis.report -- load + every table + markdown;
then compacts the folder (analysis.compact) and times load and report again.
Prints seconds (best of REPEATS; of 1 from LONG rows on, where a loose read takes minutes),
each ratio to the baseline measured in the same run, and loose / compacted.

    .venv/bin/python bench/analysis_load.py [N]      # N = 10000: the ≤ 3 s compacted target
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
from analysis.compact import compact
from sweeps.store.rows import RowSink
from trainer.core.config import TrialConfig

REPEATS = 3          # best-of, to damp the noise of a shared 2-core machine
LONG = 2000          # rows from which a loose read is timed once
DEFAULT_TRIALS = 400  # about the size of the paper's Tables 1 + 2 at 10 seeds
COMPUTED = {"pack_size": 1, "torch_threads": 1, "torch_version": "bench"}


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
    rows = RowSink(str(root), "bench", "bench", COMPUTED)
    paths = []
    for i, cfg in enumerate(cfgs):
        result = {"pixel_acc": .5 + i % 7 / 100, "mean_class_acc": .2, "mean_iou": .1,
                  "protocol": "segmentation", "paired_indices": list(range(cfg.paired_budget))}
        if i % 2:
            result.update({"pixel_acc__day": .6, "pixel_acc__night": .3,
                           "pixel_acc_archmean": .45})
        paths.append(Path(rows.write(cfg, "ok", now, result=result)))
    return paths


def best(fn, repeats: int = REPEATS) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_TRIALS
    repeats = 1 if n >= LONG else REPEATS
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        paths = write(root, configs(n))
        baseline = best(lambda: pa.concat_tables(
            [pq.read_table(p) for p in paths], promote_options="permissive").to_pandas(),
            repeats)
        load = best(lambda: load_results(root), repeats)
        full = best(lambda: report(root), repeats)
        start = time.perf_counter()
        compact(root)
        compacting = time.perf_counter() - start
        load_c = best(lambda: load_results(root))
        full_c = best(lambda: report(root))
    print(f"{n} row files, best of {repeats} (compacted: of {REPEATS}):")
    print(f"  baseline (pyarrow read + concat): {baseline:.3f} s")
    print(f"  analysis.load_results:            {load:.3f} s  ({load / baseline:.2f}x baseline)")
    print(f"  analysis.report (all tables, md): {full:.3f} s  ({full / baseline:.2f}x baseline)")
    print(f"python -m analysis compact:         {compacting:.3f} s (once)")
    print(f"  analysis.load_results, compacted: {load_c:.3f} s  ({load / load_c:.1f}x faster)")
    print(f"  analysis.report, compacted:       {full_c:.3f} s  (loose / compacted "
          f"{full / full_c:.1f}x)")


if __name__ == "__main__":
    main()
