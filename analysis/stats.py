"""Per-cell statistics over seeds, and the seeds a cell lacks.

A cell is one row of a paper table: every trial with the same axes, one per seed. Besides the
mean and sample std (ddof 1, as numpy/pandas `std`), it gives the spread the paper's tables
hide: median, 10th percentile and worst seed (metrics are higher-is-better, so the
minimum), and n.
"""
from __future__ import annotations

import pandas as pd

from analysis.schema import STATUS_OK

P10 = 0.10  # quantile of the "p10" column; linear interpolation between seeds (pandas default)
STATS = ("mean", "std", "median", "p10", "worst", "n")


def _p10(values: pd.Series) -> float:
    return values.quantile(P10)


_AGGREGATES = {"mean": "mean", "std": "std", "median": "median", "p10": _p10, "worst": "min",
               "n": "count"}


def cell_stats(rows: pd.DataFrame, keys: list[str], metrics: list[str]) -> pd.DataFrame:
    """One row per cell of `keys`: the keys, `n` (ok trials), `seeds` (their seeds, sorted) and
    `<metric>.<stat>` for every metric and STATS entry (`<metric>.n` counts non-null values).
    Rows that are not ok (failed trials) only make their cell appear, with n = 0; a metric no
    row has (every trial failed) is all NaN."""
    values = rows.reindex(columns=metrics).apply(pd.to_numeric, errors="coerce").astype(float)
    ok = rows["status"] == STATUS_OK
    values[~ok] = float("nan")
    frame = pd.concat([rows[keys], values], axis=1).assign(
        _ok=ok.astype(int), _seed=rows["seed"].where(ok))
    grouped = frame.groupby(keys, sort=False, dropna=False)
    stats = grouped[metrics].agg(list(_AGGREGATES.values()))
    names = {agg if isinstance(agg, str) else agg.__name__: name
             for name, agg in _AGGREGATES.items()}
    stats.columns = [f"{metric}.{names[agg]}" for metric, agg in stats.columns]
    stats.insert(0, "n", grouped["_ok"].sum())
    stats.insert(1, "seeds", grouped["_seed"].agg(lambda s: tuple(sorted(int(x) for x in s.dropna()))))
    return stats.reset_index()


def missing_seeds(rows: pd.DataFrame, keys: list[str],
                  expected: tuple[int, ...] | None = None) -> pd.DataFrame:
    """Per cell, each expected seed without an ok row, and why: the failed trial's status and
    error, or "no row". `expected` None: each cell expects the seeds of its own rows (every
    status, so planned-but-unwritten trials count)."""
    out = []
    for cell, part in rows.groupby(keys, sort=False, dropna=False):
        seeds = expected if expected is not None else sorted({int(s) for s in part["seed"]})
        have = {int(s) for s in part.loc[part["status"] == STATUS_OK, "seed"]}
        failed = part[part["status"] != STATUS_OK]
        for seed in (s for s in seeds if s not in have):
            hit = failed[failed["seed"] == seed]
            reason = _failure(hit.iloc[-1]) if len(hit) else "no row"
            key = hit["trial_key"].iloc[-1] if len(hit) else None
            out.append({**dict(zip(keys, cell)), "seed": seed, "reason": reason, "trial_key": key})
    return pd.DataFrame(out, columns=[*keys, "seed", "reason", "trial_key"])


def _failure(row: pd.Series) -> str:
    error = row.get("error")
    text = str(error).strip().splitlines()[0] if isinstance(error, str) and error.strip() else ""
    return f"{row['status']}: {text}" if text else str(row["status"])
