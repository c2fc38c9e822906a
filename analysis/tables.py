"""The paper's tables from results rows: one registered function per table picks its rows;
`build_table` groups them by the table's axes into cells with spread statistics, the seeds
each cell lacks, and the paper's published value where it gives one.

Paper column policy: the published numbers are for Cityscapes (Tables 1-3, 5, 8, 9) and the
pix2pix maps (Table 4). They are shown as "paper" for those datasets and, for their toy
stand-ins (toy-streets, toy-maps), under the explicit title "Cityscapes paper" / "pix2pix maps
paper" so that the shape of an effect can be compared, never its size. Other datasets get no
paper column.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import pandas as pd

from analysis import paper_numbers
from analysis.axes import NA, derive_axes, sort_key
from analysis.errors import AnalysisError
from analysis.load import Results
from analysis.schema import (ALL, ARCHETYPE_SEP, ARCHMEAN_METRICS, ARCHMEAN_SUFFIX, CONFIG_COLUMNS,
                             NOT_RESULT_AFFECTING, PAPER_DATASET, PAPER_DATASET_TITLE,
                             PROTOCOL_METRICS, TOY_TWIN)
from analysis.stats import cell_stats, missing_seeds

Select = Callable[[pd.DataFrame], pd.Series]  # derived rows of one dataset -> boolean mask
NAMED_WHEN_MIXED = ("variant", "arch")   # paper / released step; resnet / pix2pix networks


@dataclass(frozen=True)
class TableSpec:
    id: str
    title: str
    protocol: str               # segmentation | fcn-score | maps
    axes: tuple[str, ...]       # analysis/axes.py names, in column order
    select: Select
    paper_ids: tuple[str, ...]  # paper_numbers tables searched for the published value


@dataclass(frozen=True)
class TableResult:
    spec: TableSpec
    dataset: str
    axes: tuple[str, ...]       # the spec's axes, then config columns that vary between rows
    metrics: tuple[str, ...]    # headline metrics, archetype averages, per-archetype scores
    cells: pd.DataFrame         # one row per cell: axes, n, seeds, <metric>.<stat>, paper
    missing: pd.DataFrame       # axes, seed, reason, trial_key
    seeds: tuple[int, ...] | None  # seeds every cell should have; None: those planned per cell
    paper_label: str | None     # title of the published-number columns; None = not shown

    @property
    def headline(self) -> tuple[str, ...]:
        return PROTOCOL_METRICS[self.spec.protocol]


TABLES: dict[str, TableSpec] = {}


def paper_table(table_id: str, title: str, protocol: str, axes: tuple[str, ...],
                paper_ids: tuple[str, ...] | None = None) -> Callable[[Select], Select]:
    """Register the decorated row filter as paper table `table_id`."""
    def register(select: Select) -> Select:
        TABLES[table_id] = TableSpec(table_id, title, protocol, axes, select,
                                     paper_ids or (table_id,))
        return select
    return register


def get_spec(table_id: object) -> TableSpec:
    if str(table_id) not in TABLES:
        raise AnalysisError(f"unknown table {table_id!r} (valid: {', '.join(TABLES)})")
    return TABLES[str(table_id)]


# --- which rows each table shows --------------------------------------------------------------
_MIX_AXES = ("n_unpaired", "n_paired", "selector", "balanced")


def _budget_sweep(rows: pd.DataFrame) -> pd.Series:
    """Paired-only trials whose pairs a selector chose (a budget below the whole pool)."""
    return (rows["mode"] == "paired") & (rows["selector"] != NA)


def _paired_only(rows: pd.DataFrame) -> pd.Series:
    """Tables 1 and 8: the budget sweep (from any pool) and every pair of the split."""
    return _budget_sweep(rows) | ((rows["mode"] == "paired") & (rows["n_paired"] == ALL))


def _mixed(rows: pd.DataFrame) -> pd.Series:
    """Paired-only baselines that pair a whole pool (or split), unpaired-only, and hybrid rows
    with the full loss and the paired dataset's own labels."""
    paired = rows["mode"] == "paired"
    plain = (rows["losses"] == "full") & (rows["labels"] == "same")
    return (paired & ~_budget_sweep(rows)) | (~paired & plain)


