"""Adaptive seeds (`run_grid --seeds adaptive[:MIN-MAX] --target-width W`): the stopping rule,
without Ray or torch (sweeps/tune/adaptive.py is the Tune searcher that follows it).

Every compared arm -- a selector arm and its random arm at the same budget, mode and dataset --
starts with MIN seeds (seeds 0 .. MIN-1). A comparison whose Δ 95 % CI (selector − random,
analysis.inference.delta_ci: the statistic the tables print) still contains 0 and is wider than
W gets one more seed in both arms, until MAX. A comparison is settled when its CI excludes 0
("differs"), when it is no wider than W ("narrow": any effect is smaller than about W / 2), or
at MAX seeds ("unresolved"). Arms in no comparison (unpaired only, every pair) run MIN seeds.

The rule looks at seeds by number: at n seeds a comparison uses seeds 0 .. n-1 of both arms
(the ok ones; a failed seed counts as run). So the same rows always give the same verdicts,
whichever order the trials finished in, and a rerun that finds rows on disk replays the rule
over them and asks only for the seeds they lack.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Mapping

from analysis.inference import MIN_N, delta_ci

ADAPTIVE = "adaptive"
DEFAULT_BOUNDS = (3, 10)     # MIN 3: the fewest seeds that give a CI; MAX 10: the paper's seeds
DEFAULT_TARGET_WIDTH = 0.04  # metric units (pixel accuracy): a CI this narrow bounds |Δ| by ~.02
BASELINE = "random"
NOT_SETTING = ("seed", "trial_key", "export_dir")   # fields that differ between one arm's seeds

Outcome = Mapping[str, "float | None"]   # trial key -> its metric (None: ran, no ok value)


@dataclass(frozen=True)
class AdaptiveSeeds:
    low: int    # MIN seeds every arm starts with
    high: int   # MAX seeds a comparison may reach


def seeds_arg(text: str) -> "tuple[int, ...] | AdaptiveSeeds":
    """run_grid's --seeds: a list ('0-9', '0,3') or adaptive[:MIN-MAX]."""
    import argparse
    from analysis.cli import parse_seeds
    if not text.startswith(ADAPTIVE):
        return parse_seeds(text)
    try:
        return parse_adaptive(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"--seeds {err}") from None


def parse_adaptive(text: str) -> AdaptiveSeeds:
    """'adaptive' or 'adaptive:MIN-MAX' (MIN >= 3, MIN <= MAX); one clear line otherwise."""
    name, _, bounds = text.partition(":")
    if name != ADAPTIVE:
        raise ValueError(f"{text!r}: expected adaptive or adaptive:MIN-MAX")
    if not bounds:
        return AdaptiveSeeds(*DEFAULT_BOUNDS)
    low, sep, high = bounds.partition("-")
    if not sep or not low.isdigit() or not high.isdigit():
        raise ValueError(f"{text!r}: expected adaptive:MIN-MAX, e.g. adaptive:3-10")
    if int(low) < MIN_N or int(low) > int(high):
        raise ValueError(f"{text!r}: need {MIN_N} <= MIN <= MAX (below {MIN_N} seeds there is "
                         f"no CI to judge)")
    return AdaptiveSeeds(int(low), int(high))


@dataclass
class Comparison:
    name: str                  # "paired_budget=1, selection=kmedoids vs random"
    selector: list[str]        # trial keys of the selector arm, by seed
    baseline: list[str]        # trial keys of the random arm, by seed
    seeds: int                 # seeds asked of each arm now
    verdict: str | None = None  # differs | narrow | unresolved; None while open
    ci: tuple[float, float] = (math.nan, math.nan)

    def line(self) -> str:
        low, high = self.ci
        ci = "no CI yet" if math.isnan(low) else f"Δ CI [{low:+.3f}, {high:+.3f}]"
        what = {"differs": "resolved: excludes 0", "narrow": "resolved: within the target width",
                "unresolved": "unresolved at the maximum", None: "open"}[self.verdict]
        return f"{self.name}: {what} at {self.seeds} seeds ({ci})"


