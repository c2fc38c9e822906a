"""Hand-made results rows for the analysis tests, in exactly the "Results row" layout of
docs/contracts.md: `<results>/<grid>/dataset=<name>/<trial_key>.parquet`, one row per file,
config columns from a real `TrialConfig`, written with pyarrow."""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from trainer.config import TrialConfig

SEGMENTATION = ("pixel_acc", "mean_class_acc", "mean_iou")
_T0 = dt.datetime(2025, 1, 1, tzinfo=dt.timezone.utc)


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
               started_at=_T0, finished_at=_T0 + dt.timedelta(minutes=minute + 1))
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
