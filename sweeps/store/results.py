"""One atomic Parquet row per trial ("Results row" in docs/contracts.md).

Layout: `<results>/<grid>/dataset=<name>/<trial_key>.parquet`, Hive-partitioned: the `dataset`
column lives in the folder name only, never inside the file, so that stock readers
(`pd.read_parquet(<results>/<grid>)`, `pyarrow.dataset.dataset(<results>, partitioning="hive")`)
see one `dataset` column instead of a file column clashing with a partition one. Every row has
the one schema of sweeps.store.schema (every column typed, null where empty), so those readers
read a folder in any file order. A row is written to a hidden temporary name in the same folder
and then moved over the final name, so a reader never sees a half-written file and concurrent
writers of one key leave exactly one whole file. `<results>` is a local folder or any URI
pyarrow understands (`s3://bucket/prefix`); on S3 the final object appears whole because an
upload completes atomically. `python -m analysis compact` gathers a folder's rows into one
`compacted-<id>.parquet`; the readers here see its rows too (a loose row wins over the
compacted copy of its trial: analysis.compact.latest_rows).
"""
from __future__ import annotations

import datetime as dt
import os
import subprocess
import uuid
from importlib import metadata
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from analysis.compact import is_compacted, latest_rows
from sweeps.store.schema import row_table
from trainer.core.atomic import disk_full, no_space
from trainer.core.config import TrialConfig

STATUSES = ("ok", "failed", "stopped")   # a trial's outcome, the `status` column
HIDDEN_PREFIXES = (".", "_")             # temporary rows, Ray's `_ray/` state: never read as rows
PARTITION = "dataset"                    # the column held in the `dataset=<name>` folder name
SWEEP_COLUMNS = ("trial_key", "grid", "status", "error", "code_version", "started_at",
                 "finished_at")          # what make_row sets itself: no result may hold them


class ResultsError(ValueError):
    """A results folder or row that cannot be used; the message names the path."""


# --- where ------------------------------------------------------------------------------------
def resolve_root(results: str) -> str:
    """An absolute local path, or the URI unchanged (Ray trials run in other working dirs)."""
    return results if "://" in results else os.path.abspath(results)


def _filesystem(path: str) -> tuple[pafs.FileSystem, str]:
    if "://" in path:
        try:
            return pafs.FileSystem.from_uri(path)
        except (pa.ArrowInvalid, OSError) as err:
            raise ResultsError(f"results location {path!r} cannot be opened: {err}") from None
    return pafs.LocalFileSystem(), os.path.abspath(path)


def _join(root: str, *parts: str) -> str:
    return "/".join([root.rstrip("/"), *parts])


def grid_dir(results: str, grid: str) -> str:
    return _join(resolve_root(results), grid)


def row_path(results: str, grid: str, cfg: TrialConfig) -> str:
    """`<results>/<grid>/dataset=<name>/<trial_key>.parquet`."""
    return _join(grid_dir(results, grid), f"dataset={cfg.dataset}", f"{cfg.key()}.parquet")


def samples_path(results: str, grid: str, cfg: TrialConfig) -> str:
    """`<results>/<grid>/_samples/<trial_key>.png`: a trial's sample translations, kept beside
    the rows (the trial's own folder is temporary); the `_` keeps row readers out."""
    return _join(grid_dir(results, grid), "_samples", f"{cfg.key()}.png")


# --- what -------------------------------------------------------------------------------------
def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def make_row(cfg: TrialConfig, grid: str, status: str, *, result: dict | None = None,
             error: str | None = None, code_version: str, started_at: dt.datetime,
             finished_at: dt.datetime) -> dict[str, object]:
    """Config columns, the sweep's columns, then `TrialResult.to_row()` columns.

    A result column of the same name as a config column replaces it: `device` becomes the
    resolved device (`cpu`, `NVIDIA H100 80GB HBM3`) rather than the requested `auto`.
    """
    if status not in STATUSES:
        raise ResultsError(f"status={status!r} is not one of {', '.join(STATUSES)}")
    row: dict[str, object] = dict(cfg.to_row())
    row.update(trial_key=cfg.key(), grid=grid, status=status, error=error)
    clash = sorted(set(result or {}) & set(SWEEP_COLUMNS))
    if clash:
        raise ResultsError(f"trial result column {clash[0]!r} clashes with a results-row column")
    row.update(result or {})
    row.update(code_version=code_version, started_at=started_at, finished_at=finished_at)
    return row


