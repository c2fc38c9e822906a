"""Hand-made results rows for the analysis tests, in exactly the "Results row" layout of
docs/contracts.md: `<results>/<grid>/dataset=<name>/<trial_key>.parquet`, one row per file,
config columns from a real `TrialConfig`, written with pyarrow."""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from trainer.core.config import TrialConfig

SEGMENTATION = ("pixel_acc", "mean_class_acc", "mean_iou")
T0 = dt.datetime(2025, 1, 1, tzinfo=dt.timezone.utc)


def make_row(metrics: dict | None = None, *, grid: str = "g", status: str = "ok",
             error: str | None = None, minute: int = 0, extra: dict | None = None,
             **config) -> dict:
    """One results row. `metrics` None with status failed gives the contract's null metrics."""
    cfg = TrialConfig(**config)
    protocol = ("maps" if cfg.dataset in ("pix2pix", "toy-maps")
                else "fcn-score" if cfg.direction == "BtoA" else "segmentation")
    names = ("maps_pixel_acc",) if protocol == "maps" else SEGMENTATION
    values = dict.fromkeys(names) if metrics is None else dict(metrics)
    row = cfg.to_row()
    row.update(trial_key=cfg.key(), grid=grid, status=status, error=error, **values)
    row.update(protocol=protocol if status == "ok" else None, train_s=12.5, steps_done=cfg.steps,
               steps_per_s=40.0, eval_s=0.5, device="cpu", paired_indices=[0, 3],
               unpaired_indices=list(range(8)), samples_png=None, code_version="test",
               started_at=T0, finished_at=T0 + dt.timedelta(minutes=minute + 1))
    row.update(extra or {})
    return row


def write_row(results: Path, row: dict, schema: pa.Schema | None = None) -> Path:
    folder = Path(results) / row["grid"] / f"dataset={row['dataset']}"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{row['trial_key']}.parquet"
    pq.write_table(pa.Table.from_pylist([row], schema=schema), path)
    return path


def write_rows(results: Path, rows: list[dict]) -> list[Path]:
    return [write_row(results, row) for row in rows]


def seg(px: float, macc: float | None = None, miou: float | None = None, **more) -> dict:
    """Segmentation metrics; mean_class_acc / mean_iou default to fixed fractions of px."""
    return {"pixel_acc": px, "mean_class_acc": px / 2 if macc is None else macc,
            "mean_iou": px / 4 if miou is None else miou, **more}


# --- a small grid touching every paper table, with known per-cell values ---------------------
# pixel_acc per seed; mean_class_acc = px / 2 and mean_iou = px / 4 (seg()).
TABLE_1_VALUES = {  # (paired_budget, selection) -> {seed: pixel_acc}
    (1, "random"): {0: .2, 1: .3, 2: .4, 3: .5, 4: .6},
    (1, "kmedoids"): {0: .5, 1: .6, 2: .7},          # seed 3 failed, seed 4 never written
    (5, "random"): {s: .6 for s in range(5)},
    (5, "kmedoids"): {s: .7 for s in range(5)},
    (-1, "kmedoids"): {0: .9},                       # every pair: one seed, like the paper
}
TABLE_2_VALUES = {  # (mode, paired_budget, selection, balance) -> {seed: pixel_acc}, pool 200
    ("paired", -1, "kmedoids", True): {0: .85, 1: .85},
    ("unpaired", 0, "kmedoids", True): {0: .45, 1: .55},
    ("hybrid", 1, "random", True): {0: .5, 1: .6},
    ("hybrid", 1, "kmedoids", True): {0: .7, 1: .7},
    ("hybrid", 20, "kmedoids", True): {0: .8, 1: .8},
    ("hybrid", 20, "kmedoids", False): {0: .65, 1: .75},
}
FAILED_ERROR = "RuntimeError: loss is not finite at step 12 (paired)\nTraceback ..."


def write_paper_grid(results: Path, dataset: str = "toy-streets", grid: str = "paper") -> None:
    """Rows for Tables 1, 2, 3 and 5 (segmentation, AtoB) of `dataset`."""
    rows = []
    for (budget, selection), values in TABLE_1_VALUES.items():
        rows += [make_row(seg(px), grid=grid, dataset=dataset, mode="paired", unpaired=-1,
                          paired_budget=budget, selection=selection, seed=seed)
                 for seed, px in values.items()]
    rows.append(make_row(None, grid=grid, status="failed", error=FAILED_ERROR, dataset=dataset,
                         mode="paired", unpaired=-1, paired_budget=1, selection="kmedoids",
                         seed=3))
    for (mode, budget, selection, balance), values in TABLE_2_VALUES.items():
        rows += [make_row(seg(px), grid=grid, dataset=dataset, mode=mode, unpaired=200,
                          paired_budget=budget, selection=selection, balance=balance, seed=seed)
                 for seed, px in values.items()]
    for labels, px in (("toy-synthlabels-far", .6), ("toy-synthlabels-close", .78)):
        rows += [make_row(seg(px), grid=grid, dataset=dataset, unpaired_labels=labels,
                          paired_budget=20, seed=seed) for seed in (0, 1)]
    for weights, px in (({"lambda_cycle": 0.0}, .7), ({"lambda_identity": 0.0}, .75)):
        rows += [make_row(seg(px), grid=grid, dataset=dataset, paired_budget=20, seed=seed,
                          **weights) for seed in (0, 1)]
    write_rows(results, rows)
