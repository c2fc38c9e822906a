"""The paper's claims as data, and each one tested on the rows of one grid.

A claim compares two arms, A and B: row filters on a results row's derived axes
(analysis/axes.py) and config columns, written as the science, verdicts, fidelity and maps
grids (sweeps/plan/grids.py) lay their trials out. Its kind (analysis.verdict) says what the
paper claims: A beats B ("better"), A is comparable with or better than B ("not worse", Table
4's words), or, for the released step against the paper's text, only whether A and B differ
("same"). Each claim is tested on every verdict metric of its protocol (pixel accuracy and mean
IoU for photos -> labels; maps pixel accuracy for maps), each against its own margin
(analysis.verdict.MARGINS), with Welch's statistics (analysis.inference).

Rows are tested in partitions: one grid folder, dataset and protocol, split further by every
result-affecting config column that no arm fixes and that varies among the rows some arm holds
(a grid with a steps axis gives one partition per length, never one pooled arm). The claims of
one family (science, fidelity, maps) tested on one partition and metric are one Holm family.
`at_best` tests the same claims on each trial's holdout-chosen best point instead
(analysis.curves); analysis.lengths puts the lengths side by side.
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
from analysis.curves import LENGTH, with_best
from analysis.schema import CONFIG_COLUMNS, NOT_RESULT_AFFECTING, PAPER_DATASET, TOY_TWIN
from analysis.verdict import (BETTER, MARGINS, NOT_WORSE, SAME, family_verdicts, fragile)

POOL = paper_numbers.POOL          # the science grid's k-medoids pool (the paper's 200)
MAPS_POOL = paper_numbers.MAPS_POOL   # the maps pool (the paper's 100)
FIDELITY_POOL = 100                # the fidelity grid's pool (sweeps/plan/grids.py)
# Metrics that get a verdict, per protocol (mean class accuracy is printed, never judged)
VERDICT_METRICS = {"segmentation": ("pixel_acc", "mean_iou"),
                   "fcn-score": ("pixel_acc", "mean_iou"), "maps": ("maps_pixel_acc",)}
# The paper table whose row an arm is, per protocol: Table 1 / 2 shapes (8 / 9 for labels->photos)
PAPER_IDS = {"segmentation": {"1": "1", "2": "2"}, "fcn-score": {"1": "8", "2": "9"},
             "maps": {"4": "4"}}
# Config columns that some arm fixes; every other result-affecting one splits partitions
ARM_COLUMNS = frozenset({"mode", "paired_budget", "unpaired", "selection", "pool_selection",
                         "seed", "balance", "mix", "variant"})
CONTEXT = tuple(c for c in CONFIG_COLUMNS
                if c not in NOT_RESULT_AFFECTING and c not in ARM_COLUMNS and c != "dataset")
BEST = "at each arm's best"        # a ClaimSet's length when judged at the holdout-chosen best
RESULT_COLUMNS = ("claim", "statement", "kind", "a", "b", "n_a", "n_b", "delta_mean",
                  "delta_ci_low", "delta_ci_high", "p", "boundary", "p_margin", "p_margin_holm",
                  "p_improve", "paper_a", "paper_b", "verdict", "fragile")


@dataclass(frozen=True)
class Arm:
    label: str                     # how the printed claim names it
    where: Mapping[str, object]    # derived axis or config column -> the value a row must have
    paper_table: str | None = None  # the paper table shape ("1" / "2" / "4") holding its row


@dataclass(frozen=True)
class Claim:
    name: str
    statement: str                 # the paper's claim, in its words where it has them
    a: Arm
    b: Arm
    kind: str                      # analysis.verdict: BETTER, NOT_WORSE or SAME
    family: str                    # the grid it belongs to; one family = one Holm adjustment


def _paired(budget: int, selector: str) -> Arm:
    """Table 1's shape: paired only, the pairs chosen inside the k-medoids pool of 200."""
    return Arm(f"paired only, {selector}", {
        "mode": "paired", "unpaired": POOL, "n_unpaired": NA, "n_paired": budget,
        "selector": selector, "balanced": NA, "pool_selection": "kmedoids", "variant": "paper"},
        "1")


