"""`python -m analysis evidence RESULTS_DIR EVIDENCE_DIR --grid NAME [--grid NAME]`: the rows
behind README's "Does it reproduce?", copied into a folder small enough to commit.

Each named grid's rows (every status: a failed trial is evidence too) are read from
RESULTS_DIR/<grid>/dataset=<name>/ by the rule analysis.compact uses for a trial found twice,
and written as one compacted-<id>.parquet per dataset folder under EVIDENCE_DIR/<grid>/. What
lies outside the rows stays out: `samples_png` (a path to an image beside the results, on the
machine that ran them) becomes null; checkpoints, images and Ray's folders are never read.
A grid already in EVIDENCE_DIR is replaced as a whole: the new file is written (under a hidden
name, then renamed) before the old files go, so an interrupted copy leaves the old evidence or
both (the reader keeps the later `finished_at`), never half of a file.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa

from analysis.compact import DATASET_DIR_PREFIX, HIDDEN, folder_rows, publish
from analysis.errors import AnalysisError

MACHINE_LOCAL = ("samples_png",)   # paths into the results folder of the machine that ran it


@dataclass(frozen=True)
class Copied:
    folder: str    # EVIDENCE_DIR/<grid>/dataset=<name>
    rows: int


def copy_evidence(results_dir: str | os.PathLike, evidence_dir: str | os.PathLike,
                  grids: list[str]) -> list[Copied]:
    results, evidence = Path(results_dir), Path(evidence_dir)
    if not results.is_dir():
        raise AnalysisError(f"{results}: no such results folder")
    if not grids:
        raise AnalysisError("name the grids to copy: --grid NAME (repeatable)")
    sources = {}
    for grid in grids:   # every grid checked before anything is written
        folders = sorted(p for p in (results / grid).glob(f"{DATASET_DIR_PREFIX}*") if p.is_dir())
        if not folders:
            raise AnalysisError(f"{results / grid}: no rows of grid {grid!r} "
                                f"(no {DATASET_DIR_PREFIX}* folder)")
        sources[grid] = folders
    tables = {(grid, folder): _rows_of(folder)   # every file read before anything is written
              for grid, folders in sources.items() for folder in folders}
    copied = []
    for grid, folders in sources.items():
        for folder in folders:
            table = tables[grid, folder]
            dest = evidence / grid / folder.name
            dest.mkdir(parents=True, exist_ok=True)
            olds = [n for n in os.listdir(dest) if n.endswith(".parquet")]
            publish(dest, table)
            for name in olds:
                (dest / name).unlink()
            copied.append(Copied(str(dest), table.num_rows))
        kept = {f.name for f in folders}
        for stale in (evidence / grid).glob(f"{DATASET_DIR_PREFIX}*"):   # a dataset no longer run
            if stale.name not in kept:
                for name in os.listdir(stale):
                    (stale / name).unlink()
                stale.rmdir()
    return copied


def _rows_of(folder: Path) -> pa.Table:
    names = sorted(n for n in os.listdir(folder)
                   if n.endswith(".parquet") and not n.startswith(HIDDEN))
    if not names:
        raise AnalysisError(f"{folder}: no rows")
    table = folder_rows(folder, names)
    for column in MACHINE_LOCAL:
        if column in table.column_names:
            at = table.column_names.index(column)
            table = table.set_column(at, table.schema.field(at),
                                     pa.nulls(table.num_rows, table.schema.field(at).type))
    return table.sort_by([("grid", "ascending"), ("trial_key", "ascending")])
