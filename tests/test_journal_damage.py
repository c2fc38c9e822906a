"""An Optuna journal cut by a crash mid-write (sweeps.study.journal_file.check_journal), on real
journal files written by Optuna: the cut last record is moved aside at any byte offset, the
whole records stay and the study keeps working; a journal damaged before its end is refused
with the remedy; a trial whose `ok` row exists is told COMPLETE after its record was lost."""
from __future__ import annotations

import subprocess
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from sweeps.study.journal_file import JournalError, check_journal, finish_from_rows

STUDY = "torn"


def storage(path: Path):
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend
    return JournalStorage(JournalFileBackend(str(path)))


def write_study(path: Path, trials: int = 3) -> bytes:
    """A study as tune_weights leaves it: setup attribute, then trials asked, λs drawn, told."""
    study = optuna.create_study(storage=storage(path), study_name=STUDY, direction="maximize")
    study.set_user_attr("fewpair", {"setup": {"trials": trials}})
    for number in range(trials):
        trial = study.ask()
        trial.suggest_float("lambda_cycle", 1.0, 100.0, log=True)
        study.tell(trial, 0.1 * number)
    return path.read_bytes()


def states(path: Path) -> list[tuple[int, TrialState]]:
    study = optuna.load_study(study_name=STUDY, storage=storage(path))
    return [(t.number, t.state) for t in study.trials]


@pytest.fixture(scope="module")
def journal_bytes(tmp_path_factory) -> bytes:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return write_study(tmp_path_factory.mktemp("journal") / "whole.journal")


def test_unharmed_journal_is_left_alone(tmp_path, journal_bytes):
    path = tmp_path / "j.journal"
    path.write_bytes(journal_bytes)
    assert check_journal(str(path)) is None and path.read_bytes() == journal_bytes
    assert check_journal(str(tmp_path / "absent.journal")) is None


@pytest.mark.parametrize("cut_back", [1, 2, 40, 120, 200, 300])   # bytes cut off the end
def test_a_cut_last_record_is_set_aside_and_the_study_works_on(tmp_path, journal_bytes,
                                                               cut_back):
    path = tmp_path / "j.journal"
    cut = journal_bytes[:-cut_back]
    path.write_bytes(cut)
    whole = cut[:cut.rfind(b"\n") + 1]
    note = check_journal(str(path))
    if cut_back == 1:   # only the line end was lost: the record is whole
        assert note == f"note: journal {path}: its last record lacked its line end; added it"
        assert path.read_bytes() == journal_bytes
        assert states(path)[-1] == (2, TrialState.COMPLETE)
        return
    records = whole.count(b"\n")
    assert note.startswith(f"warning: journal {path}: its last record (") and "\n" not in note
    assert f"cut by a crash mid-write; kept its {records} whole records, moved the cut " \
           f"one to {path}.torn" in note
    assert path.read_bytes() == whole
    assert (tmp_path / "j.journal.torn").read_bytes() == cut[len(whole):] + b"\n"
    before = states(path)
    assert before[-1][1] == TrialState.RUNNING   # its COMPLETE record was the one cut
    # The study takes new writes and stays readable: no record glued onto the cut one.
    study = optuna.load_study(study_name=STUDY, storage=storage(path))
    study.tell(study.ask(), 1.0)
    assert states(path) == [*before, (len(before), TrialState.COMPLETE)]
    assert check_journal(str(path)) is None


def test_the_operation_of_the_cut_record_is_named(tmp_path, journal_bytes):
    path = tmp_path / "j.journal"
    path.write_bytes(journal_bytes[:-40])   # inside the last trial's state change
    assert "its last record (set_trial_state_values, " in check_journal(str(path))


def test_a_record_damaged_before_the_end_is_refused_with_the_remedy(tmp_path, journal_bytes):
    """What Optuna alone makes of a cut journal: the next append glues onto the cut record."""
    path = tmp_path / "j.journal"
    path.write_bytes(journal_bytes[:-40])
    with pytest.raises(AssertionError, match="Should not reach"):   # Optuna, after its append
        optuna.create_study(storage=storage(path), study_name="another")
    with pytest.raises(JournalError) as err:
        check_journal(str(path))
    message = str(err.value)
    records = journal_bytes[:-40].count(b"\n")
    offset = journal_bytes[:-40].rfind(b"\n") + 1
    assert message.startswith(f"journal {path}: record {records + 1} of {records + 1} (from "
                              f"byte ") and "\n" not in message
    assert message.endswith(f"cp {path} {path}.bak && truncate -s "
                            f"{offset} {path}")
    remedy = message.split("; to keep the ")[1].split(": ", 1)[1]
    subprocess.run(remedy, shell=True, check=True)   # the remedy, as printed, works
    assert check_journal(str(path)) is None
    assert [s for _, s in states(path)] == [TrialState.COMPLETE] * 2 + [TrialState.RUNNING]


def test_a_running_trial_with_an_ok_row_is_told_complete(tmp_path, journal_bytes):
    path = tmp_path / "j.journal"
    path.write_bytes(journal_bytes[:-40])
    check_journal(str(path))
    study = optuna.load_study(study_name=STUDY, storage=storage(path))
    last = study.trials[-1]
    rows = {last.params["lambda_cycle"]: {"status": "ok", "val_score": 0.2}}
    assert finish_from_rows(study, lambda p: rows.get(p["lambda_cycle"], {}), "val_score") == [2]
    assert states(path)[-1] == (2, TrialState.COMPLETE) and study.best_value == 0.2
    assert finish_from_rows(study, lambda p: {}, "val_score") == []
