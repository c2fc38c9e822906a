"""The paper's claims as data, and each one tested on the rows of one grid.

A claim compares two arms, A and B: row filters on a results row's derived axes
(analysis/axes.py) and config columns, written as the science and fidelity grids
(sweeps/plan/grids.py) lay their trials out. Where the paper says A beats B the claim is
directional; where the question is only whether A and B differ (the released step against the
paper's text) it is two-sided. Each claim is tested on the primary metric (pixel_acc for
photos -> labels) with the statistics of analysis.inference, via analysis.effects.compare:
Δ = mean(A) - mean(B) with its bootstrap 95 % CI, a two-sided permutation p, P(A > B).

Rows are tested in partitions: one grid folder, dataset and protocol, split further by every
result-affecting config column that no arm fixes and that varies among the rows some arm holds
(a grid re-run at more steps into the same folder gives two partitions, never one pooled arm). The claims of one
family (science: 1-7, fidelity: 8-9) tested on one partition are one Holm family.

Verdict rule (ALPHA = .05; MARGIN = 0.02 in metric units, i.e. 2 points of pixel accuracy):
  directional (the paper says A > B)
    reproduced       Holm p < ALPHA and Δ > 0
    not reproduced   the CI's upper bound < +MARGIN: the data rule out an effect of the paper's
                     sign bigger than MARGIN (a significant opposite effect included)
    unresolved       otherwise
  two-sided (does A differ from B?)
    differs          Holm p < ALPHA
    agrees within ±MARGIN   the CI lies inside (-MARGIN, +MARGIN)
    unresolved       otherwise
  too few seeds      an arm has fewer than inference.MIN_N values: no statistic, no verdict
A claim one of whose arms has no row in a partition is left out there.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Mapping

import numpy as np
import pandas as pd

from analysis import paper_numbers
from analysis.axes import AXES, NA, derive_axes
from analysis.effects import compare
from analysis.inference import MIN_N, holm
from analysis.schema import (CONFIG_COLUMNS, NOT_RESULT_AFFECTING, PAPER_DATASET,
                             PROTOCOL_METRICS, TOY_TWIN)

ALPHA = 0.05
MARGIN = 0.02          # metric units: the smallest effect worth calling one at toy size
POOL = paper_numbers.POOL          # the science grid's k-medoids pool (the paper's 200)
FIDELITY_POOL = 100                # the fidelity grid's pool (sweeps/plan/grids.py)
REPRODUCED, NOT_REPRODUCED, UNRESOLVED = "reproduced", "not reproduced", "unresolved"
DIFFERS, TOO_FEW = "differs", "too few seeds"
# The paper table whose row an arm is, per protocol: Table 1 / 2 shapes (8 / 9 for labels->photos)
PAPER_IDS = {"segmentation": {"1": "1", "2": "2"}, "fcn-score": {"1": "8", "2": "9"}}
# Config columns that some arm fixes; every other result-affecting one splits partitions
ARM_COLUMNS = frozenset({"mode", "paired_budget", "unpaired", "selection", "pool_selection",
                         "seed", "balance", "mix", "variant"})
CONTEXT = tuple(c for c in CONFIG_COLUMNS
                if c not in NOT_RESULT_AFFECTING and c not in ARM_COLUMNS and c != "dataset")
RESULT_COLUMNS = ("claim", "statement", "directional", "a", "b", "n_a", "n_b", "delta_mean",
                  "delta_ci_low", "delta_ci_high", "p", "p_holm", "p_improve", "paper_a",
                  "paper_b", "verdict")


@dataclass(frozen=True)
class Arm:
    label: str                     # how the printed claim names it
    where: Mapping[str, object]    # derived axis or config column -> the value a row must have
    paper_table: str | None = None  # the paper table shape ("1" / "2") holding this arm's row


@dataclass(frozen=True)
class Claim:
    name: str
    statement: str                 # the paper's claim, in its words where it has them
    a: Arm
    b: Arm
    directional: bool              # True: the paper says A > B; False: does A differ from B?
    family: str                    # the grid it belongs to; one family = one Holm adjustment


def _paired(budget: int, selector: str) -> Arm:
    """Table 1's shape: paired only, the pairs chosen inside the k-medoids pool of 200."""
    return Arm(f"paired only, {selector}", {
        "mode": "paired", "unpaired": POOL, "n_unpaired": NA, "n_paired": budget,
        "selector": selector, "balanced": NA, "pool_selection": "kmedoids", "variant": "paper"},
        "1")


