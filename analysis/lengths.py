"""The paper's claims against training length: the ClaimSets of one grid run at several
complete schedules (a `steps` axis) side by side, with each arm at its own best beside them.

Per claim and metric: Δ [95% CI] and the verdict at each length, at each arm's best
(analysis.curves), and a final verdict: the one that holds at the two longest lengths, else
"depends on length". A verdict at one stopping length is a verdict about that length: a
still-rising arm stopped early can turn a claim round (docs/learning-curve.md: toy unpaired-only
still rises past 1,000 steps).
"""
from __future__ import annotations

import pandas as pd

from analysis.claims import BEST, ClaimSet
from analysis.claims_text import FRAGILE, verdict_word
from analysis.display import interval

DEPENDS = "depends on length"
FINAL = "final verdict"


def series(sets: list[ClaimSet]) -> dict[tuple, dict[object, ClaimSet]]:
    """series key (ClaimSet.series) -> {length (int steps or BEST): ClaimSet}."""
    out: dict[tuple, dict[object, ClaimSet]] = {}
    for s in sets:
        if s.length is not None:
            out.setdefault(s.series, {})[s.length] = s
    return out


def lengths_of(found: dict[object, ClaimSet]) -> list[int]:
    return sorted(k for k in found if isinstance(k, int))


def final_verdict(verdicts: dict[int, str]) -> str:
    """The verdict at the two longest lengths when they agree (marked fragile when either is),
    else DEPENDS; '' below two lengths. Verdicts may carry claims_text.FRAGILE."""
    longest = [verdicts[k] for k in sorted(verdicts)[-2:]]
    if len(longest) < 2:
        return ""
    words = [v.removesuffix(FRAGILE) for v in longest]
    if words[0] != words[1]:
        return DEPENDS
    return words[0] + (FRAGILE if any(v.endswith(FRAGILE) for v in longest) else "")


def length_frame(found: dict[object, ClaimSet]) -> pd.DataFrame:
    """One row per claim: a 'Δ [CI] verdict' cell per length, at best, and the final verdict."""
    steps = lengths_of(found)
    columns = [*steps, *([BEST] if BEST in found else [])]
    claims = list(dict.fromkeys(c for k in columns for c in found[k].results["claim"]))
    rows = []
    for claim in claims:
        row, verdicts = {"claim": claim}, {}
        for k in columns:
            r = found[k].results
            hit = r[r["claim"] == claim]
            if hit.empty:
                row[_title(k)] = ""
                continue
            h = hit.iloc[0]
            word = verdict_word(h["verdict"], h["fragile"])
            if k != BEST:
                verdicts[k] = word
            row[_title(k)] = (interval(h["delta_mean"], h["delta_ci_low"], h["delta_ci_high"],
                                       min(h["n_a"], h["n_b"]), signed=True) + " " + word)
        row[FINAL] = final_verdict(verdicts) if len(steps) >= 2 else ""
        rows.append(row)
    return pd.DataFrame(rows, columns=["claim", *(_title(k) for k in columns), FINAL])


def _title(length: object) -> str:
    return BEST if length == BEST else f"{length:,} steps"


def length_sections(sets: list[ClaimSet]) -> list[tuple[str, str, pd.DataFrame]]:
    """(title, caption, table) per series with two or more lengths (or an at-best set)."""
    out = []
    for key, found in series(sets).items():
        if len(lengths_of(found)) < 2 and BEST not in found:
            continue
        grid, dataset, _, family, metric, rest = key
        context = "".join(f", {k} {v}" for k, v in rest)
        title = (f"The paper's claims against training length: {family} ({grid} grid, "
                 f"{dataset}, {metric}{context})")
        caption = ("Each cell: Δ = mean(A) − mean(B) with Welch's 95% CI and the verdict at "
                   "that length (complete schedules of that many steps) or with each arm at "
                   "its own best; the rule: analysis/verdict.py, each length's full numbers: "
                   "its claims table (`python -m analysis RESULTS`). Final verdict: the one "
                   f"that holds at the two longest lengths, else '{DEPENDS}'.")
        out.append((title, caption, length_frame(found)))
    return out


def lengths_text(sets: list[ClaimSet], fmt: str) -> str:
    """Every length section (length_sections) in format `fmt`: md, or latex comments."""
    out = []
    for title, caption, frame in length_sections(sets):
        if fmt == "latex":
            out.append("\n".join(f"% {line}" for line in (
                f"{title}:", caption, *frame.to_string(index=False).splitlines())) + "\n")
        else:
            out.append(f"### {title}\n\n{caption}\n\n"
                       + frame.to_markdown(index=False, disable_numparse=True) + "\n")
    return "".join("\n" + block for block in out)
