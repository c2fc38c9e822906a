"""Shared pieces of the sweep-driver tests: a driver (sweeps/run_grid.py, sweeps/tune_weights.py)
run as a real script in a process session of its own, its output in a log file, and a real
Ctrl-C (SIGINT) to it."""
from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from pathlib import Path


@contextlib.contextmanager
def started(script: Path, argv: list[str], log: Path):
    """The driver's Popen; on the way out, if it still runs, its process group SIGKILLed."""
    driver = subprocess.Popen([sys.executable, str(script), *argv], stdout=log.open("w"),
                              stderr=subprocess.STDOUT, start_new_session=True)
    try:
        yield driver
    finally:
        if driver.poll() is None:
            kill(driver)


def kill(driver: subprocess.Popen) -> None:
    """SIGKILL to the driver's process group: no cleanup code of its own runs."""
    os.killpg(driver.pid, signal.SIGKILL)
    driver.wait(timeout=30)


def ctrl_c(driver: subprocess.Popen, log: Path, timeout: float) -> str:
    """A real SIGINT to the driver, which must exit 130 within `timeout` s without a traceback;
    returns its output."""
    driver.send_signal(signal.SIGINT)
    assert driver.wait(timeout=timeout) == 130, log.read_text()[-3000:]
    text = log.read_text()
    assert "Traceback" not in text, text[-3000:]
    return text
