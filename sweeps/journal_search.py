"""Ray Tune's OptunaSearch over a study in an Optuna journal file, made exact for early stopping and
for resuming a killed driver (sweeps.study_run uses both classes).

- A trial that failed deterministically (sweeps.trainable.TRIAL_FAILED: it ends normally, not
  retried) is told as FAIL.
- A trial the scheduler (ASHA) stopped early is told to Optuna as PRUNED. OptunaSearch alone would
  record it as COMPLETE with its last intermediate `val_score`, ranking a score after a few steps
  against fully trained ones. A trial's last result carries sweeps.trainable.ROW_WRITTEN only when
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

A crash while Optuna appends to the journal leaves its last record cut. Optuna then reads the
journal without that record, and its next append glues a new record onto the cut one, after
which no reader can parse the file. `check_journal` (before the journal is opened) moves a cut
last record aside and refuses a journal damaged before its end; `finish_from_rows` then tells
the study what the cut record would have: a RUNNING trial whose `ok` row exists finished.
"""
from __future__ import annotations

import json
import os
import re
from typing import Callable

import optuna
from optuna.distributions import BaseDistribution, CategoricalDistribution
from optuna.exceptions import UpdateFinishedTrialError
from optuna.trial import Trial, TrialState
from ray.tune import Stopper
from ray.tune.search.optuna import OptunaSearch

from sweeps.trainable import ROW_WRITTEN, TRIAL_FAILED

OPTUNA_TRIAL = "optuna_trial"   # Tune config key: the trial's number in the Optuna study
TORN_SUFFIX = ".torn"           # beside the journal: the bytes of cut records, kept for a person


class JournalError(ValueError):
    """A journal Optuna cannot read safely; one line with the remedy."""


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
        if result.get(TRIAL_FAILED):   # its val_score is a NaN placeholder, not a score
            return
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


# --- a journal cut by a crash -------------------------------------------------------------------
def check_journal(path: str) -> str | None:
    """Make the journal file at `path` safe to open: None when every record is whole; a one-line
    note when its cut last record was moved to `<path>.torn` (the whole records stay).

    Raises JournalError when a record before the last is damaged: records are numbered by their
    position, so the ones after it cannot be trusted; the message says how to keep those before.
    Holds Optuna's own journal lock, so a record another driver is writing is not taken for cut.
    """
    from optuna.storages.journal import JournalFileSymlinkLock
    if not os.path.isfile(path):
        return None
    lock = JournalFileSymlinkLock(path)
    lock.acquire()   # a lock left by a killed writer is broken after Optuna's grace period
    try:
        with open(path, "rb") as f:
            data = f.read()
        end = data.rfind(b"\n") + 1   # records are JSON objects, one per line
        _check_records(path, data[:end])
        if end == len(data):
            return None
        return _set_aside(path, data, end)
    finally:
        lock.release()


def _check_records(path: str, whole: bytes) -> None:
    offset = 0
    lines = whole.splitlines(keepends=True)
    for number, line in enumerate(lines):
        try:
            json.loads(line)
        except ValueError:
            raise JournalError(
                f"journal {path}: record {number + 1} of {len(lines)} (from byte {offset}) is "
                f"damaged, so the {len(lines) - number - 1} after it cannot be trusted; to keep "
                f"the {number} before it: cp {path} {path}.bak && truncate -s {offset} {path}"
            ) from None
        offset += len(line)


def _set_aside(path: str, data: bytes, end: int) -> str:
    """Complete a last record whose newline alone is missing; else append its bytes to
    `<path>.torn` and cut the journal back to its whole records."""
    tail, records = data[end:], data[:end].count(b"\n")
    try:
        json.loads(tail)
    except ValueError:
        pass
    else:
        with open(path, "ab") as f:
            f.write(b"\n")
        return f"note: journal {path}: its last record lacked its line end; added it"
    with open(path + TORN_SUFFIX, "ab") as aside:
        aside.write(tail + b"\n")
        aside.flush()
        os.fsync(aside.fileno())
    os.truncate(path, end)
    return (f"warning: journal {path}: its last record ({_operation(tail)}, {len(tail)} bytes) was "
            f"cut by a crash mid-write; kept its {records} whole records, moved the cut one to "
            f"{path + TORN_SUFFIX}")


def _operation(record: bytes) -> str:
    """What a cut record was doing, from its leading `{"op_code":N` (Optuna's JournalOperation)."""
    from optuna.storages.journal._storage import JournalOperation
    found = re.match(rb'\{"op_code":(\d+)', record)
    if not found or int(found[1]) not in set(JournalOperation):
        return "an unknown operation"
    return JournalOperation(int(found[1])).name.lower()


def finish_from_rows(study: optuna.Study, row_of: Callable[[dict], dict],
                     metric: str) -> list[int]:
    """Tell COMPLETE, with the row's `metric`, each RUNNING trial whose row (`row_of(params)`:
    a dict with `status` and `metric`, or {}) is `ok`: such a trial ran to its end, and the
    journal lost the record saying so. Returns the trial numbers told."""
    told = []
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        row = row_of(trial.params)
        value = row.get(metric)
        if row.get("status") == "ok" and isinstance(value, (int, float)):
            study.tell(trial.number, value)
            told.append(trial.number)
    return told