def _hybrid(budget: int, balanced: bool = True, pool: int = POOL, variant: str = "paper",
            label: str | None = None, selector: str = "kmedoids", paper: str | None = "2",
            **config) -> Arm:
    """Table 2's shape (Table 4's with the maps pool): the pool unpaired + pairs inside it."""
    where = {"mode": "hybrid", "n_unpaired": pool, "n_paired": budget, "selector": selector,
             "balanced": balanced, "pool_selection": "kmedoids", "variant": variant, **config}
    return Arm(label or f"hybrid, {'balanced' if balanced else 'unbalanced'}", where,
               paper if variant == "paper" and pool in (POOL, MAPS_POOL) else None)


UNPAIRED_ONLY = Arm("unpaired only", {
    "mode": "unpaired", "n_unpaired": POOL, "n_paired": NA, "selector": NA, "balanced": NA,
    "pool_selection": "kmedoids", "variant": "paper"}, "2")
MAPS_ALL_PAIRED = Arm(f"paired only, all {MAPS_POOL} pairs", {
    "mode": "paired", "n_unpaired": NA, "n_paired": MAPS_POOL, "selector": NA, "balanced": NA,
    "pool_selection": "kmedoids", "variant": "paper"}, "4")


def _pairs(n: int) -> str:
    return f"{n} pair{'s' if n > 1 else ''}"


def _science() -> list[Claim]:
    out = [Claim(f"selection, {_pairs(n)}", f"k-medoids pairs beat random pairs (paired only, "
                 f"{_pairs(n)}; Table 1)", _paired(n, "kmedoids"), _paired(n, "random"),
                 BETTER, "science") for n in (1, 5, 20)]
    out.append(Claim("one pair on unpaired data", "one k-medoids pair on top of the 200 unpaired "
                     "beats the unpaired data alone (Table 2)", _hybrid(1), UNPAIRED_ONLY,
                     BETTER, "science"))
    out.append(Claim("selection inside the hybrid", "a k-medoids single pair beats a random "
                     "one on top of the 200 unpaired (Sec. 4.1.6; Table 2)",
                     _hybrid(1, label="hybrid, k-medoids pair"),
                     _hybrid(1, label="hybrid, random pair", selector="random"), BETTER,
                     "science"))
    out += [Claim(f"hybrid vs paired only, {_pairs(n)}", f"the hybrid (200 unpaired + {_pairs(n)}) "
                  f"beats the same pairs alone (Tables 1, 2)", _hybrid(n),
                  _paired(n, "kmedoids"), BETTER, "science") for n in (1, 5)]
    out += [Claim(f"balancing, {_pairs(n)}", f"replicating the pairs up to the unpaired count "
                  f"helps (Sec. 4.1.5; {_pairs(n)})", _hybrid(n), _hybrid(n, balanced=False),
                  BETTER, "science") for n in (1, 5)]
    return out


def _maps() -> list[Claim]:
    return [Claim(f"maps: hybrid vs all pairs, {_pairs(n)}", f"the hybrid ({MAPS_POOL} unpaired "
                  f"+ {_pairs(n)}) is comparable with or better than paired only on all "
                  f"{MAPS_POOL} pairs (Sec. 4.2.3, Table 4)",
                  _hybrid(n, pool=MAPS_POOL, paper="4"), MAPS_ALL_PAIRED, NOT_WORSE, "maps")
            for n in (1, 5)]


def _fidelity() -> list[Claim]:
    out = []
    for n in (1, 5):
        released = _hybrid(n, False, FIDELITY_POOL, "released", label="released step")
        out.append(Claim(f"released vs paper step, {_pairs(n)}", f"its text describes the "
                         f"step it trained: the released step trains to the paper's step's "
                         f"result on the same released epochs ({_pairs(n)})", released,
                         _hybrid(n, False, FIDELITY_POOL, label="paper step, released epochs",
                                 mix="alternate"), SAME, "fidelity"))
        out.append(Claim(f"released training vs paper text, {_pairs(n)}", f"its text "
                         f"describes its training: the released step and epochs train to the "
                         f"text's result (paper step, balanced; {_pairs(n)})", released,
                         _hybrid(n, True, FIDELITY_POOL, label="paper step, balanced",
                                 mix="interleave"), SAME, "fidelity"))
    return out


CLAIMS: tuple[Claim, ...] = (*_science(), *_maps(), *_fidelity())
FAMILIES = tuple(dict.fromkeys(c.family for c in CLAIMS))


