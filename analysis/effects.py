"""How large a selector's effect is against uniform random, measured in random's own spread.

The paper's biggest selection effect (Table 1, one pair: .401 random vs .567 k-medoids) is
largely random occasionally drawing a bad sample, so a difference of means alone can mislead.
Per cell that has a random twin (same axes but the selector), this gives the difference of
means, that difference in units of random's std over seeds, and the difference of the worst
seeds -- the comparison the README states plainly.
"""
from __future__ import annotations

import math

import pandas as pd

from analysis.axes import NA
from analysis.tables import TableResult

BASELINE = "random"  # the paper's baseline selector: uniform random, 10 seeds


def selection_effects(table: TableResult, metric: str | None = None) -> pd.DataFrame:
    """One row per non-random cell with a random twin: its other axes, `selector`, `n`,
    `n_random`, `delta_mean`, `delta_in_random_std` (NaN where random's std is 0 or unknown),
    `delta_worst`. Empty when the table has no selector axis or no random cells."""
    metric = metric or table.headline[0]
    columns = [*(a for a in table.axes if a != "selector"), "selector", "n", "n_random",
               "delta_mean", "delta_in_random_std", "delta_worst"]
    if "selector" not in table.axes:
        return pd.DataFrame(columns=columns)
    keys = [a for a in table.axes if a != "selector"]
    cells = table.cells
    random = {tuple(c[k] for k in keys): c for _, c in cells[cells["selector"] == BASELINE].iterrows()}
    out = []
    for _, cell in cells[~cells["selector"].isin([BASELINE, NA])].iterrows():
        twin = random.get(tuple(cell[k] for k in keys))
        if twin is None or cell["n"] == 0 or twin["n"] == 0:
            continue
        delta = cell[f"{metric}.mean"] - twin[f"{metric}.mean"]
        std = twin[f"{metric}.std"]
        out.append({**{k: cell[k] for k in keys}, "selector": cell["selector"], "n": cell["n"],
                    "n_random": twin["n"], "delta_mean": delta,
                    "delta_in_random_std": delta / std if std > 0 else math.nan,
                    "delta_worst": cell[f"{metric}.worst"] - twin[f"{metric}.worst"]})
    return pd.DataFrame(out, columns=columns)