def write_row(path: str, row: dict[str, object]) -> str:
    """Write one row, typed by the one schema (sweeps.store.schema.row_table: every column,
    null where `row` has none; an undeclared column is refused before anything is written), to
    a hidden temporary name beside `path`, then move it over `path`. The partition column
    stays in the folder name."""
    table = row_table(row, drop=(PARTITION,))
    return _publish(path, lambda out: pq.write_table(table, out))


def _partition_of(path: str) -> str | None:
    """The `<name>` of the `dataset=<name>` folder in a row's path, if any."""
    for part in reversed(path.split("/")[:-1]):
        if part.startswith(PARTITION + "="):
            return part[len(PARTITION) + 1:]
    return None


def copy_file(source: str, path: str) -> str:
    """Copy a local file to `path` (local or URI), published like a row."""
    with open(source, "rb") as src:
        data = src.read()
    return _publish(path, lambda out: out.write(data))


def _publish(path: str, write) -> str:
    """write(stream) to a hidden temporary name beside `path`, then move it over `path`."""
    fs, final = _filesystem(path)
    folder, name = final.rsplit("/", 1)
    tmp = _join(folder, f".{name}.{uuid.uuid4().hex}.tmp")
    fs.create_dir(folder, recursive=True)
    try:
        with fs.open_output_stream(tmp) as out:
            write(out)
        fs.move(tmp, final)   # LocalFileSystem: rename(2), atomic replace on POSIX
    except BaseException as err:
        _remove_quietly(fs, tmp)
        if no_space(err):   # one line naming the row and the free space; the old row is whole
            raise disk_full(final if "://" not in path else path) from err
        raise
    return path


def _remove_quietly(fs: pafs.FileSystem, path: str) -> None:
    try:
        fs.delete_file(path)
    except (OSError, FileNotFoundError):
        pass


def _unreadable(path: str, err: Exception) -> ResultsError:
    """A row file cut or damaged (by hand: rows are written whole); the remedy retrains it."""
    detail = " ".join(str(err).split())
    return ResultsError(f"{path}: not a readable results row ({detail}); delete that file to "
                        f"retrain its trial, or rerun with --force to retrain every trial")


def row_status(path: str) -> str | None:
    """The `status` of the row at `path` (or of its compacted copy), or None when there is none."""
    return read_row(path, ("status",)).get("status")


def read_row(path: str, columns: tuple[str, ...] | None = None) -> dict[str, object]:
    """The row at `path` as a dict (only those of `columns` it has; None = all); its compacted
    copy when the loose file is gone (`python -m analysis compact`); {} if there is neither."""
    fs, local = _filesystem(path)
    found = fs.get_file_info(local).type == pafs.FileType.File
    table = _read_table(fs, local, columns) if found else _compacted_copy(fs, local, columns)
    if table is None:
        return {}
    row = {name: table.column(name)[0].as_py() for name in table.column_names}
    dataset = _partition_of(local)
    if dataset is not None and (columns is None or PARTITION in columns):
        row.setdefault(PARTITION, dataset)
    return row


def _read_table(fs: pafs.FileSystem, path: str, columns: tuple[str, ...] | None,
                filters=None) -> pa.Table:
    try:
        names = [c for c in pq.read_schema(path, filesystem=fs).names
                 if columns is None or c in columns]
        return pq.read_table(path, columns=names, filesystem=fs, filters=filters)
    except (pa.ArrowInvalid, OSError) as err:
        raise _unreadable(path, err) from None