def _hybrid(budget: int, balanced: bool = True, pool: int = POOL, variant: str = "paper",
            label: str | None = None, **config) -> Arm:
    """Table 2's shape: the pool unpaired + k-medoids pairs inside it."""
    where = {"mode": "hybrid", "n_unpaired": pool, "n_paired": budget, "selector": "kmedoids",
             "balanced": balanced, "pool_selection": "kmedoids", "variant": variant, **config}
    return Arm(label or f"hybrid, {'balanced' if balanced else 'unbalanced'}", where,
               "2" if pool == POOL and variant == "paper" else None)


UNPAIRED_ONLY = Arm("unpaired only", {
    "mode": "unpaired", "n_unpaired": POOL, "n_paired": NA, "selector": NA, "balanced": NA,
    "pool_selection": "kmedoids", "variant": "paper"}, "2")


def _pairs(n: int) -> str:
    return f"{n} pair{'s' if n > 1 else ''}"


def _science() -> list[Claim]:
    out = [Claim(f"selection, {_pairs(n)}", f"k-medoids pairs beat random pairs (paired only, "
                 f"{_pairs(n)}; Table 1)", _paired(n, "kmedoids"), _paired(n, "random"), True,
                 "science") for n in (1, 5)]
    out.append(Claim("one pair on unpaired data", "one k-medoids pair on top of the 200 unpaired "
                     "beats the unpaired data alone (Table 2)", _hybrid(1), UNPAIRED_ONLY, True,
                     "science"))
    out += [Claim(f"hybrid vs paired only, {_pairs(n)}", f"the hybrid (200 unpaired + {_pairs(n)}) "
                  f"beats the same pairs alone (Tables 1, 2)", _hybrid(n),
                  _paired(n, "kmedoids"), True, "science") for n in (1, 5)]
    out += [Claim(f"balancing, {_pairs(n)}", f"replicating the pairs up to the unpaired count "
                  f"helps (Sec. 4.1.5; {_pairs(n)})", _hybrid(n), _hybrid(n, balanced=False),
                  True, "science") for n in (1, 5)]
    return out


def _fidelity() -> list[Claim]:
    out = []
    for n in (1, 5):
        released = _hybrid(n, False, FIDELITY_POOL, "released", label="released step")
        out.append(Claim(f"released vs paper step, {_pairs(n)}", f"its text describes the "
                         f"step it trained: the released step trains to the paper's step's "
                         f"result on the same released epochs ({_pairs(n)})", released,
                         _hybrid(n, False, FIDELITY_POOL, label="paper step, released epochs",
                                 mix="alternate"), False, "fidelity"))
        out.append(Claim(f"released training vs paper text, {_pairs(n)}", f"its text "
                         f"describes its training: the released step and epochs train to the "
                         f"text's result (paper step, balanced; {_pairs(n)})", released,
                         _hybrid(n, True, FIDELITY_POOL, label="paper step, balanced",
                                 mix="interleave"), False, "fidelity"))
    return out


CLAIMS: tuple[Claim, ...] = (*_science(), *_fidelity())
FAMILIES = tuple(dict.fromkeys(c.family for c in CLAIMS))


@dataclass(frozen=True)
class ClaimSet:
    """One family of claims tested on one partition of the rows."""
    grid: str
    dataset: str
    protocol: str
    family: str
    metric: str
    context: dict[str, str]        # the partition's values of the config columns that vary
    margin: float
    results: pd.DataFrame = field(repr=False)   # RESULT_COLUMNS, one row per claim tested


def evaluate(ok: pd.DataFrame, margin: float = MARGIN) -> list[ClaimSet]:
    """Every family of claims that has both arms of at least one claim in some partition of
    the ok rows `ok` (load_results(...).ok); empty when none has."""
    if ok.empty:
        return []
    frame = derive_axes(ok)
    in_arm = pd.Series(False, index=frame.index)
    for arm in [arm for claim in CLAIMS for arm in (claim.a, claim.b)]:
        in_arm |= _matches(frame, arm.where)
    out = []   # rows no arm holds (pix2pix, every pair, ...) neither split nor join a partition
    for (grid, dataset, protocol, context), part in _partitions(frame[in_arm]):
        metric = PROTOCOL_METRICS[protocol][0]
        paper_ids = PAPER_IDS.get(protocol, {}) if _has_paper(dataset, protocol) else {}
        for family in FAMILIES:
            rows = [_test(c, part, metric, paper_ids) for c in CLAIMS if c.family == family]
            rows = [r for r in rows if r is not None]
            if rows:
                out.append(ClaimSet(grid, dataset, protocol, family, metric, context, margin,
                                    _adjusted(pd.DataFrame(rows), margin)))
    return out


