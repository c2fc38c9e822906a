"""An Optuna journal file cut by a crash, made safe before Optuna opens it (sweeps.study.study).

A crash while Optuna appends to the journal leaves its last record cut. Optuna then reads the
journal without that record, and its next append glues a new record onto the cut one, after
which no reader can parse the file (and a new study on it fails "Should not reach."). Records
are numbered by position (trial ids count create-trial records), so only a cut *last* record can
be dropped safely: `check_journal` moves it aside and refuses a journal damaged before its end,
naming the command that keeps the records before the damage. The lost record may be the one
that finished a trial: `finish_from_rows` tells the study what it said, from the trial's row.
Imports no Ray.
"""
from __future__ import annotations

import json
import os
import re
from typing import Callable

TORN_SUFFIX = ".torn"           # beside the journal: the bytes of cut records, kept for a person


class JournalError(ValueError):
    """A journal Optuna cannot read safely; one line with the remedy."""


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


def finish_from_rows(study, row_of: Callable[[dict], dict], metric: str) -> list[int]:
    """Tell COMPLETE, with the row's `metric`, each RUNNING trial whose row (`row_of(params)`:
    a dict with `status` and `metric`, or {}) is `ok`: such a trial ran to its end, and the
    journal lost the record saying so. Returns the trial numbers told."""
    from optuna.trial import TrialState
    told = []
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        row = row_of(trial.params)
        value = row.get(metric)
        if row.get("status") == "ok" and isinstance(value, (int, float)):
            study.tell(trial.number, value)
            told.append(trial.number)
    return told