@dataclass(frozen=True)
class ClaimSet:
    """One family of claims tested on one partition of the rows, on one metric."""
    grid: str
    dataset: str
    protocol: str
    family: str
    metric: str
    context: dict[str, str]        # the partition's values of the config columns that vary
    margin: float
    results: pd.DataFrame = field(repr=False)   # RESULT_COLUMNS, one row per claim tested
    length: int | str | None = None  # the rows' steps (one value), or BEST

    @property
    def series(self) -> tuple:
        """What a length's sets share with the other lengths of the same grid (lengths.py)."""
        rest = tuple((k, v) for k, v in self.context.items() if k != LENGTH)
        return self.grid, self.dataset, self.protocol, self.family, self.metric, rest


def margins_for(margin: float | Mapping[str, float] | None) -> dict[str, float]:
    """MARGINS, every one replaced by a number, or the given metrics' replaced by a mapping."""
    if margin is None:
        return dict(MARGINS)
    if isinstance(margin, Mapping):
        return {**MARGINS, **margin}
    return dict.fromkeys(MARGINS, float(margin))


def evaluate(ok: pd.DataFrame, margin: float | Mapping[str, float] | None = None
             ) -> list[ClaimSet]:
    """Every family of claims that has both arms of at least one claim in some partition of
    the ok rows `ok` (load_results(...).ok), per verdict metric; empty when none has."""
    return _evaluate(ok, margins_for(margin), best=False)


def at_best(ok: pd.DataFrame, margin: float | Mapping[str, float] | None = None
            ) -> list[ClaimSet]:
    """The same claims on each arm's holdout-chosen best (analysis.curves): per seed, the
    point of its trials' curves (every length of the grid) with the best holdout score; only
    rows that carry a curve."""
    return _evaluate(ok, margins_for(margin), best=True)


def _evaluate(ok: pd.DataFrame, margins: dict[str, float], best: bool) -> list[ClaimSet]:
    if ok.empty:
        return []
    frame = derive_axes(ok)
    in_arm = pd.Series(False, index=frame.index)
    for arm in [arm for claim in CLAIMS for arm in (claim.a, claim.b)]:
        in_arm |= _matches(frame, arm.where)
    out = []   # rows no arm holds (pix2pix, every pair, ...) neither split nor join a partition
    ignore = (LENGTH,) if best else ()
    for (grid, dataset, protocol, context), part in _partitions(frame[in_arm], ignore):
        if best:
            part = with_best(part, VERDICT_METRICS[protocol])
            if part.empty:
                continue
        length = BEST if best else _length(part)
        paper_ids = PAPER_IDS.get(protocol, {}) if _has_paper(dataset, protocol) else {}
        values = _arm_values(part, VERDICT_METRICS[protocol])
        for family in FAMILIES:
            for metric in VERDICT_METRICS[protocol]:
                rows = _family(family, values, metric, margins[metric], paper_ids)
                if len(rows):
                    out.append(ClaimSet(grid, dataset, protocol, family, metric, context,
                                        margins[metric], rows, length))
    return out


def _length(part: pd.DataFrame) -> int | None:
    steps = part[LENGTH].dropna().unique() if LENGTH in part else []
    return int(steps[0]) if len(steps) == 1 else None


def _partitions(frame: pd.DataFrame, ignore: tuple[str, ...] = ()):
    """((grid, dataset, protocol, context), rows) per partition (module docstring); columns
    in `ignore` never split one."""
    for (grid, dataset, protocol), part in frame.groupby(["grid", "dataset", "protocol"]):
        varying = [c for c in CONTEXT if c in part and c not in ignore
                   and part[c].astype(str).nunique() > 1]
        if not varying:
            yield (grid, dataset, protocol, {}), part
            continue
        labels = part[varying].astype(str)
        for values, sub in part.groupby([labels[c] for c in varying]):
            yield (grid, dataset, protocol, dict(zip(varying, values))), sub


def _has_paper(dataset: str, protocol: str) -> bool:
    """The paper's numbers are Cityscapes' and the pix2pix maps'; shown for them and their toy
    stand-ins (analysis.tables)."""
    real = PAPER_DATASET.get(protocol)
    return real is not None and real in (dataset, TOY_TWIN.get(dataset))


def _matches(part: pd.DataFrame, where: Mapping[str, object]) -> pd.Series:
    mask = pd.Series(True, index=part.index)
    for column, value in where.items():
        if column not in part:
            return pd.Series(False, index=part.index)
        mask &= _column_matches(part[column], value)
    return mask


