"""A TableResult as the strings a reader sees: one column per axis, n, each headline metric as
"mean [95 % CI]" (a t interval, analysis.inference; "n=2: too few" below its MIN_N),
the primary metric also with std, median, 10th percentile and worst seed, the paper's value
beside it, then its archetype average (toy sets); the best mean of each measured column is
spelled bold. `effect_frame` spells the selector-vs-random comparisons the same way.

Shared by the markdown and LaTeX writers (analysis/render.py) and the HTML report, which differ
only in how a "±", a dagger and bold are spelled.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd

from analysis.axes import AXIS_TITLES, display
from analysis.effects import selection_effects
from analysis.inference import MIN_N
from analysis.schema import ARCHMEAN_SUFFIX
from analysis.tables import TableResult

DIGITS = 3  # decimals, as the paper prints its fractions
SPREAD = ("std", "median", "p10", "worst")  # the spread across seeds, shown for the primary metric
CI = "[95% CI]"  # header suffix of a "mean [low, high]" column


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
        out[f"{metric} {CI}"] = _with_ci(cells, metric, spell)
        for stat in SPREAD if metric == primary else ():
            out[f"{metric} {stat}"] = _measured(cells, metric, stat, spell)
        if table.paper_label is not None:
            out[f"{metric} ({table.paper_label})"] = _paper(cells, metric, spell)
        twin = metric + ARCHMEAN_SUFFIX     # the archetype average, beside its pixel-weighted twin
        if twin in table.metrics:
            out[f"{twin} {CI}"] = _with_ci(cells, twin, spell)
    return out


def _number(value: float) -> str:
    return "" if value is None or math.isnan(value) else f"{value:.{DIGITS}f}"


def short(value: float, signed: bool = False) -> str:
    """.612, -.005 (+.020 when signed): three decimals without the leading zero, as the paper."""
    text = f"{value:+.{DIGITS}f}" if signed else f"{value:.{DIGITS}f}"
    return text.replace("0.", ".", 1) if text.lstrip("+-").startswith("0.") else text


def too_few(n: int) -> str:
    return f"n={n}: too few"


def interval(value: float, low: float, high: float, n: int, signed: bool = False) -> str:
    """'.612 [.590, .634]'; '.612 (n=2: too few)' when n is below MIN_N; '' without a value."""
    if value is None or math.isnan(value):
        return ""
    if n < MIN_N or math.isnan(low):
        return f"{short(value, signed)} ({too_few(n)})"
    return f"{short(value, signed)} [{short(low, signed)}, {short(high, signed)}]"


def _is_best(values: pd.Series) -> list[bool]:
    best = values.round(DIGITS).max() if values.notna().any() else None
    return [best is not None and not math.isnan(v) and round(v, DIGITS) == best for v in values]


def _with_ci(cells: pd.DataFrame, metric: str, spell: Spelling) -> list[str]:
    means = cells[f"{metric}.mean"].astype(float)
    texts = [interval(m, lo, hi, int(n)) for m, lo, hi, n in
             zip(means, cells[f"{metric}.ci_low"], cells[f"{metric}.ci_high"], cells[f"{metric}.n"])]
    return [spell.bold.format(t) if best else t for t, best in zip(texts, _is_best(means))]


def _measured(cells: pd.DataFrame, metric: str, stat: str, spell: Spelling) -> list[str]:
    values = cells[f"{metric}.{stat}"].astype(float)
    if stat == "std":                   # spread, not a score: nothing to be best at
        return [_number(v) for v in values]
    return [spell.bold.format(_number(v)) if best else _number(v)
            for v, best in zip(values, _is_best(values))]


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


def effects_frame(table: TableResult) -> pd.DataFrame:
    """selection_effects as strings: Δ with its CI, p-values to 3 decimals (p < .001 below),
    P(selector > random) to 2; "n=2: too few" where an arm has fewer than MIN_N seeds."""
    effects = selection_effects(table)
    keys = [a for a in table.axes if a != "selector"]
    few = [min(int(n), int(r)) < MIN_N for n, r in zip(effects["n"], effects["n_random"])]
    def column(name: str, spell) -> list[str]:
        return ["too few" if f or math.isnan(v) else spell(v) for v, f in zip(effects[name], few)]
    return pd.DataFrame({
        **{axis_title(k): [display(v) for v in effects[k]] for k in keys},
        "selection": effects["selector"].astype(str),
        "n (vs random)": [f"{n} vs {r}" for n, r in zip(effects["n"], effects["n_random"])],
        f"Δ mean {CI}": [interval(d, lo, hi, min(int(n), int(r)), signed=True) for d, lo, hi, n, r
                         in zip(effects["delta_mean"], effects["delta_ci_low"],
                                effects["delta_ci_high"], effects["n"], effects["n_random"])],
        "p": column("p", p_value),
        "p (Holm)": column("p_holm", p_value),
        "P(selector > random)": column("p_improve", lambda v: f"{v:.2f}"),
        "Δ worst seed": [short(d, signed=True) for d in effects["delta_worst"]],
    })


def p_value(p: float) -> str:
    return "<.001" if p < 0.001 else short(p)


def effects_caption(table: TableResult) -> str:
    """The one line that says what the comparison columns are."""
    return (f"Selection vs random ({table.headline[0]}): Δ = selector − random with Welch's "
            f"95% CI; p: Welch's two-sided test of no difference (below .05 exactly when the CI "
            f"excludes 0), Holm-adjusted over the table's comparisons; P(selector > random): the chance a selector seed "
            f"beats a random seed (Mann–Whitney U / nm, ties half); fewer than {MIN_N} seeds in "
            f"an arm: too few.")