def _compacted_copy(fs: pafs.FileSystem, path: str,
                    columns: tuple[str, ...] | None) -> pa.Table | None:
    """The latest compacted row of the trial whose loose file would be `path`, or None."""
    folder, name = path.rsplit("/", 1)
    if fs.get_file_info(folder).type != pafs.FileType.Directory:
        return None
    key = name.removesuffix(".parquet")
    wanted = None if columns is None else (*columns, "trial_key", "finished_at")
    found = [t for info in fs.get_file_info(pafs.FileSelector(folder))
             if is_compacted(info.base_name)
             for t in [_read_table(fs, info.path, wanted, [("trial_key", "==", key)])]
             if t.num_rows]
    if not found:
        return None
    table = pa.concat_tables(found, promote_options="permissive")
    table = latest_rows(table, [False] * table.num_rows, [folder] * table.num_rows)
    keep = [c for c in table.column_names if columns is None or c in columns]
    return table.select(keep)


def done_keys(results: str, grid: str, cfgs: list[TrialConfig]) -> set[str]:
    """Keys of the trials that already have an `ok` row (a rerun skips them)."""
    return {cfg.key() for cfg in cfgs if row_status(row_path(results, grid, cfg)) == "ok"}


# --- reading back -----------------------------------------------------------------------------
def row_files(results: str, grid: str | None = None) -> list[str]:
    """Every row file under `<results>` (or `<results>/<grid>`), hidden names left out."""
    fs, root = _filesystem(grid_dir(results, grid) if grid else resolve_root(results))
    if fs.get_file_info(root).type != pafs.FileType.Directory:
        return []
    infos = fs.get_file_info(pafs.FileSelector(root, recursive=True))
    files = []
    for info in infos:
        rel = info.path[len(root):].strip("/").split("/")
        if (info.type == pafs.FileType.File and info.path.endswith(".parquet")
                and not any(part.startswith(HIDDEN_PREFIXES) for part in rel)):
            files.append(info.path)
    return sorted(files)


def read_rows(results: str, grid: str | None = None) -> pd.DataFrame:
    """All rows as one DataFrame, each trial of a folder once (a loose row over its compacted
    copy); schemas unified (missing columns are null)."""
    fs, _ = _filesystem(resolve_root(results))
    files = row_files(results, grid)
    if not files:
        return pd.DataFrame()
    tables = [_with_partition(pq.read_table(f, filesystem=fs), f) for f in files]
    table = pa.concat_tables(tables, promote_options="permissive")
    loose = [not is_compacted(f.rsplit("/", 1)[-1]) for f, t in zip(files, tables)
             for _ in range(t.num_rows)]
    folders = [f.rsplit("/", 1)[0] for f, t in zip(files, tables) for _ in range(t.num_rows)]
    return latest_rows(table, loose, folders).to_pandas()


def _with_partition(table: pa.Table, path: str) -> pa.Table:
    """The `dataset` column from the folder name (rows written before it left the file keep
    their own)."""
    dataset = _partition_of(path)
    if dataset is None or PARTITION in table.column_names:
        return table
    return table.append_column(PARTITION, pa.array([dataset] * table.num_rows, pa.string()))


# --- provenance -------------------------------------------------------------------------------
def code_version() -> str:
    """`git describe --always --dirty` of this checkout, else the installed package version."""
    repo = Path(__file__).resolve().parents[2]   # sweeps/store/results.py -> the checkout
    try:
        out = subprocess.run(["git", "-C", str(repo), "describe", "--always", "--dirty"],
                             capture_output=True, text=True, timeout=10, check=True)
        return f"git:{out.stdout.strip()}"
    except (OSError, subprocess.SubprocessError):
        try:
            return f"fewpair:{metadata.version('fewpair')}"
        except metadata.PackageNotFoundError:
            return "unknown"
