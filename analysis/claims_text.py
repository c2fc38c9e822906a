"""The claims section of `python -m analysis` (analysis.claims) as the reader sees it: per
family of claims tested on one grid's rows and one metric, a title, the caption that states the
verdict rule, and one line per claim, its numbers spelled as the selection-vs-random tables
spell theirs (analysis.display); then where the metrics' verdicts disagree. Markdown prints a
table; LaTeX, like the effects tables, LaTeX comments; CSV nothing (the long-form CSV has one
header: a second block would break it). analysis.lengths adds the verdicts against length.
"""
from __future__ import annotations

import math

import pandas as pd

from analysis.claims import BEST, ClaimSet
from analysis.curves import LENGTH
from analysis.display import CI, interval, p_value, short
from analysis.inference import MIN_N
from analysis.verdict import ALPHA, BETTER, NOT_WORSE, TOO_FEW, agrees

SECTION = "The paper's claims at this size"
LEFT = 3   # text columns (claim, what the paper says, the arms) before the numbers
FRAGILE = " (fragile)"


def _length(claims: ClaimSet) -> str:
    if claims.length == BEST:
        return f", {BEST}"
    return f", {claims.length:,} steps" if isinstance(claims.length, int) else ""


def claims_title(claims: ClaimSet) -> str:
    context = "".join(f", {name} {value}" for name, value in claims.context.items()
                      if name != LENGTH)
    return (f"{SECTION}: {claims.family} ({claims.grid} grid, {claims.dataset}, "
            f"{claims.metric}{_length(claims)}{context})")


def claims_caption(claims: ClaimSet) -> str:
    """The one paragraph that says what the columns are and the verdict rule."""
    m = f"{claims.margin:g}"
    tested = int(claims.results["p_margin"].notna().sum())   # claims with enough seeds
    paper = (" The paper's numbers are its real data's (Cityscapes, pix2pix maps): compare the "
             "sign, not the size." if claims.dataset not in ("cityscapes", "pix2pix") else "")
    best = (" Each trial is taken at its own best: the point of its learning curve with the "
            "best score on held-out training images (never val), every length of the grid "
            "pooled per seed." if claims.length == BEST else "")
    return (f"Δ = mean(A) − mean(B) of {claims.metric} with Welch's 95% CI; p: Welch's test of "
            f"Δ = 0. Margin ±{m} ({claims.metric} units, analysis/verdict.py). Each claim is "
            f"one Welch test of Δ against the margin boundary nearest its Δ (p vs margin: below "
            f"{ALPHA:g} exactly when the CI excludes it), Holm-adjusted over the {tested} "
            f"{'claims here that have one' if tested != 1 else 'claim here that has one'}. "
            f"Where the paper says A > B: "
            f"reproduced when Holm p < {ALPHA:g} and Δ > +{m} (the CI clears +{m}), not "
            f"reproduced when Holm p < {ALPHA:g} and Δ < +{m}; where it says A is comparable "
            f"or better, the same against −{m}; where the question is whether A and B differ: "
            f"{agrees(claims.margin)} or differs, likewise; else unresolved. Fewer than {MIN_N} "
            f"seeds in an arm: {TOO_FEW}. (fragile): leaving out any one seed changes the "
            f"verdict. P(A > B): the chance an A seed beats a B seed.{best}{paper}")


def verdict_word(verdict: str, fragile: bool) -> str:
    return verdict + (FRAGILE if fragile else "")


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
        "p": column("p", p_value),
        "margin": column("boundary", lambda v: f"{v:+g}"),
        "p vs margin": column("p_margin", p_value),
        "Holm p vs margin": column("p_margin_holm", p_value),
        "P(A > B)": column("p_improve", lambda v: f"{v:.2f}"),
        "verdict": [verdict_word(v, f) for v, f in zip(r["verdict"], r["fragile"])],
    })


def claims_notes(claims: ClaimSet) -> list[str]:
    """A line per claim whose paper Δ is itself on the far side of the margin (Table 1 at 5
    pairs: +.003): a 'not reproduced' there matches the paper's number, not contradicts it."""
    r, m = claims.results, claims.margin
    out = []
    for c, kind, a, b in zip(r["claim"], r["kind"], r["paper_a"], r["paper_b"]):
        inside = (kind == BETTER and a - b < m) or (kind == NOT_WORSE and a - b < -m)
        if inside:
            out.append(f"{c}: the paper's own Δ ({short(a - b, signed=True)}) is not beyond "
                       f"the margin ({'+' if kind == BETTER else '−'}{m:g}) either, so a 'not "
                       f"reproduced' here does not contradict its number.")
    return out


def disagreements(sets: list[ClaimSet]) -> list[str]:
    """A line per claim whose verdicts differ between the metrics of one partition."""
    by_part: dict[tuple, dict[str, dict[str, str]]] = {}
    for s in sets:
        key = (s.grid, s.dataset, s.protocol, s.family, tuple(s.context.items()), s.length)
        for claim, verdict in zip(s.results["claim"], s.results["verdict"]):
            by_part.setdefault(key, {}).setdefault(claim, {})[s.metric] = verdict
    out = []
    for (grid, _, _, _, _, length), claims in by_part.items():
        where = f"{grid} grid" + (f", {length:,} steps" if isinstance(length, int)
                                  else f", {length}" if length else "")
        out += [f"{claim} ({where}): the metrics disagree: "
                + "; ".join(f"{m} {v}" for m, v in verdicts.items())
                for claim, verdicts in claims.items() if len(set(verdicts.values())) > 1]
    return out


def _paper(a: float, b: float) -> str:
    if math.isnan(a) and math.isnan(b):
        return ""
    return " vs ".join("-" if math.isnan(v) else short(v) for v in (a, b))


def claims_text(sets: list[ClaimSet], fmt: str) -> str:
    """The whole section in format `fmt` (md, latex; csv: ''), '' when there are no claims."""
    if not sets or fmt == "csv":
        return ""
    differ = disagreements(sets)
    if fmt == "latex":
        return "".join("\n" + "\n".join(f"% {line}" for line in (
            f"{claims_title(s)}:", claims_caption(s),
            *claims_frame(s).to_string(index=False).splitlines(), *claims_notes(s))) + "\n"
                       for s in sets) + "".join(f"% {line}\n" for line in differ)
    return "".join(f"\n### {claims_title(s)}\n\n{claims_caption(s)}\n\n"
                   + claims_frame(s).to_markdown(index=False, disable_numparse=True) + "\n"
                   + "".join(f"\n- {note}" for note in claims_notes(s))
                   + ("\n" if claims_notes(s) else "") for s in sets) + (
        "\nWhere the metrics disagree:\n\n" + "".join(f"- {line}\n" for line in differ)
        if differ else "")
