"""Reading a results folder as a user with stock tools does, in every file order: pandas'
`read_parquet` and `pyarrow.dataset` take a folder's schema from the first file they open, so a
folder that reads in one order can fail in another. `every_order` copies a grid's row files into
fresh folders, one per permutation, with names that make each permutation's first file the one
opened first (checked: `ds.dataset(...).files[0]`)."""
from __future__ import annotations

import itertools
import shutil
from pathlib import Path
from typing import Iterator

import pandas as pd
import pyarrow.dataset as ds

ALL_ORDERS_UP_TO = 5   # files; above it, each file first once (the first file sets the schema)


def row_files(grid: Path) -> list[Path]:
    return sorted(p for p in grid.glob("dataset=*/*.parquet") if not p.name.startswith((".", "_")))


def orders(files: list[Path]) -> list[tuple[Path, ...]]:
    if len(files) <= ALL_ORDERS_UP_TO:
        return list(itertools.permutations(files))
    return [tuple(files[i:] + files[:i]) for i in range(len(files))]


def every_order(grid: Path, scratch: Path) -> Iterator[Path]:
    """Yield one copy of `grid` per file order, its first file opened first."""
    for n, order in enumerate(orders(row_files(grid))):
        copy = scratch / f"order-{n}" / grid.name
        for rank, path in enumerate(order):
            target = copy / path.parent.name / f"{rank:03d}-{path.name}"
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target)
        assert Path(ds.dataset(copy, format="parquet", partitioning="hive").files[0]).name \
            == f"000-{order[0].name}", "pyarrow opened another file first"
        yield copy


def stock_reads(grid: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(pd.read_parquet(grid), pyarrow.dataset.dataset(grid, partitioning="hive")) as frames,
    indexed by trial_key."""
    frame = pd.read_parquet(grid).set_index("trial_key")
    table = ds.dataset(grid, format="parquet", partitioning="hive").to_table()
    return frame, table.to_pandas().set_index("trial_key")