@paper_table("1", "photos -> labels, paired only: samples x selection", "segmentation",
             ("n_paired", "selector"))
def table_1(rows: pd.DataFrame) -> pd.Series:
    return _paired_only(rows)


@paper_table("2", "photos -> labels, unpaired pool + a few pairs", "segmentation", _MIX_AXES)
def table_2(rows: pd.DataFrame) -> pd.Series:
    return _mixed(rows)


@paper_table("3", "photos -> labels, unpaired labels from another dataset", "segmentation",
             ("n_unpaired", "n_paired", "selector", "labels"), paper_ids=("3", "7"))
def table_3(rows: pd.DataFrame) -> pd.Series:
    """Budgets where some hybrid trial took its unpaired labels elsewhere, with the paired-only
    and same-labels rows of the same budgets and selections beside them."""
    other = (rows["mode"] == "hybrid") & (rows["labels"] != "same")
    budgets, selections = set(rows.loc[other, "paired_budget"]), set(rows.loc[other, "selection"])
    hybrid = ((rows["mode"] == "hybrid") & (rows["losses"] == "full")
              & (rows["balanced"] == True))  # noqa: E712
    same_cells = rows["paired_budget"].isin(budgets) & rows["selection"].isin(selections)
    return same_cells & (hybrid | _budget_sweep(rows))


@paper_table("4", "aerial -> map (maps pixel accuracy), unpaired pool + a few pairs", "maps",
             _MIX_AXES)
def table_4(rows: pd.DataFrame) -> pd.Series:
    paired = rows["mode"] == "paired"
    return paired | ((rows["losses"] == "full") & (rows["labels"] == "same"))


@paper_table("5", "photos -> labels, loss ablation", "segmentation",
             ("n_unpaired", "n_paired", "selector", "losses"))
def table_5(rows: pd.DataFrame) -> pd.Series:
    """Hybrid settings that have an ablated run, with their full-loss runs."""
    hybrid = ((rows["mode"] == "hybrid") & (rows["labels"] == "same")
              & (rows["balanced"] == True))  # noqa: E712
    setting = list(zip(rows["n_unpaired"], rows["n_paired"], rows["selector"]))
    ablated = {s for s, a in zip(setting, hybrid & (rows["losses"] != "full")) if a}
    return hybrid & pd.Series([s in ablated for s in setting], index=rows.index)


@paper_table("8", "labels -> photos (FCN score), paired only: samples x selection", "fcn-score",
             ("n_paired", "selector"))
def table_8(rows: pd.DataFrame) -> pd.Series:
    return _paired_only(rows)


@paper_table("9", "labels -> photos (FCN score), unpaired pool + a few pairs", "fcn-score",
             _MIX_AXES)
def table_9(rows: pd.DataFrame) -> pd.Series:
    return _mixed(rows)


# --- building a table -------------------------------------------------------------------------
def build_table(table_id: object, results: Results, dataset: str | None = None,
                expected_seeds: tuple[int, ...] | None = None,
                per_cell: bool = False) -> list[TableResult]:
    """Table `table_id`, one TableResult per dataset that has rows for it (ok or failed).
    A cell lacks the `expected_seeds` it has no ok row for; by default every seed seen in the
    table; with `per_cell` (the grid's planned trials are among the failed rows, see
    load.with_planned) the seeds planned for that cell."""
    spec = get_spec(table_id)
    rows = derive_axes(results.all)
    rows = rows[rows["protocol"] == spec.protocol]
    if dataset is not None:
        rows = rows[rows["dataset"] == dataset]
    out = []
    for name, part in rows.groupby("dataset", sort=True):
        part = part[spec.select(part).astype(bool)]
        if len(part):
            out.append(_build_one(spec, str(name), part, expected_seeds, per_cell))
    return out


