"""How each cell's rows were computed, and a note where they differ.

A trial repeats bit for bit only with the same key, pack size, torch threads, device, precision
and torch version on the same machine; rows of one cell computed otherwise (packed and alone,
one thread and two) are other draws of the same distribution. Each row records those
(`sweeps.tune.trainable`); `computed_notes` names the cells that mix them.
"""
from __future__ import annotations

import pandas as pd

from analysis.axes import AXIS_TITLES, NA, derive_axes, display
from analysis.load import Results
from analysis.tables import TableResult

COMPUTED = ("pack_size", "torch_threads", "device", "precision", "torch_version")
UNRECORDED = "not recorded"   # rows written before these columns existed


def rows_by_cell(table: TableResult, rows: pd.DataFrame) -> dict[tuple, pd.DataFrame]:
    """The rows behind each cell, keyed by the cell's displayed axis values, selected as
    analysis.tables selects them."""
    rows = derive_axes(rows)
    rows = rows[(rows["protocol"] == table.spec.protocol) & (rows["dataset"] == table.dataset)]
    rows = rows[table.spec.select(rows).astype(bool)]
    for column in table.axes[len(table.spec.axes):]:
        rows[column] = rows[column].astype(object).where(rows[column].notna(), NA)
    keys = list(zip(*(rows[a].map(display) for a in table.axes)))   # display(): strings
    cells: dict[tuple, list[int]] = {}
    for position, key in enumerate(keys):
        cells.setdefault(key, []).append(position)
    return {key: rows.iloc[positions] for key, positions in cells.items()}


def computed_notes(tables: list[TableResult], results: Results) -> list[str]:
    """One line per cell whose ok rows were computed in more than one way."""
    lines = []
    for table in tables:
        cells = rows_by_cell(table, results.ok)
        for key in sorted(cells, key=str):
            differ = _differences(cells[key])
            if differ:
                cell = ", ".join(f"{AXIS_TITLES.get(a, a)} {v}" for a, v in zip(table.axes, key))
                lines.append(f"Table {table.spec.id} ({table.dataset}), {cell}: rows computed "
                             f"differently ({differ}); not repeats of one computation, other "
                             f"draws of the same distribution")
    return lines


def _differences(rows: pd.DataFrame) -> str:
    """'pack_size 1 (3 rows), 4 (2 rows); torch_threads ...' for the columns that vary."""
    parts = []
    for column in COMPUTED:
        values = (rows[column] if column in rows else pd.Series(index=rows.index, dtype=object))
        counts = values.astype(object).where(values.notna(), UNRECORDED).astype(str).value_counts()
        if len(counts) > 1:
            parts.append(f"{column} " + ", ".join(f"{v} ({n} row{'s' * (n > 1)})"
                                                 for v, n in sorted(counts.items())))
    return "; ".join(parts)
