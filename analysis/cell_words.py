"""A table cell named in words for the HTML report: "1 pair, k-medoids, balanced" rather than
the axes' column form "unpaired -, paired 1, selection kmedoids, balanced yes"."""
from __future__ import annotations

import pandas as pd

from analysis.axes import ALL, NA, display
from analysis.tables import TableResult

SELECTORS = {"random": "random", "kmedoids": "k-medoids", "kcenter": "k-center",
             "typiclust": "TypiClust"}
LABELS = {"far": "far synthetic labels", "close": "close synthetic labels"}   # none/same: unsaid


def cell_words(table: TableResult, cell: pd.Series) -> str:
    """The cell's axes in words, in the table's axis order; axes that do not apply are left
    out, and "no pairs" says so where a pool is trained on alone."""
    words = [_word(axis, cell[axis], cell) for axis in table.axes]
    return ", ".join(w for w in words if w) or "every trial"


def _word(axis: str, value: object, cell: pd.Series) -> str:
    if axis == "n_unpaired":
        return "" if value == NA else ("all unpaired" if value == ALL else f"{value} unpaired")
    if axis == "n_paired":
        if value == NA:
            return "no pairs" if cell.get("n_unpaired", NA) != NA else ""
        return "all pairs" if value == ALL else f"{value} pair{'s' * (value != 1)}"
    if value == NA:
        return ""
    if axis == "selector":
        return SELECTORS.get(str(value), str(value))
    if axis == "balanced":
        return "balanced" if value else "unbalanced"
    if axis == "labels":
        return LABELS.get(str(value), "")
    if axis == "losses":
        return "all losses" if value == "full" else str(value)
    return f"{axis} {display(value)}"   # a config column that varies (e.g. variant paper)