def _column_matches(column: pd.Series, value: object) -> pd.Series:
    """`_same` over a column, vectorised where its dtype settles the kinds: a bool column
    matches only a bool, a numeric one only a non-bool number, a string only a string (NA
    never); an object column that may mix bools and numbers goes element by element."""
    if isinstance(value, str):
        return column.eq(value).fillna(False).astype(bool)
    if pd.api.types.is_bool_dtype(column.dtype):
        if not isinstance(value, bool):
            return pd.Series(False, index=column.index)
        return column.eq(value).fillna(False).astype(bool)
    if pd.api.types.is_numeric_dtype(column.dtype):
        if isinstance(value, bool):
            return pd.Series(False, index=column.index)
        return column.eq(value).fillna(False).astype(bool)
    # an object column (a display axis: "-" beside numbers or flags): numbers equal to `value`
    # are the candidates, `_same` settles their kinds (True == 1 numerically)
    candidates = pd.to_numeric(column, errors="coerce").eq(value).to_numpy(bool, na_value=False)
    mask = np.zeros(len(column), dtype=bool)
    mask[candidates] = [_same(x, value) for x in column.to_numpy(object)[candidates]]
    return pd.Series(mask, index=column.index)


def _same(ours: object, theirs: object) -> bool:
    """Equal and of the same kind: True never matches the budget 1, NA never a number."""
    if ours is None or (not isinstance(ours, str) and pd.isna(ours)):
        return False
    is_flag = isinstance(ours, (bool, np.bool_))
    return is_flag == isinstance(theirs, bool) and ours == theirs


def _key(arm: Arm) -> tuple:
    return tuple(sorted((k, repr(v)) for k, v in arm.where.items()))


def _arm_values(part: pd.DataFrame, metrics: tuple[str, ...]) -> dict[tuple, dict[int, float]]:
    """(arm key, metric) -> seed -> value, for every arm of every claim (each matched once)."""
    out = {}
    for arm in {_key(a): a for c in CLAIMS for a in (c.a, c.b)}.values():
        rows = part[_matches(part, arm.where)]
        for metric in metrics:
            out[_key(arm), metric] = _seeded(rows, metric)
    return out


def _family(family: str, values: dict[tuple, dict[int, float]], metric: str, margin: float,
            paper_ids: dict) -> pd.DataFrame:
    """The family's claims that have both arms here: numbers, Holm, verdict, fragility."""
    claims, seeded = [], []
    for claim in (c for c in CLAIMS if c.family == family):
        arms = [values[_key(arm), metric] for arm in (claim.a, claim.b)]
        if all(arms):
            claims.append(claim)
            seeded.append(tuple(arms))
    if not claims:
        return pd.DataFrame(columns=list(RESULT_COLUMNS))
    kinds = [c.kind for c in claims]
    found = family_verdicts(kinds, margin, [(list(a.values()), list(b.values()))
                                            for a, b in seeded])
    flips = fragile(kinds, margin, seeded)
    rows = [{"claim": c.name, "statement": c.statement, "kind": c.kind, "a": c.a.label,
             "b": c.b.label, "n_a": len(a), "n_b": len(b), **numbers, "fragile": flip,
             "paper_a": _paper_value(c.a, metric, paper_ids),
             "paper_b": _paper_value(c.b, metric, paper_ids)}
            for c, (a, b), numbers, flip in zip(claims, seeded, found, flips)]
    return pd.DataFrame(rows)[list(RESULT_COLUMNS)]


def _seeded(rows: pd.DataFrame, metric: str) -> dict[int, float]:
    """seed -> the arm's value (the at-best value where analysis.curves added one)."""
    column = f"best_{metric}" if f"best_{metric}" in rows else metric
    values = rows[["seed", column]].dropna()
    return {int(s): float(v) for s, v in zip(values["seed"], values[column])}


def _paper_value(arm: Arm, metric: str, paper_ids: dict) -> float:
    table = paper_ids.get(arm.paper_table)
    key = {k: v for k, v in arm.where.items() if k in AXES or k in paper_numbers.OPTIONAL_AXES}
    row = paper_numbers.lookup((table,), key) if table else None
    return row.values[metric][0] if row is not None and metric in row.values else math.nan
