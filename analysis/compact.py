"""`python -m analysis compact RESULTS`: many one-row files into one file per dataset folder.

A sweep writes one file per trial (`<grid>/dataset=<name>/<trial_key>.parquet`); reading is the
cost (pyarrow spends ~4 ms per file: 5,000 files ~19 s). Compaction writes the rows of each
dataset folder into one `compacted-<id>.parquet` in that same folder -- a name stock readers
read (no leading `.` or `_`) and that can never be a trial key (16 hex digits) -- then removes
the loose files it absorbed. Later trials still write one loose file each; a later `compact`
absorbs them into a new compacted file.

The rule for a trial found twice (`latest_rows`, used by analysis.load_results and by the sweeps'
own reader): in one dataset folder, the loose row of a trial_key replaces its compacted copy (a
loose file is always newer: it was written after the compaction that absorbed the previous one,
or it is the identical leftover of a compaction that stopped before removing it); between
compacted copies (a crash before the old compacted file was removed), the later `finished_at`.
Stock readers see a trial twice only in those two cases, until the next `compact`.

Steps, each one safe to stop after: (1) read the folder's compacted files and loose rows,
(2) write the new compacted file (a hidden temporary name, then renamed), (3) remove the old
compacted files, (4) remove each absorbed loose file -- renamed to a hidden name first and
removed only if it is still the file that was read (same inode: a trial's rewrite is a new
file, renamed over the name, and is put back). Local folders only (it relies on rename(2)).
Idempotent: a folder with one compacted file and no loose rows is left untouched.
"""
from __future__ import annotations

import os
import uuid
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from analysis.errors import AnalysisError

COMPACTED_PREFIX = "compacted-"   # compacted-<32 hex>.parquet
DATASET_DIR_PREFIX = "dataset="
HIDDEN = (".", "_")               # temporary files, `_samples/`, Ray's `_ray/`: never rows
RANK = "__loose"                  # temporary column: 1 for a loose row, 0 for a compacted copy


def is_compacted(name: str) -> bool:
    return name.startswith(COMPACTED_PREFIX) and name.endswith(".parquet")


def latest_rows(table: pa.Table, loose: list[bool], folders: list[str]) -> pa.Table:
    """`table`'s rows with each (folder, trial_key) once, by the module's rule. `loose[i]` and
    `folders[i]` describe row i (its file's kind and dataset folder)."""
    if all(loose):
        return table
    finished = (table.column("finished_at").to_pandas() if "finished_at" in table.column_names
                else pd.Series([pd.NaT] * table.num_rows))
    keys = pd.DataFrame({"folder": folders, "key": table.column("trial_key").to_pandas(),
                         RANK: loose, "finished": pd.to_datetime(finished, utc=True)})
    order = keys.sort_values([RANK, "finished"], na_position="first", kind="stable")
    keep = order.drop_duplicates(["folder", "key"], keep="last").index.sort_values()
    return table.take(pa.array(keep.to_numpy()))


@dataclass(frozen=True)
class Compacted:
    folder: str        # a `<grid>/dataset=<name>` folder
    absorbed: int      # loose files absorbed (and removed)
    rows: int          # rows in its compacted file now


def compact(results_dir: str | os.PathLike) -> list[Compacted]:
    """Compact every dataset folder under `results_dir` (a results root or one grid's folder)
    that has loose rows or more than one compacted file."""
    root = Path(results_dir)
    if "://" in str(results_dir):
        raise AnalysisError(f"{results_dir}: compact works on a local folder (it renames files)")
    if not root.is_dir():
        raise AnalysisError(f"{root}: no such results folder")
    done = []
    for folder in dataset_folders(root):
        outcome = compact_folder(folder)
        if outcome is not None:
            done.append(outcome)
    return done


def dataset_folders(root: Path) -> list[Path]:
    """`root/dataset=*` (a grid's folder) or `root/<grid>/dataset=*`, hidden names left out."""
    def visible_dirs(folder: Path) -> list[Path]:
        return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(HIDDEN))
    own = [p for p in visible_dirs(root) if p.name.startswith(DATASET_DIR_PREFIX)]
    if own:
        return own
    return [d for grid in visible_dirs(root) for d in visible_dirs(grid)
            if d.name.startswith(DATASET_DIR_PREFIX)]


def compact_folder(folder: Path) -> Compacted | None:
    names = sorted(n for n in os.listdir(folder)
                   if n.endswith(".parquet") and not n.startswith(HIDDEN))
    olds = [n for n in names if is_compacted(n)]
    loose = [n for n in names if not is_compacted(n)]
    if not loose and len(olds) <= 1:
        return None   # already compact
    seen = {n: os.stat(folder / n) for n in loose}    # what is absorbed: these very files
    table = folder_rows(folder, [*olds, *loose])
    publish(folder, table)
    for name in olds:                                  # their rows are in the new file
        (folder / name).unlink(missing_ok=True)
    for name in loose:
        _absorb(folder, name, seen[name])
    return Compacted(str(folder), len(loose), table.num_rows)


def folder_rows(folder: Path, names: list[str]) -> pa.Table:
    """The rows of these files of one dataset folder (compacted and loose), each trial once by
    the module's rule."""
    tables = [_read(folder / n) for n in names]
    table = _unified(tables, [folder / n for n in names])
    kinds = [not is_compacted(n) for n, t in zip(names, tables) for _ in range(t.num_rows)]
    return latest_rows(table, kinds, [str(folder)] * table.num_rows)


def _read(path: Path) -> pa.Table:
    try:
        return pq.read_table(path).replace_schema_metadata(None)
    except (pa.ArrowException, OSError) as exc:
        raise AnalysisError(f"{path}: not a readable Parquet file ({str(exc).splitlines()[0]}); "
                            f"nothing was compacted in its folder") from None


def _unified(tables: list[pa.Table], paths: list[Path]) -> pa.Table:
    """One table; a column only some files have is null elsewhere, types promoted as
    analysis.load_results promotes them (rows written before the one schema: list<null>)."""
    try:
        return pa.concat_tables(tables, promote_options="permissive")
    except (pa.ArrowException, TypeError) as exc:
        raise AnalysisError(f"{paths[0].parent}: column types clash between its files "
                            f"({str(exc).splitlines()[0]}); nothing was compacted") from None


def publish(folder: Path, table: pa.Table) -> Path:
    """Write `table` as a new compacted file in `folder` (a hidden name, fsync, rename)."""
    name = f"{COMPACTED_PREFIX}{uuid.uuid4().hex}.parquet"
    tmp = folder / f".{name}.tmp"
    try:
        pq.write_table(table, tmp)
        with open(tmp, "rb") as handle:   # on disk before the loose files go
            os.fsync(handle.fileno())
        os.replace(tmp, folder / name)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return folder / name


def _absorb(folder: Path, name: str, seen: os.stat_result) -> None:
    """Remove the loose file `name` if it is still the file that was read; a trial's rewrite
    that landed meanwhile (a new inode renamed over the name) is kept."""
    path, hidden = folder / name, folder / f".absorbed-{name}.{uuid.uuid4().hex}"
    try:
        now = os.stat(path)
    except FileNotFoundError:
        return
    if (now.st_ino, now.st_mtime_ns) != (seen.st_ino, seen.st_mtime_ns):
        return                                     # rewritten since it was read: keep it
    os.rename(path, hidden)
    if os.stat(hidden).st_ino != seen.st_ino:      # rewritten between the check and the rename
        try:
            os.link(hidden, path)                  # put it back, unless a newer one is there
        except FileExistsError:
            pass
    hidden.unlink()
