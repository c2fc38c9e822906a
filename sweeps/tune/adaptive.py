"""The Tune searcher behind `run_grid --seeds adaptive`: it asks for exactly the trials the
stopping rule (sweeps.plan.adaptive) asks for, MIN seeds of every arm first, then one more seed
in both arms of each comparison the finished rows leave unresolved, until MAX.

It reads a finished trial's outcome from its Parquet row (the primary metric of an ok row;
None for a failed one), so rows are ordinary rows: a rerun starts from the ok rows on disk
(sweeps.plan.sweep replays the rule over them), and a trial's retries stay Tune's business.
It prints a line when a comparison settles. Resuming (Tuner.restore) rebuilds the outcome from
the rows on disk at the first suggestion; a trial that was running when the driver died may
be asked once more (its row is simply written again).
"""
from __future__ import annotations

from ray.tune.search import Searcher

from sweeps.plan.adaptive import AdaptiveRule


class AdaptiveSeedSearch(Searcher):
    """Suggests `points[key]` (a trial's Tune config) for each key the rule asks for."""

    def __init__(self, rule: AdaptiveRule, points: dict[str, dict], read_outcome,
                 outcome: dict[str, float | None] | None = None):
        """read_outcome(keys) -> {key: metric or None} from the rows on disk (picklable);
        outcome: what is already known (the ok rows a rerun found)."""
        super().__init__()
        self.rule, self.points, self.read_outcome = rule, points, read_outcome
        self.outcome = dict(outcome or {})
        self.running: dict[str, str] = {}     # Tune trial id -> trial key
        self.fresh = outcome is not None      # False after a restore: re-read rows first

    def suggest(self, trial_id: str) -> dict | None:
        if not self.fresh:
            self.outcome.update(self.read_outcome(set(self.points)))
            self.fresh = True
        self._settle()
        key = self._next()
        if key is not None:
            self.running[trial_id] = key
            return dict(self.points[key])
        return None if self.running else Searcher.FINISHED

    def on_trial_complete(self, trial_id: str, result: dict | None = None,
                          error: bool = False) -> None:
        key = self.running.pop(trial_id, None)
        if key is None:       # a trial from before a restore: its row tells
            return
        self.outcome[key] = self.read_outcome({key}).get(key)   # None: failed / no row
        self._settle()

    def _settle(self) -> None:
        for comparison in self.rule.step(self.outcome):
            print(f"adaptive seeds: {comparison.line()}", flush=True)

    def _next(self) -> str | None:
        busy = set(self.running.values())
        return next((k for k in self.rule.asked() if k not in self.outcome and k not in busy), None)

    def save(self, checkpoint_path: str) -> None:
        import pickle
        with open(checkpoint_path, "wb") as f:
            pickle.dump(self.rule, f)

    def restore(self, checkpoint_path: str) -> None:
        """The rule as saved; the outcome is read again from the rows at the next suggestion
        (seeds only grow, so replaying newer rows over a saved rule gives the same verdicts)."""
        import pickle
        with open(checkpoint_path, "rb") as f:
            self.rule = pickle.load(f)
        self.running, self.outcome, self.fresh = {}, {}, False
