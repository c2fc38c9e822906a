"""A TableResult as the strings a reader sees: one column per axis, n, each headline metric as
"mean ± std" (the primary metric also with median, 10th percentile and worst seed), the
paper's value beside it, then its archetype average (toy sets); the best cell of each measured
column is spelled bold.

Shared by the markdown and LaTeX writers (analysis/render.py), which differ only in how a
"±", a dagger and bold are spelled.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd

from analysis.axes import AXIS_TITLES, display
from analysis.schema import ARCHMEAN_SUFFIX
from analysis.tables import TableResult

DIGITS = 3  # decimals, as the paper prints its fractions
SPREAD = ("median", "p10", "worst")  # the spread across seeds, shown for the primary metric


@dataclass(frozen=True)
class Spelling:
    pm: str        # between mean and std
    dagger: str    # marks a paper value whose row label was reconstructed
    bold: str      # format string with one {} for the best value of a column


MARKDOWN = Spelling(" ± ", "†", "**{}**")
LATEX = Spelling(r" $\pm$ ", r"$^\dagger$", r"\textbf{{{}}}")


def axis_title(axis: str) -> str:
    return AXIS_TITLES.get(axis, axis)


def display_frame(table: TableResult, spell: Spelling) -> pd.DataFrame:
    """Strings, one row per cell, in the table's row order; the best measured value of each
    measured column (highest mean, median, p10 or worst; all metrics are higher-is-better)
    spelled bold."""
    cells = table.cells
    out = pd.DataFrame({axis_title(a): [display(v) for v in cells[a]] for a in table.axes})
    out["n"] = cells["n"].astype(int).astype(str)
    primary = table.headline[0]
    for metric in table.headline:
        out[metric] = _measured(cells, metric, "mean", spell, with_std=True)
        for stat in SPREAD if metric == primary else ():
            out[f"{metric} {stat}"] = _measured(cells, metric, stat, spell)
        if table.paper_label is not None:
            out[f"{metric} ({table.paper_label})"] = _paper(cells, metric, spell)
        twin = metric + ARCHMEAN_SUFFIX     # the archetype average, beside its pixel-weighted twin
        if twin in table.metrics:
            out[twin] = _measured(cells, twin, "mean", spell, with_std=True)
    return out


def _number(value: float) -> str:
    return "" if value is None or math.isnan(value) else f"{value:.{DIGITS}f}"


def _measured(cells: pd.DataFrame, metric: str, stat: str, spell: Spelling,
              with_std: bool = False) -> list[str]:
    values = cells[f"{metric}.{stat}"].astype(float)
    best = values.round(DIGITS).max() if values.notna().any() else None
    out = []
    for value, std in zip(values, cells[f"{metric}.std"].astype(float)):
        text = _number(value)
        if with_std and text and not math.isnan(std):
            text += spell.pm + _number(std)
        if text and round(value, DIGITS) == best:
            text = spell.bold.format(text)
        out.append(text)
    return out


def _paper(cells: pd.DataFrame, metric: str, spell: Spelling) -> list[str]:
    out = []
    for mean, std, note in zip(cells[f"{metric}.paper"], cells[f"{metric}.paper_std"],
                               cells["paper_note"]):
        text = _number(mean)
        if text and not math.isnan(std):
            text += spell.pm + _number(std)
        out.append(text + spell.dagger if text and note else text)
    return out


def describe_cell(table: TableResult, cell: pd.Series) -> str:
    """'paired 1, selection kmedoids' -- a cell named by its axes, for notes and lists."""
    return ", ".join(f"{axis_title(a)} {display(cell[a])}" for a in table.axes)


def seed_ranges(seeds: list[int]) -> str:
    """[0, 1, 2, 5] -> '0-2, 5'."""
    runs: list[list[int]] = []
    for seed in sorted(seeds):
        if runs and seed == runs[-1][-1] + 1:
            runs[-1].append(seed)
        else:
            runs.append([seed])
    return ", ".join(f"{r[0]}-{r[-1]}" if len(r) > 2 else ", ".join(map(str, r)) for r in runs)


def notes(table: TableResult) -> list[str]:
    """Plain-text notes under a table: paper provenance, extra row axes, missing seeds."""
    out = []
    if table.paper_label and table.paper_label != "paper":
        out.append(f"The '{table.paper_label}' columns are the paper's published numbers for the "
                   f"real dataset, beside {table.dataset} results: compare the shape of an "
                   f"effect, not its size.")
    for note in sorted({n for n in table.cells.get("paper_note", []) if n}):
        out.append(f"† paper row reconstructed: {note}.")
    extra = table.axes[len(table.spec.axes):]
    if extra:
        out.append(f"Rows also differ in: {', '.join(extra)}.")
    return out


def missing_lines(table: TableResult) -> list[str]:
    """One line per cell that lacks seeds: which, and why (failed trial or no row)."""
    if table.missing.empty:
        return []
    lines = []
    for _, part in table.missing.groupby([*table.axes], sort=False, dropna=False):
        pairs = list(zip(part["seed"], part["reason"]))
        absent = [seed for seed, reason in pairs if reason == "no row"]
        parts = [f"no row for seed {seed_ranges(absent)}"] if absent else []
        parts += [f"seed {seed} {reason}" for seed, reason in pairs if reason != "no row"]
        lines.append(f"{describe_cell(table, part.iloc[0])}: {'; '.join(parts)}")
    return lines
