"""Load a results folder into pandas: one unified schema, typed columns, failed trials apart.

Layout ("Results row", docs/contracts.md): `<results>/<grid>/dataset=<name>/<trial_key>.parquet`,
one row per file, or many in a `compacted-<id>.parquet` (`python -m analysis compact`; a loose
row replaces the compacted copy of its trial: analysis.compact.latest_rows). The folder may be
local or remote (any URI pyarrow.fs understands, e.g. `s3://bucket/results`); a grid's own folder
is accepted too. Hidden files (`.name`, `_name`) are the writers' temporary names and are
skipped, so a half-written row is never read.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import pandas as pd
import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from analysis.compact import DATASET_DIR_PREFIX, HIDDEN, is_compacted, latest_rows
from analysis.errors import AnalysisError
from analysis.schema import (ARCHETYPE_SEP, ARCHMEAN_METRICS, ARCHMEAN_SUFFIX, CONFIG_DEFAULTS,
                             INT_CONFIG_COLUMNS, MAPS_DATASETS, STATUS_OK)

NOT_RUN = "not run"  # status given to a planned trial that has no row at all
REQUIRED_COLUMNS = ("trial_key", "status", "mode", "paired_budget", "unpaired", "seed")


@dataclass(frozen=True)
class Results:
    ok: pd.DataFrame       # status "ok", one row per trial_key (the latest if written twice)
    failed: pd.DataFrame   # status "failed" / "stopped", unless an ok row of the same key exists
    root: str              # the folder that was read
    grids: tuple[str, ...]  # grid folders read

    @property
    def all(self) -> pd.DataFrame:
        return pd.concat([self.ok, self.failed], ignore_index=True)


def load_results(results_dir: str | os.PathLike, grid: str | None = None,
                 filesystem: pafs.FileSystem | None = None) -> Results:
    """Read every results row under `results_dir` (only `grid`'s folder when given)."""
    fs, root = _open(results_dir, filesystem)
    files = _find_row_files(fs, root, grid)
    frame = _typed(_read_unified(fs, files))
    frame = _fill_archmeans(frame)
    ok, failed = _split(frame)
    grids = tuple(sorted({g for _, g, _ in files}))
    return Results(ok=ok, failed=failed, root=root, grids=grids)


def with_planned(results: Results, planned: list[dict]) -> Results:
    """Add the planned trials (config columns + `trial_key`, e.g. a grid's TrialConfig rows)
    that have no row at all to `failed`, with status "not run", so that their seeds are
    reported missing rather than silently absent."""
    frame = pd.DataFrame(list(planned))
    if frame.empty:
        return results
    missing = [c for c in (*REQUIRED_COLUMNS, "dataset") if c != "status" and c not in frame]
    if missing:
        raise AnalysisError(f"planned trials lack the column {missing[0]!r}")
    seen = set(results.ok["trial_key"]) | set(results.failed["trial_key"])
    frame = frame[~frame["trial_key"].astype(str).isin(seen)].assign(status=NOT_RUN)
    if frame.empty:
        return results
    frame = _typed(frame.drop_duplicates("trial_key"))
    failed = pd.concat([results.failed, frame], ignore_index=True)
    return Results(ok=results.ok, failed=failed, root=results.root, grids=results.grids)


# --- finding the files ------------------------------------------------------------------------
def _open(location: str | os.PathLike, filesystem: pafs.FileSystem | None):
    location = os.fspath(location)
    if filesystem is not None:
        return filesystem, location
    if "://" not in location:
        return pafs.LocalFileSystem(), os.path.abspath(location)
    try:
        return pafs.FileSystem.from_uri(location)
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise AnalysisError(f"{location}: cannot open results folder ({_one_line(exc)})") from None


def _children(fs: pafs.FileSystem, folder: str) -> list[pafs.FileInfo]:
    try:
        infos = fs.get_file_info(pafs.FileSelector(folder))
    except (pa.ArrowException, OSError) as exc:
        raise AnalysisError(f"{folder}: cannot list ({_one_line(exc)})") from None
    return sorted((i for i in infos if not i.base_name.startswith(HIDDEN)), key=lambda i: i.path)


def _grid_dirs(fs: pafs.FileSystem, root: str) -> dict[str, str]:
    """grid name -> folder; `root` itself when it is one grid's folder."""
    info = fs.get_file_info(root)
    if info.type != pafs.FileType.Directory:
        raise AnalysisError(f"{root}: no such results folder")
    dirs = [i for i in _children(fs, root) if i.type == pafs.FileType.Directory]
    if any(i.base_name.startswith(DATASET_DIR_PREFIX) for i in dirs):
        return {info.base_name: root}
    return {i.base_name: i.path for i in dirs if _is_grid(fs, i.path)}   # not plots/ etc.


def _is_grid(fs: pafs.FileSystem, folder: str) -> bool:
    return any(i.type == pafs.FileType.Directory and i.base_name.startswith(DATASET_DIR_PREFIX)
               for i in _children(fs, folder))


def _find_row_files(fs: pafs.FileSystem, root: str, grid: str | None) -> list[tuple[str, str, str]]:
    """[(path, grid, dataset)] of every visible `<grid>/dataset=<name>/*.parquet`."""
    grids = _grid_dirs(fs, root)
    if grid is not None:
        if grid not in grids:
            found = ", ".join(sorted(grids)) or "none"
            raise AnalysisError(f"{root}: no grid {grid!r} (grids found: {found})")
        grids = {grid: grids[grid]}
    files = []
    for name, folder in sorted(grids.items()):
        for sub in _children(fs, folder):
            if sub.type != pafs.FileType.Directory or not sub.base_name.startswith(DATASET_DIR_PREFIX):
                continue
            dataset = sub.base_name[len(DATASET_DIR_PREFIX):]
            files += [(f.path, name, dataset) for f in _children(fs, sub.path)
                      if f.type == pafs.FileType.File and f.base_name.endswith(".parquet")]
    if not files:
        raise AnalysisError(f"{root}: no result rows (expected "
                            f"<grid>/{DATASET_DIR_PREFIX}<name>/<trial_key>.parquet)")
    return files


# --- reading with one schema ------------------------------------------------------------------
def _read_unified(fs: pafs.FileSystem, files: list[tuple[str, str, str]]) -> pd.DataFrame:
    """One DataFrame over all files; a column only some files have is null elsewhere, and
    types are promoted (null -> double, int -> double) as pyarrow's permissive unification."""
    tables = [_read_one(fs, path, grid, name) for path, grid, name in files]
    try:
        table = pa.concat_tables(tables, promote_options="permissive")
    except (pa.ArrowException, TypeError):
        _raise_clash(tables, [path for path, _, _ in files])
        raise
    loose = [not is_compacted(path.rsplit("/", 1)[-1]) for path, _, _ in files]
    table = latest_rows(table, [flag for flag, t in zip(loose, tables) for _ in range(t.num_rows)],
                        [f"{grid}/{name}" for (_, grid, name), t in zip(files, tables)
                         for _ in range(t.num_rows)])
    return table.to_pandas()


def _read_one(fs: pafs.FileSystem, path: str, grid: str, dataset: str) -> pa.Table:
    """One row file, with `grid` / `dataset` filled from its folder names and `source_file`."""
    try:
        table = pq.read_table(path, filesystem=fs)
    except (pa.ArrowException, OSError) as exc:
        raise AnalysisError(f"{path}: not a readable Parquet file ({_one_line(exc)})") from None
    missing = [c for c in REQUIRED_COLUMNS if c not in table.column_names]
    if missing:
        raise AnalysisError(f"{path}: not a fewpair results row (no column {missing[0]!r})")
    table = table.replace_schema_metadata(None)
    for column, value in (("grid", grid), ("dataset", dataset), ("source_file", path)):
        if column not in table.column_names:
            table = table.append_column(column, pa.array([value] * table.num_rows, pa.string()))
    return table


def _raise_clash(tables: list[pa.Table], paths: list[str]) -> None:
    """Name the first file whose column types cannot join the files before it."""
    schema = tables[0].schema
    for table, path in zip(tables[1:], paths[1:]):
        try:
            schema = pa.unify_schemas([schema, table.schema], promote_options="permissive")
        except (pa.ArrowException, TypeError) as exc:
            raise AnalysisError(f"{path}: column types clash with the other files "
                                f"({_one_line(exc)})") from None


# --- types and derived columns ----------------------------------------------------------------
def _typed(frame: pd.DataFrame) -> pd.DataFrame:
    """Integer config columns stay integers (nullable Int64 where a file lacked them)."""
    for column in INT_CONFIG_COLUMNS:
        if column in frame and not pd.api.types.is_integer_dtype(frame[column]):
            frame[column] = _as_int(frame[column], column)
    for column, default in CONFIG_DEFAULTS.items():   # rows written before the column existed
        frame[column] = frame[column].fillna(default) if column in frame else default
    for column in ("dataset", "grid", "status", "mode", "trial_key"):
        if column in frame:
            frame[column] = frame[column].astype(str)
    frame["protocol"] = _protocols(frame)
    return frame


def _as_int(values: pd.Series, column: str) -> pd.Series:
    numbers = pd.to_numeric(values, errors="coerce")
    bad = values.notna() & (numbers.isna() | (numbers % 1 != 0))
    if bad.any():
        raise AnalysisError(f"column {column!r} holds a non-integer value "
                            f"{values[bad].iloc[0]!r}")
    return numbers.astype("Int64")


def _protocols(frame: pd.DataFrame) -> pd.Series:
    """The row's evaluation protocol; inferred from dataset and direction where it is null
    (failed trials have no metrics, so no protocol either)."""
    direction = frame["direction"] if "direction" in frame else pd.Series("AtoB", frame.index)
    inferred = pd.Series("segmentation", index=frame.index)
    inferred[direction == "BtoA"] = "fcn-score"
    inferred[frame["dataset"].isin(MAPS_DATASETS)] = "maps"
    if "protocol" not in frame:
        return inferred
    return frame["protocol"].where(frame["protocol"].notna(), inferred).astype(str)


def _fill_archmeans(frame: pd.DataFrame) -> pd.DataFrame:
    """`<m>_archmean` = mean of the `<m>__<archetype>` columns where a row lacks it."""
    for metric in ARCHMEAN_METRICS:
        per_archetype = [c for c in frame if c.startswith(metric + ARCHETYPE_SEP)]
        if not per_archetype:
            continue
        computed = frame[per_archetype].astype(float).mean(axis=1, skipna=True)
        target = metric + ARCHMEAN_SUFFIX
        frame[target] = frame[target].fillna(computed) if target in frame else computed
    return frame


def _split(frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    if "finished_at" in frame:
        frame = frame.sort_values("finished_at", na_position="first", kind="stable")
    ok = frame[frame["status"] == STATUS_OK].drop_duplicates("trial_key", keep="last")
    failed = frame[(frame["status"] != STATUS_OK) & ~frame["trial_key"].isin(ok["trial_key"])]
    failed = failed.drop_duplicates("trial_key", keep="last")
    return ok.reset_index(drop=True), failed.reset_index(drop=True)


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
