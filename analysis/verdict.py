"""The verdict rule for the paper's claims (analysis.claims): one test per claim against a
margin, Holm-adjusted over the claims of one family, and whether dropping one seed flips it.

Each claim has a kind and, per metric, a margin m (MARGINS, in that metric's units):
  better      the paper says A beats B              boundary +m
                reproduced      Δ above +m          not reproduced   Δ below +m
  not worse   A is "comparable with or better" than B (Table 4)   boundary -m
                reproduced      Δ above -m          not reproduced   Δ below -m
  same        does A differ from B? (two-sided)     boundaries -m and +m
                agrees within ±m   Δ inside (-m, +m)      differs   Δ outside
The claim's p is Welch's two-sided p of Δ = b for the boundary b nearest the estimate; both
branches (the effect and its absence) use that one p, Holm-adjusted over the family. Holm p <
ALPHA decides for the side of b the estimate lies on; else the claim is unresolved. Without
the adjustment (one claim) this is exactly "the 95 % Welch CI lies wholly on one side of b":
reproduced needs the CI's lower end above +m, not reproduced its upper end below +m. The lower
end, not the point estimate, has to clear +m so that the two branches mirror each other and a
significant but tiny effect (+.005) is not called the paper's.

A verdict is fragile when the family's verdicts, recomputed with any one seed left out of every
arm (as if that seed had not been run), change it to another verdict (a drop that leaves an arm
below MIN_N seeds gives no verdict and counts as no change).
"""
from __future__ import annotations

import math
from typing import Mapping, Sequence

import numpy as np

from analysis.inference import MIN_N, delta_ci, holm, prob_improvement, welch_p

ALPHA = 0.05
BETTER, NOT_WORSE, SAME = "better", "not worse", "same"
REPRODUCED, NOT_REPRODUCED, UNRESOLVED = "reproduced", "not reproduced", "unresolved"
DIFFERS, TOO_FEW = "differs", "too few seeds"
# Smallest effect worth calling one, per metric, in its units (fractions of 1). Pixel accuracy
# (and the maps protocol's): 0.02, two of the paper's own seed stds ("smaller than 0.01 for
# most models", Sec. 4.1.4 on Table 2; Table 4 prints .006-.018). Mean IoU runs at about half
# of pixel accuracy in the paper (the fully supervised row: .402 vs .878, Table 2), so half the
# margin: 0.01. Mean class accuracy gets no verdict.
MARGINS: dict[str, float] = {"pixel_acc": 0.02, "mean_iou": 0.01, "maps_pixel_acc": 0.02}
Arms = tuple[Sequence[float], Sequence[float]]   # A's and B's values


def agrees(margin: float) -> str:
    return f"agrees within ±{margin:g}"


def boundaries(kind: str, margin: float) -> tuple[float, ...]:
    return {BETTER: (margin,), NOT_WORSE: (-margin,), SAME: (-margin, margin)}[kind]


def nearest(kind: str, margin: float, delta: float) -> float:
    """The boundary the estimate is nearest (the one its CI must clear)."""
    return min(boundaries(kind, margin), key=lambda b: abs(delta - b))


def side(kind: str, margin: float, delta: float) -> str:
    """The verdict the estimate's side of the boundaries stands for."""
    if kind == SAME:
        return agrees(margin) if -margin < delta < margin else DIFFERS
    return REPRODUCED if delta > boundaries(kind, margin)[0] else NOT_REPRODUCED


def numbers(kind: str, margin: float, a: Sequence[float], b: Sequence[float]) -> dict:
    """One claim's statistics before adjustment: Δ, its Welch CI, Welch's p of Δ = 0, the
    boundary tested and its p, P(A > B)."""
    delta = float(np.mean(a) - np.mean(b)) if len(a) and len(b) else math.nan
    low, high = delta_ci(a, b)
    bound = nearest(kind, margin, delta) if not math.isnan(delta) else math.nan
    return {"delta_mean": delta, "delta_ci_low": low, "delta_ci_high": high,
            "p": welch_p(a, b), "boundary": bound,
            "p_margin": welch_p(a, b, bound) if not math.isnan(bound) else math.nan,
            "p_improve": prob_improvement(a, b)}


def decide(kind: str, margin: float, delta: float, p_holm: float, n: int) -> str:
    if n < MIN_N or math.isnan(p_holm):
        return TOO_FEW
    return side(kind, margin, delta) if p_holm < ALPHA else UNRESOLVED


def family_verdicts(kinds: Sequence[str], margin: float, arms: Sequence[Arms]) -> list[dict]:
    """Every claim's numbers, `p_margin_holm` (Holm over the family) and `verdict`."""
    out = [numbers(k, margin, a, b) for k, (a, b) in zip(kinds, arms)]
    adjusted = holm([o["p_margin"] for o in out])
    for o, k, p, (a, b) in zip(out, kinds, adjusted, arms):
        o["p_margin_holm"] = p
        o["verdict"] = decide(k, margin, o["delta_mean"], p, min(len(a), len(b)))
    return out


def fragile(kinds: Sequence[str], margin: float,
            seeded: Sequence[tuple[Mapping[int, float], Mapping[int, float]]]) -> list[bool]:
    """Per claim: does leaving out any one seed (from every arm of the family) change its
    verdict to another one? `seeded`: per claim, (seed -> value) of arm A and of arm B."""
    arrays = {id(arm): (np.fromiter(arm, float, len(arm)), np.fromiter(arm.values(), float,
                                                                     len(arm)))
              for pair in seeded for arm in pair}

    def values(arm: Mapping[int, float], drop: int | None) -> np.ndarray:
        seeds, vals = arrays[id(arm)]
        return vals if drop is None else vals[seeds != drop]
    base = verdicts_only(kinds, margin, [(values(a, None), values(b, None)) for a, b in seeded])
    flips = [False] * len(kinds)
    for seed in sorted({s for a, b in seeded for s in (*a, *b)}):
        again = verdicts_only(kinds, margin, [(values(a, seed), values(b, seed))
                                              for a, b in seeded])
        for i, verdict in enumerate(again):
            if TOO_FEW not in (verdict, base[i]) and verdict != base[i]:
                flips[i] = True
    return flips


def verdicts_only(kinds: Sequence[str], margin: float, arms: Sequence[Arms]) -> list[str]:
    """family_verdicts' `verdict`s alone: the boundary's p and Holm, none of the CIs and
    P(A > B) the tables print (fragile() asks once per seed of the family)."""
    deltas = [float(np.mean(a) - np.mean(b)) if len(a) and len(b) else math.nan
              for a, b in arms]
    bounds = [nearest(k, margin, d) if not math.isnan(d) else math.nan
              for k, d in zip(kinds, deltas)]
    adjusted = holm([welch_p(a, b, bound) if not math.isnan(bound) else math.nan
                     for (a, b), bound in zip(arms, bounds)])
    return [decide(k, margin, d, p, min(len(a), len(b)))
            for k, d, p, (a, b) in zip(kinds, deltas, adjusted, arms)]
