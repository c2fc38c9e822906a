"""Per-cell statistics over seeds, and the seeds a cell lacks.

A cell is one row of a paper table: every trial with the same axes, one per seed. Besides the
mean and sample std (ddof 1, as numpy/pandas `std`), it gives the spread the paper's tables
hide: median, 10th percentile and worst seed (metrics are higher-is-better, so the
minimum), n, and the t 95 % CI of the mean (analysis.inference; NaN below its MIN_N).
`<metric>.values` keeps each cell's values, for the comparisons of analysis.effects.
"""
from __future__ import annotations

from functools import lru_cache

import pandas as pd

from analysis.inference import mean_ci
from analysis.schema import STATUS_OK

P10 = 0.10  # quantile of the "p10" column; linear interpolation between seeds (pandas default)
STATS = ("mean", "ci_low", "ci_high", "std", "median", "p10", "worst", "n")


def _p10(values: pd.Series) -> float:
    return values.quantile(P10)


@lru_cache(maxsize=4096)
def _ci(values: tuple[float, ...]) -> tuple[float, float]:
    return mean_ci(values)


def _ci_low(values: pd.Series) -> float:
    return _ci(tuple(values.dropna()))[0]


def _ci_high(values: pd.Series) -> float:
    return _ci(tuple(values.dropna()))[1]


def _values(values: pd.Series) -> tuple[float, ...]:
    return tuple(float(v) for v in values.dropna())


_AGGREGATES = {"mean": "mean", "ci_low": _ci_low, "ci_high": _ci_high, "std": "std",
               "median": "median", "p10": _p10, "worst": "min", "n": "count", "values": _values}


def cell_stats(rows: pd.DataFrame, keys: list[str], metrics: list[str]) -> pd.DataFrame:
    """One row per cell of `keys`: the keys, `n` (ok trials), `seeds` (their seeds, sorted) and
    `<metric>.<stat>` for every metric and STATS entry (`<metric>.n` counts non-null values),
    and `<metric>.values` (the cell's values, in row order).
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
