"""Does packing change the science? One Table-1 cell of the science grid (paired only, 5
k-medoids pairs inside the k-medoids pool of 200, 32x32) over N seeds, trained twice by
`sweeps/run_grid.py` on this machine's Ray: packed (`--pack auto`, the default) and each trial
alone (`--pack 1`). Prints both runs' wall times and, per metric, both means with their 95 % CIs,
the difference and its Welch CI, and Welch's two-sided p of no difference (analysis.inference:
the tables' own statistics; the measurement in docs/contracts.md predates them and printed a
bootstrap CI and a permutation p).

    python3 bench/pack_vs_alone.py [--seeds 10] [--steps 1000] [--storage results/pack-vs-alone]

In float32 a member's numbers depend on the pack it ran in (a different draw of rounding, not a
different method; trainer.run.loop): this measures whether that draw moves the cell's result.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

import yaml

from analysis.inference import delta_ci, mean_ci, welch_p
from sweeps.plan.grids import POOL, TINY_SIZES
from sweeps.store import results

ROOT = Path(__file__).resolve().parents[1]
METRICS = ("pixel_acc", "mean_iou")


def grid_file(path: Path, name: str, seeds: int, steps: int) -> Path:
    """The cell as a --grid-file: the science grid's base, paired only at 5 k-medoids pairs."""
    base = {**TINY_SIZES, "unpaired": POOL, "steps": steps, "eval_limit": 0,
            "report_every": max(1, steps // 4), "checkpoint_every": 0}
    grid = {"name": name, "dataset": "toy-streets", "base": base,
            "arms": [{"label": "paired only", "fixed": {"mode": "paired", "paired_budget": 5,
                                                        "selection": "kmedoids"},
                      "axes": {"seed": list(range(seeds))}}]}
    path.write_text(yaml.safe_dump(grid, sort_keys=False))
    return path


def run(storage: Path, grid: Path, pack: str) -> float:
    """Wall seconds of one run_grid run of the cell."""
    started = time.perf_counter()
    code = subprocess.run([sys.executable, str(ROOT / "sweeps" / "run_grid.py"), "--grid-file",
                           str(grid), "--storage", str(storage), "--pack", pack]).returncode
    if code:
        sys.exit(f"error: run_grid --pack {pack} exited {code} (its output is above)")
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=10, help="seeds of the cell (each run)")
    parser.add_argument("--steps", type=int, default=1000, help="steps per trial")
    parser.add_argument("--storage", default="results/pack-vs-alone",
                        help="results root: <storage>/packed and <storage>/alone")
    args = parser.parse_args()
    storage = Path(args.storage)
    storage.mkdir(parents=True, exist_ok=True)
    walls, rows = {}, {}
    for label, pack in (("packed", "auto"), ("alone", "1")):
        name = f"cell-{label}"
        grid = grid_file(storage / f"{name}.yaml", name, args.seeds, args.steps)
        walls[label] = run(storage / label, grid, pack)
        rows[label] = results.read_rows(str(storage / label), name)
    print(f"\n{args.seeds} seeds x {args.steps} steps; wall: packed {walls['packed']:.0f} s, "
          f"alone {walls['alone']:.0f} s ({walls['alone'] / walls['packed']:.2f}x); pack sizes "
          f"{sorted(rows['packed']['pack_size'].value_counts().to_dict().items())}")
    for metric in METRICS:
        packed, alone = (rows[k].sort_values("seed")[metric].to_numpy() for k in ("packed", "alone"))
        (pl, ph), (al, ah), (dl, dh) = mean_ci(packed), mean_ci(alone), delta_ci(packed, alone)
        print(f"{metric}: packed {packed.mean():.4f} [{pl:.4f}, {ph:.4f}]   alone {alone.mean():.4f} "
              f"[{al:.4f}, {ah:.4f}]   packed - alone {packed.mean() - alone.mean():+.4f} "
              f"[{dl:+.4f}, {dh:+.4f}]   Welch p {welch_p(packed, alone):.3f}   "
              f"largest |seed difference| {abs(packed - alone).max():.4f}")


if __name__ == "__main__":
    main()
