"""GracefulStop's order on the driver's Ctrl-C, in the order Tune calls it: the running trial
gets a real DRIVER_STOP signal, reports its signal checkpoint, and Tune's own interrupt (SIGUSR1)
comes only once Tune has registered that checkpoint (`on_trial_save`), not when the result is
seen: an interrupt in between saved the experiment without it, and `--resume` retrained from
step 0."""
from __future__ import annotations

import signal
import socket
import subprocess
import sys
import types

import pytest

from sweeps.tune import driver_stop, trial_stop
from trainer.run import interrupt


@pytest.fixture
def driver(monkeypatch):
    """A stop request, fresh module state, and the SIGUSR1s the stopper sends to this process."""
    for name, fresh in (("_announced", []), ("_interrupted", []), ("_saved", set())):
        monkeypatch.setattr(driver_stop, name, fresh)
    monkeypatch.setattr(interrupt, "_requested", [signal.SIGINT])
    sent: list[int] = []
    previous = signal.signal(signal.SIGUSR1, lambda signum, frame: sent.append(signum))
    worker = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    yield worker, sent
    signal.signal(signal.SIGUSR1, previous)
    worker.kill()
    worker.wait()


def test_tune_is_interrupted_only_after_the_signal_checkpoint_is_registered(driver, capsys):
    worker, sent = driver
    stop, saved = driver_stop.GracefulStop(), driver_stop.SignalCheckpointSaved()
    here = {"hostname": socket.gethostname(), "pid": worker.pid}
    assert stop("t1", {**here, "step": 25}) is False
    assert stop.stop_all() is False
    assert worker.wait(timeout=10) == -trial_stop.DRIVER_STOP   # asked to checkpoint and park
    assert capsys.readouterr().out == ("stopping: 1 running trial checkpoints first (Ctrl-C "
                                       "again to exit now)\n")

    assert stop("t1", {**here, "step": 30, "interrupted": 1}) is False   # reported, not saved
    stop.stop_all()
    assert sent == []
    trial = types.SimpleNamespace(trial_id="t1", last_result={"step": 30, "interrupted": 1})
    saved.on_trial_save(iteration=7, trials=[trial], trial=trial)   # Tune's save came back
    stop.stop_all()
    assert sent == [signal.SIGUSR1]
    stop.stop_all()
    assert sent == [signal.SIGUSR1]   # once


def test_a_periodic_save_does_not_count_and_a_silent_trial_is_waited_for_at_most_wait_s(
        driver, monkeypatch):
    worker, sent = driver
    stop, saved = driver_stop.GracefulStop(), driver_stop.SignalCheckpointSaved()
    stop("t1", {"hostname": socket.gethostname(), "pid": worker.pid, "step": 25})
    stop.stop_all()
    periodic = types.SimpleNamespace(trial_id="t1", last_result={"step": 25})
    saved.on_trial_save(iteration=3, trials=[periodic], trial=periodic)
    stop.stop_all()
    assert sent == []
    stop.signalled["t1"] -= driver_stop.WAIT_S + 1   # as if it got SIGTERM WAIT_S ago
    stop.stop_all()
    assert sent == [signal.SIGUSR1]


def test_each_fit_starts_with_a_fresh_stop_state(driver):
    driver_stop._announced.append(True)
    driver_stop._interrupted.append(True)
    driver_stop._saved.add("t0")
    seen = driver_stop.fit_stoppably(lambda: (list(driver_stop._announced),
                                              list(driver_stop._interrupted),
                                              set(driver_stop._saved)))
    assert seen == (([], [], set()), signal.SIGINT)   # the fixture's stop request was pending
    assert not interrupt.stop_requested()     # and is cleared once the fit returns
