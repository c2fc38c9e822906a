"""Each selector against uniform random: the difference of means with Welch's 95 % CI, Welch's
two-sided p of "no difference" (the CI's dual: p < .05 exactly when the CI excludes 0; also
Holm-adjusted across the table's comparisons) and the probability of improvement
(analysis.inference holds the statistics).

The paper's biggest selection effect (Table 1, one pair: .401 random vs .567 k-medoids) is
largely random occasionally drawing a bad sample, so a difference of means alone can mislead:
P(selector > random) and the difference of the worst seeds sit beside it. A comparison with
fewer than inference.MIN_N seeds in either arm has NaN statistics (the writers say "too few").
"""
from __future__ import annotations

import pandas as pd

from analysis.axes import NA
from analysis.inference import delta_ci, holm, prob_improvement, welch_p
from analysis.tables import TableResult

BASELINE = "random"  # the paper's baseline selector: uniform random, 10 seeds
EFFECT_COLUMNS = ("n", "n_random", "delta_mean", "delta_ci_low", "delta_ci_high", "p", "p_holm",
                  "p_improve", "delta_worst")


def compare(selector: tuple[float, ...], baseline: tuple[float, ...]) -> dict[str, float]:
    """One comparison's numbers (the unadjusted p; `holm` runs over a table's comparisons)."""
    low, high = delta_ci(selector, baseline)
    s, b = pd.Series(selector, dtype=float), pd.Series(baseline, dtype=float)
    return {"delta_mean": s.mean() - b.mean(), "delta_ci_low": low, "delta_ci_high": high,
            "p": welch_p(selector, baseline), "p_improve": prob_improvement(selector, baseline),
            "delta_worst": s.min() - b.min()}


def selection_effects(table: TableResult, metric: str | None = None) -> pd.DataFrame:
    """One row per non-random cell with a random twin (same other axes): its other axes,
    `selector`, then EFFECT_COLUMNS. `p_holm` adjusts `p` over this table's comparisons of
    `metric` (default the primary metric). Empty when the table has no selector axis or no
    random cells."""
    metric = metric or table.headline[0]
    keys = [a for a in table.axes if a != "selector"]
    columns = [*keys, "selector", *EFFECT_COLUMNS]
    if "selector" not in table.axes:
        return pd.DataFrame(columns=columns)
    cells = table.cells
    random = {tuple(c[k] for k in keys): c for _, c in cells[cells["selector"] == BASELINE].iterrows()}
    out = []
    for _, cell in cells[~cells["selector"].isin([BASELINE, NA])].iterrows():
        twin = random.get(tuple(cell[k] for k in keys))
        if twin is None or cell["n"] == 0 or twin["n"] == 0:
            continue
        out.append({**{k: cell[k] for k in keys}, "selector": cell["selector"], "n": cell["n"],
                    "n_random": twin["n"],
                    **compare(cell[f"{metric}.values"], twin[f"{metric}.values"])})
    frame = pd.DataFrame(out, columns=columns)
    frame["p_holm"] = holm(frame["p"].to_numpy(dtype=float)) if len(frame) else []
    return frame