def _build_one(spec: TableSpec, dataset: str, rows: pd.DataFrame,
               expected_seeds: tuple[int, ...] | None, per_cell: bool) -> TableResult:
    context = _varying_context(rows, spec.axes)
    rows = rows.assign(**{c: rows[c].astype(object).where(rows[c].notna(), NA) for c in context})
    axes = (*spec.axes, *context)
    metrics = _metrics(spec.protocol, rows)
    cells = cell_stats(rows, list(axes), list(metrics))
    order = sorted(range(len(cells)), key=lambda i: _row_order(cells.iloc[i], axes))
    cells = cells.iloc[order].reset_index(drop=True)
    label = _paper_label(spec.protocol, dataset)
    if label is not None:
        cells = _attach_paper(cells, spec, axes, PROTOCOL_METRICS[spec.protocol])
        if cells[[f"{m}.paper" for m in PROTOCOL_METRICS[spec.protocol]]].isna().all(axis=None):
            label = None    # no cell has a published counterpart (e.g. a toy pool of 40)
    seeds = expected_seeds or (None if per_cell else tuple(sorted({int(s) for s in rows["seed"]})))
    missing = missing_seeds(rows, list(axes), seeds)
    return TableResult(spec, dataset, axes, metrics, cells, missing, seeds, label)


def _varying_context(rows: pd.DataFrame, axes: tuple[str, ...]) -> tuple[str, ...]:
    """Result-affecting config columns that differ between rows of the same axes: they become
    extra row columns, so that different settings are never averaged into one cell. Which
    training step and networks made a row (NAMED_WHEN_MIXED) is named wherever a table holds
    more than one, even when the axes already tell its cells apart."""
    skip = NOT_RESULT_AFFECTING | {"seed", "dataset"}
    candidates = [c for c in CONFIG_COLUMNS if c in rows and c not in skip]
    counts = rows.groupby(list(axes), dropna=False)[candidates].nunique(dropna=False)
    return tuple(c for c in candidates if (counts[c] > 1).any()
                 or (c in NAMED_WHEN_MIXED and rows[c].nunique(dropna=False) > 1))


def _metrics(protocol: str, rows: pd.DataFrame) -> tuple[str, ...]:
    headline = PROTOCOL_METRICS[protocol]
    twins = [m + ARCHMEAN_SUFFIX for m in ARCHMEAN_METRICS if m in headline]
    twins = [c for c in twins if c in rows and rows[c].notna().any()]
    per_archetype = sorted(c for c in rows if any(c.startswith(m + ARCHETYPE_SEP) for m in headline)
                           and rows[c].notna().any())
    return (*headline, *twins, *per_archetype)


def _row_order(cell: pd.Series, axes: tuple[str, ...]) -> tuple:
    """Paper order: rows naming ALL (the full-data baselines) last, then axis by axis."""
    values = [cell[a] for a in axes]
    has_all = any(a in ("n_unpaired", "n_paired") and v == ALL for a, v in zip(axes, values))
    return (has_all, *(sort_key(a, v) for a, v in zip(axes, values)))


def _paper_label(protocol: str, dataset: str) -> str | None:
    real = PAPER_DATASET[protocol]
    if dataset == real:
        return "paper"
    if TOY_TWIN.get(dataset) == real:
        return f"{PAPER_DATASET_TITLE[real]} paper"
    return None


def _attach_paper(cells: pd.DataFrame, spec: TableSpec, axes: tuple[str, ...],
                  metrics: tuple[str, ...]) -> pd.DataFrame:
    """`<metric>.paper`, `<metric>.paper_std` and `paper_note` per cell (NaN / "" if none)."""
    columns = {f"{m}.{s}": [] for m in metrics for s in ("paper", "paper_std")}
    notes = []
    for _, cell in cells.iterrows():
        row = paper_numbers.lookup(spec.paper_ids, {a: cell[a] for a in axes})
        for m in metrics:
            mean, std = row.values.get(m, (None, None)) if row else (None, None)
            columns[f"{m}.paper"].append(mean)
            columns[f"{m}.paper_std"].append(std)
        notes.append(row.note if row else "")
    return cells.assign(**{k: pd.Series(v, index=cells.index, dtype=float)
                           for k, v in columns.items()}, paper_note=notes)
