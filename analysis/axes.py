"""The axes a paper table's rows are named by, derived from a results row's config columns.

    n_unpaired  "Unpaired" column: pool size, ALL (-1) = the whole split, NA in paired-only mode
    n_paired    "Paired" column: paired samples, the pool size when all of it is paired,
                ALL = the whole split, NA in unpaired-only mode
    selector    strategy that chose the pairs; NA where it chose nothing (all paired, or none)
    balanced    pairs replicated up to the unpaired count (hybrid only, else NA)
    labels      Table 3's unpaired label set: none (paired only) / far / close / same
    losses      Table 5's loss ablation: full / w/o cycle / w/o identity / w/o cycle, identity
                (the config's own `variant` column, paper / released step, is not an axis: a
                table shows it as a context column where it varies)

NA is a plain string so that pandas groups and compares it like any other value.
"""
from __future__ import annotations

import numbers

import pandas as pd

from analysis.schema import ALL, LABEL_DISTANCE

NA = "-"  # axis not applicable to this row (printed as "-", as in the paper's tables)
AXES = ("n_unpaired", "n_paired", "selector", "balanced", "labels", "losses")
AXIS_TITLES = {"n_unpaired": "unpaired", "n_paired": "paired", "selector": "selection",
               "balanced": "balanced", "labels": "unpaired labels", "losses": "losses"}
# Display order of string axis values; unknown values follow, alphabetically.
VALUE_ORDER = {
    "selector": ("random", "kmedoids", "kcenter", "typiclust"),
    "labels": ("none", "far", "close", "same"),
    "losses": ("full", "w/o cycle", "w/o identity", "w/o cycle, identity"),
    "pool_selection": ("random", "kmedoids", "kcenter", "typiclust"),
}


def derive_axes(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of `frame` with the AXES columns added (object dtype; NA where not applicable)."""
    out = frame.copy()
    records = frame[[c for c in _INPUTS if c in frame]].to_dict("records")
    for name, rule in _RULES.items():
        out[name] = pd.Series([rule(r) for r in records], index=frame.index, dtype=object)
    return out


def _pairs_everything(r: dict) -> bool:
    budget, pool = int(r["paired_budget"]), int(r["unpaired"])
    return budget == ALL or budget == pool


def _n_unpaired(r: dict) -> object:
    return NA if r["mode"] == "paired" else int(r["unpaired"])


def _n_paired(r: dict) -> object:
    if r["mode"] == "unpaired":
        return NA
    return int(r["unpaired"]) if _pairs_everything(r) else int(r["paired_budget"])


def _selector(r: dict) -> object:
    if r["mode"] == "unpaired" or _pairs_everything(r):
        return NA
    return str(r["selection"])


def _balanced(r: dict) -> object:
    return bool(r["balance"]) if r["mode"] == "hybrid" else NA


def _labels(r: dict) -> object:
    if r["mode"] == "paired":
        return "none"
    name = str(r.get("unpaired_labels") or "same")
    return LABEL_DISTANCE.get(name, name)


def _losses(r: dict) -> str:
    dropped = [name for name, column in (("cycle", "lambda_cycle"), ("identity", "lambda_identity"))
               if float(r.get(column, 1.0)) == 0.0]
    return "w/o " + ", ".join(dropped) if dropped else "full"


_INPUTS = ("mode", "paired_budget", "unpaired", "selection", "balance", "unpaired_labels",
           "lambda_cycle", "lambda_identity")   # the config columns the rules read
_RULES = {"n_unpaired": _n_unpaired, "n_paired": _n_paired, "selector": _selector,
          "balanced": _balanced, "labels": _labels, "losses": _losses}


def sort_key(axis: str, value: object) -> tuple:
    """Paper order: NA first, numbers ascending, ALL last; known strings in VALUE_ORDER."""
    if value == NA:
        return (0, 0, "")
    if isinstance(value, bool):
        return (1, 0 if value else 1, "")
    if isinstance(value, numbers.Real):
        return (2, 0, "") if value == ALL else (1, value, "")
    order = VALUE_ORDER.get(axis, ())
    return (1, order.index(value) if value in order else len(order), str(value))


def display(value: object) -> str:
    """How an axis value is printed: NA '-', ALL 'all', booleans yes/no."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, numbers.Real) and value == ALL:
        return "all"
    return str(value)