def _partitions(frame: pd.DataFrame):
    """((grid, dataset, protocol, context), rows) per partition (module docstring)."""
    for (grid, dataset, protocol), part in frame.groupby(["grid", "dataset", "protocol"]):
        varying = [c for c in CONTEXT if c in part and part[c].astype(str).nunique() > 1]
        if not varying:
            yield (grid, dataset, protocol, {}), part
            continue
        labels = part[varying].astype(str)
        for values, sub in part.groupby([labels[c] for c in varying]):
            yield (grid, dataset, protocol, dict(zip(varying, values))), sub


def _has_paper(dataset: str, protocol: str) -> bool:
    """The paper's numbers are Cityscapes'; shown for it and its toy stand-in (analysis.tables)."""
    real = PAPER_DATASET.get(protocol)
    return real is not None and real in (dataset, TOY_TWIN.get(dataset))


def _matches(part: pd.DataFrame, where: Mapping[str, object]) -> pd.Series:
    mask = pd.Series(True, index=part.index)
    for column, value in where.items():
        if column not in part:
            return pd.Series(False, index=part.index)
        mask &= part[column].map(lambda x, v=value: _same(x, v))
    return mask


def _same(ours: object, theirs: object) -> bool:
    """Equal and of the same kind: True never matches the budget 1, NA never a number."""
    if ours is None or (not isinstance(ours, str) and pd.isna(ours)):
        return False
    is_flag = isinstance(ours, (bool, np.bool_))
    return is_flag == isinstance(theirs, bool) and ours == theirs


def _test(claim: Claim, part: pd.DataFrame, metric: str, paper_ids: dict) -> dict | None:
    """One claim's numbers (unadjusted p); None when either arm has no row here."""
    arms = [part.loc[_matches(part, arm.where), metric].astype(float).dropna()
            for arm in (claim.a, claim.b)]
    if any(len(values) == 0 for values in arms):
        return None
    numbers = compare(tuple(arms[0]), tuple(arms[1]))
    return {"claim": claim.name, "statement": claim.statement, "directional": claim.directional,
            "a": claim.a.label, "b": claim.b.label, "n_a": len(arms[0]), "n_b": len(arms[1]),
            **{k: numbers[k] for k in ("delta_mean", "delta_ci_low", "delta_ci_high", "p",
                                       "p_improve")},
            "paper_a": _paper_value(claim.a, metric, paper_ids),
            "paper_b": _paper_value(claim.b, metric, paper_ids)}


def _paper_value(arm: Arm, metric: str, paper_ids: dict) -> float:
    table = paper_ids.get(arm.paper_table)
    key = {k: v for k, v in arm.where.items() if k in AXES or k in paper_numbers.OPTIONAL_AXES}
    row = paper_numbers.lookup((table,), key) if table else None
    return row.values[metric][0] if row is not None and metric in row.values else math.nan


def _adjusted(results: pd.DataFrame, margin: float) -> pd.DataFrame:
    """Holm over the family's p-values, then each claim's verdict."""
    results["p_holm"] = holm(results["p"].to_numpy(dtype=float))
    results["verdict"] = [verdict(r.directional, r.delta_mean, r.delta_ci_low, r.delta_ci_high,
                                  r.p_holm, min(r.n_a, r.n_b), margin)
                          for r in results.itertuples()]
    return results[list(RESULT_COLUMNS)]


def verdict(directional: bool, delta: float, low: float, high: float, p_holm: float, n: int,
            margin: float = MARGIN) -> str:
    """The module docstring's rule, for one claim."""
    if n < MIN_N or math.isnan(p_holm):
        return TOO_FEW
    if directional:
        if p_holm < ALPHA and delta > 0:
            return REPRODUCED
        return NOT_REPRODUCED if high < margin else UNRESOLVED
    if p_holm < ALPHA:
        return DIFFERS
    return agrees(margin) if -margin < low and high < margin else UNRESOLVED


def agrees(margin: float) -> str:
    return f"agrees within ±{margin:g}"
