"""Ray Tune's OptunaSearch over a study in an Optuna journal file, made exact for early stopping and
for resuming a killed driver (sweeps.study.study_run uses both classes).

- A trial that failed deterministically (sweeps.tune.trainable.TRIAL_FAILED: it ends normally, not
  retried) is told as FAIL.
- A trial the scheduler (ASHA) stopped early is told to Optuna as PRUNED. OptunaSearch alone would
  record it as COMPLETE with its last intermediate `val_score`, ranking a score after a few steps
  against fully trained ones. A trial's last result carries sweeps.tune.trainable.ROW_WRITTEN only when
  it ran to its end.
- Each suggestion carries its Optuna trial number (config key OPTUNA_TRIAL), so a Tune trial
  names the journal trial it is.
- Resuming (Tuner.restore) brings Tune's trials and the searcher back as of Tune's last experiment
  checkpoint, which can be a few seconds older than the journal:
  - a trial asked after it is RUNNING in the journal but owned by no Tune trial: the next
    suggestion adopts it (same number, same λs; any the killed driver had not written yet are
    drawn now) instead of asking a new one, so the study still ends with the requested number
    of trials;
  - a trial that finished after it (COMPLETE or PRUNED in the journal) runs again from its last
    checkpoint: `FinishedInJournal` stops it at its first result, and the journal keeps the
    outcome it already has;
  - the sampler's saved random state would draw again the λs it drew after it: it is reseeded.

One driver per study: two drivers on one study would adopt each other's running trials.
"""
from __future__ import annotations

import optuna
from optuna.distributions import BaseDistribution, CategoricalDistribution
from optuna.exceptions import UpdateFinishedTrialError
from optuna.trial import Trial, TrialState
from ray.tune import Stopper
from ray.tune.search.optuna import OptunaSearch

from sweeps.tune.trainable import ROW_WRITTEN, TRIAL_FAILED

OPTUNA_TRIAL = "optuna_trial"   # Tune config key: the trial's number in the Optuna study


class JournalOptunaSearch(OptunaSearch):
    """OptunaSearch (TPE by default) with PRUNED early stops, trial numbers in the config, and
    adoption of orphaned trials after a resume."""

    def suggest(self, trial_id: str) -> dict | None:
        if self._ot_study is not None and trial_id not in self._ot_trials:
            orphan = self._orphan()
            if orphan is not None:
                self._ot_trials[trial_id] = orphan
        params = super().suggest(trial_id)
        if params is not None:
            params[OPTUNA_TRIAL] = self._ot_trials[trial_id].number
        return params

    def restore(self, checkpoint_path: str) -> None:
        super().restore(checkpoint_path)
        if self._ot_study is not None:
            self._ot_study.sampler.reseed_rng()   # no replay of the draws after the checkpoint

    def on_trial_result(self, trial_id: str, result: dict) -> None:
        if result.get(TRIAL_FAILED) or result.get("interrupted"):   # val_score: a NaN
            return   # placeholder (a failure's, a signal's checkpoint's), not a score
        try:
            super().on_trial_result(trial_id, result)
        except UpdateFinishedTrialError:   # rerun after a resume; the journal has its outcome
            pass

    def on_trial_complete(self, trial_id: str, result: dict | None = None,
                          error: bool = False) -> None:
        if result and result.get(TRIAL_FAILED):   # failed deterministically: no retry
            result, error = None, True                  # -> FAIL
        elif result and not error and ROW_WRITTEN not in result:   # stopped before its end
            result = {k: v for k, v in result.items() if k != self.metric}   # -> PRUNED
        super().on_trial_complete(trial_id, result=result, error=error)

    def _orphan(self) -> Trial | None:
        """A RUNNING journal trial no Tune trial owns, its missing parameters drawn (a driver
        killed while asking leaves some unset), or None."""
        owned = {t.number for t in self._ot_trials.values()}
        for frozen in self._ot_study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
            if frozen.number not in owned:
                trial = Trial(self._ot_study, frozen._trial_id)   # Optuna's handle on it
                for name, dist in self._space.items():
                    if name not in frozen.params:
                        _draw(trial, name, dist)
                return trial
        return None


def _draw(trial: Trial, name: str, dist: BaseDistribution) -> None:
    """trial.suggest_* for the distributions a weight study searches (log floats, categories)."""
    if isinstance(dist, CategoricalDistribution):
        trial.suggest_categorical(name, dist.choices)
    else:
        trial.suggest_float(name, dist.low, dist.high, log=dist.log)


class FinishedInJournal(Stopper):
    """Stops a Tune trial whose Optuna trial (config OPTUNA_TRIAL) the journal says finished."""

    def __init__(self, storage: optuna.storages.BaseStorage, study_name: str):
        self.storage, self.study_name = storage, study_name
        self._study: optuna.Study | None = None   # loaded on first use, never pickled

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_study": None}

    def __call__(self, trial_id: str, result: dict) -> bool:
        number = (result.get("config") or {}).get(OPTUNA_TRIAL)
        if number is None:
            return False
        if self._study is None:
            self._study = optuna.load_study(study_name=self.study_name, storage=self.storage)
        finished = self._study.get_trials(deepcopy=False, states=(
            TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL))
        return any(t.number == number for t in finished)

    def stop_all(self) -> bool:
        return False
