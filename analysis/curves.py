"""Each trial at its own best: the point of its holdout learning curve with the highest
holdout score (ties to the earlier step), and its val scores there.

A row with `curve_every` > 0 carries (docs/contracts.md, "Results row"): `curve_step` (the
steps of the points), `curve_holdout_score` (the headline metric on held-out training images
that are neither trained on nor val) and `curve_val_<metric>` per headline metric. The holdout
curve picks the point; val only reports it, so the pick never peeks at the scores it is judged
by. Across a grid run at several lengths, a seed of an arm has one trial per length: the
arm's best for that seed is the best holdout point over all of them (ties to the earlier step,
then the shorter schedule), which is closer to how the paper trained each model to
convergence than any one fixed length.
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import pandas as pd

from analysis.schema import CONFIG_COLUMNS, NOT_RESULT_AFFECTING

STEP, HOLDOUT = "curve_step", "curve_holdout_score"
LENGTH = "steps"   # the config column a grid's lengths differ in (analysis.lengths lines them up)
# A trial's setting apart from its length: what identifies "the same arm and seed" across lengths
SETTING = tuple(c for c in CONFIG_COLUMNS if c not in NOT_RESULT_AFFECTING and c != LENGTH)


def val_column(metric: str) -> str:
    return f"curve_val_{metric}"


def _points(value: object) -> np.ndarray | None:
    """A curve cell as a float array; None where the row has no curve."""
    if value is None or (np.isscalar(value) and pd.isna(value)):
        return None
    array = np.asarray(value, dtype=float)
    return array if array.size else None


def best_point(row: pd.Series, metrics: Sequence[str]) -> dict[str, float] | None:
    """{best_holdout, best_step, best_<metric>...} of one row; None without a curve."""
    holdout, steps = _points(row.get(HOLDOUT)), _points(row.get(STEP))
    if holdout is None or steps is None or np.isnan(holdout).all():
        return None
    i = int(np.nanargmax(holdout))          # the first maximum: ties go to the earlier step
    out = {"best_holdout": float(holdout[i]), "best_step": int(steps[i])}
    for metric in metrics:
        curve = _points(row.get(val_column(metric)))
        out[f"best_{metric}"] = float(curve[i]) if curve is not None else math.nan
    return out


def with_best(rows: pd.DataFrame, metrics: Sequence[str]) -> pd.DataFrame:
    """One row per arm setting and seed (every length pooled): the row whose curve has the
    best holdout point, with `best_holdout`, `best_step` and `best_<metric>` added. Rows
    without a curve are left out; empty when none has one."""
    found = [(i, best_point(row, metrics)) for i, row in rows.iterrows()]
    found = [(i, b) for i, b in found if b is not None]
    if not found:
        return rows.iloc[0:0]
    best = pd.DataFrame([b for _, b in found], index=[i for i, _ in found])
    frame = rows.loc[best.index].join(best)
    keys = [c for c in SETTING if c in frame]
    order = frame.assign(_neg=-frame["best_holdout"]).sort_values(
        ["_neg", "best_step", LENGTH] if LENGTH in frame else ["_neg", "best_step"],
        kind="stable")
    picked = order.groupby(keys, dropna=False, sort=False).head(1)
    return picked.drop(columns="_neg")
