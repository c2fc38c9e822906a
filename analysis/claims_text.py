"""The claims section of `python -m analysis` (analysis.claims) as the reader sees it: per
family of claims tested on one grid's rows, a title, the caption that states the verdict rule,
and one line per claim, its numbers spelled as the selection-vs-random tables spell theirs
(analysis.display). Markdown prints a table; LaTeX, like the effects tables, LaTeX comments;
CSV nothing (the long-form CSV has one header: a second block would break it).
"""
from __future__ import annotations

import math

import pandas as pd

from analysis.claims import ALPHA, ClaimSet, agrees
from analysis.display import CI, interval, p_value, short
from analysis.inference import MIN_N

SECTION = "The paper's claims at this size"
LEFT = 3   # text columns (claim, what the paper says, the arms) before the numbers


def claims_title(claims: ClaimSet) -> str:
    context = "".join(f", {name} {value}" for name, value in claims.context.items())
    return (f"{SECTION}: {claims.family} ({claims.grid} grid, {claims.dataset}, "
            f"{claims.metric}{context})")


def claims_caption(claims: ClaimSet) -> str:
    """The one paragraph that says what the columns are and the verdict rule."""
    m = f"{claims.margin:g}"
    tested = int(claims.results["p"].notna().sum())   # claims with enough seeds for a p
    paper = (" The paper's numbers are Cityscapes' (real data): compare the sign, not the size."
             if claims.dataset != "cityscapes" else "")
    return (f"Δ = mean(A) − mean(B) of {claims.metric} with its bootstrap 95% CI; p: two-sided "
            f"permutation test of the difference of means, Holm-adjusted over the "
            f"{tested} claim{'s' if tested != 1 else ''} here that have one; P(A > B): the chance an A seed beats a B seed. "
            f"Verdict where the paper says A > B: reproduced when Holm p < {ALPHA:g} and "
            f"Δ > 0; not reproduced when the CI's upper end is below +{m} (an effect of the "
            f"paper's sign bigger than {m} is ruled out); else unresolved. Where the question "
            f"is whether A and B differ: differs when Holm p < {ALPHA:g}; "
            f"{agrees(claims.margin)} when the CI lies inside ±{m}; else unresolved. Fewer "
            f"than {MIN_N} seeds in an arm: too few seeds.{paper}")


def claims_frame(claims: ClaimSet) -> pd.DataFrame:
    """One row of strings per claim; 'too few' in place of a statistic below MIN_N seeds."""
    r = claims.results
    few = [min(a, b) < MIN_N for a, b in zip(r["n_a"], r["n_b"])]
    def column(name: str, spell) -> list[str]:
        return ["too few" if f or math.isnan(v) else spell(v) for v, f in zip(r[name], few)]
    return pd.DataFrame({
        "claim": r["claim"], "the paper says": r["statement"],
        "A vs B": [f"{a} vs {b}" for a, b in zip(r["a"], r["b"])],
        "n (A vs B)": [f"{a} vs {b}" for a, b in zip(r["n_a"], r["n_b"])],
        f"Δ mean (A − B) {CI}": [interval(d, lo, hi, min(a, b), signed=True) for d, lo, hi, a, b
                                 in zip(r["delta_mean"], r["delta_ci_low"], r["delta_ci_high"],
                                        r["n_a"], r["n_b"])],
        "paper (A vs B)": [_paper(a, b) for a, b in zip(r["paper_a"], r["paper_b"])],
        "paper Δ": ["" if math.isnan(a - b) else short(a - b, signed=True)
                    for a, b in zip(r["paper_a"], r["paper_b"])],
        "p": column("p", p_value), "p (Holm)": column("p_holm", p_value),
        "P(A > B)": column("p_improve", lambda v: f"{v:.2f}"),
        "verdict": r["verdict"],
    })


def claims_notes(claims: ClaimSet) -> list[str]:
    """A line per directional claim whose paper Δ is itself inside the margin (Table 1 at 5
    pairs: +.003): a 'not reproduced' there matches the paper's number, not contradicts it."""
    r = claims.results
    return [f"{c}: the paper's own Δ ({short(a - b, signed=True)}) is inside ±{claims.margin:g}: "
            f"its number shows no effect above +{claims.margin:g} either, so a 'not reproduced' "
            f"here does not contradict it."
            for c, d, a, b in zip(r["claim"], r["directional"], r["paper_a"], r["paper_b"])
            if d and abs(a - b) < claims.margin]


def _paper(a: float, b: float) -> str:
    if math.isnan(a) and math.isnan(b):
        return ""
    return " vs ".join("-" if math.isnan(v) else short(v) for v in (a, b))


def claims_text(sets: list[ClaimSet], fmt: str) -> str:
    """The whole section in format `fmt` (md, latex; csv: ''), '' when there are no claims."""
    if not sets or fmt == "csv":
        return ""
    if fmt == "latex":
        return "".join("\n" + "\n".join(f"% {line}" for line in (
            f"{claims_title(s)}:", claims_caption(s),
            *claims_frame(s).to_string(index=False).splitlines(), *claims_notes(s))) + "\n"
                       for s in sets)
    return "".join(f"\n### {claims_title(s)}\n\n{claims_caption(s)}\n\n"
                   + claims_frame(s).to_markdown(index=False, disable_numparse=True) + "\n"
                   + "".join(f"\n- {note}" for note in claims_notes(s))
                   + ("\n" if claims_notes(s) else "") for s in sets)