@dataclass
class AdaptiveRule:
    bounds: AdaptiveSeeds
    target_width: float
    settings: dict[str, list[str]]          # setting name -> trial keys by seed (MAX of them)
    comparisons: list[Comparison] = field(default_factory=list)

    def wanted(self, setting: str) -> int:
        keys = set(self.settings[setting])
        seeds = [c.seeds for c in self.comparisons if keys & {*c.selector, *c.baseline}]
        return max(seeds, default=self.bounds.low)

    def asked(self, worst: bool = False) -> list[str]:
        """Every trial key the rule asks for now (worst: if no comparison resolved), seed 0 of
        every setting first."""
        compared = {k for c in self.comparisons for k in (*c.selector, *c.baseline)}
        wanted = {name: self.bounds.high if worst and compared & set(keys) else self.wanted(name)
                  for name, keys in self.settings.items()}
        return [keys[seed] for seed in range(self.bounds.high)
                for name, keys in self.settings.items() if seed < wanted[name]]

    def step(self, outcome: Outcome) -> list[Comparison]:
        """Settle or extend each open comparison whose asked seeds all have an outcome, until
        none changes; the comparisons settled by this call."""
        settled, changed = [], True
        while changed:
            changed = False
            for c in (c for c in self.comparisons if c.verdict is None):
                n = c.seeds
                if not all(k in outcome for k in (*c.selector[:n], *c.baseline[:n])):
                    continue
                c.ci = delta_ci(_values(c.selector[:n], outcome), _values(c.baseline[:n], outcome))
                c.verdict = verdict(*c.ci, self.target_width)
                if c.verdict is None and n >= self.bounds.high:
                    c.verdict = "unresolved"
                if c.verdict is None:
                    c.seeds, changed = n + 1, True
                else:
                    settled.append(c)
        return settled

    @property
    def finished(self) -> bool:
        return all(c.verdict is not None for c in self.comparisons)

    def summary(self) -> list[str]:
        return [c.line() for c in self.comparisons]


def verdict(low: float, high: float, target_width: float) -> str | None:
    """differs (the CI excludes 0), narrow (no wider than target_width), or None (go on);
    NaN bounds -- too few ok seeds -- never settle."""
    if math.isnan(low) or math.isnan(high):
        return None
    if low > 0 or high < 0:
        return "differs"
    return "narrow" if high - low <= target_width else None


def _values(keys: list[str], outcome: Outcome) -> list[float]:
    return [v for v in (outcome[k] for k in keys) if v is not None and not math.isnan(v)]


def build_rule(rows: list[dict], columns: list[str], bounds: AdaptiveSeeds,
               target_width: float) -> AdaptiveRule:
    """The rule over trial rows (TrialConfig.to_row() + trial_key, seeds 0 .. MAX-1 of every
    setting); `columns` (the fields that vary across the grid) name the comparisons."""
    settings: dict[tuple, list[dict]] = {}
    for row in rows:
        settings.setdefault(_setting(row), []).append(row)
    named = {s: _name(group[0], columns) for s, group in settings.items()}
    keys = {s: [r["trial_key"] for r in sorted(group, key=lambda r: r["seed"])]
            for s, group in settings.items()}
    rule = AdaptiveRule(bounds, target_width, {named[s]: keys[s] for s in settings})
    for s, group in settings.items():
        row = group[0]
        if row["selection"] == BASELINE or row["mode"] == "unpaired" or row["paired_budget"] <= 0:
            continue
        twin = _setting({**row, "selection": BASELINE})
        if twin in settings:
            rule.comparisons.append(Comparison(f"{named[s]} vs {BASELINE}", keys[s], keys[twin],
                                               bounds.low))
    return rule


def _setting(row: dict) -> tuple:
    return tuple(sorted((k, v) for k, v in row.items() if k not in NOT_SETTING))


def _name(row: dict, columns: list[str]) -> str:
    shown = [c for c in columns if c not in NOT_SETTING]
    return ", ".join(f"{c}={row[c]}" for c in shown) or "the grid's one setting"
