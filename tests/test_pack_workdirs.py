"""A packed sweep SIGKILLed mid-pack leaves its pack's temporary workdir behind (no cleanup code
runs); the rerun's first trial or pack removes it, as it removes a killed trial's: one workdir
naming and one cleanup (sweeps.store.workdirs) for both.

The driver runs as a user runs it (sweeps/run_grid.py, a Ray of its own) with a private TMPDIR
(and RAY_TMPDIR: Ray's own files go there too), so that the workdirs counted are this test's
only. The kill ends the driver's process group; every other process that driver started (Ray's
GCS, raylet, workers: they carry the private TMPDIR in their environment) is then ended by PID.
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from sweeps.store import results

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "sweeps" / "run_grid.py"


def _started_with(tmp: Path) -> list[int]:
    """PIDs of this user's processes whose environment holds TMPDIR=`tmp`."""
    marker = f"TMPDIR={tmp}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if marker in (entry / "environ").read_bytes().split(b"\0"):
                found.append(int(entry.name))
        except OSError:   # gone, or another user's
            continue
    return found


def _end(tmp: Path) -> None:
    for pid in _started_with(tmp):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def _wait(condition, driver: subprocess.Popen, timeout: float, what: str, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and driver.poll() is None:
        if condition():
            return
        time.sleep(0.2)
    raise AssertionError(f"no {what} within {timeout:.0f}s (rc={driver.poll()}): "
                         f"{log.read_text()[-2000:]}")


@pytest.mark.slow
def test_a_killed_packs_workdir_is_removed_by_the_rerun(small_streets, tmp_path):
    tmp = Path(tempfile.mkdtemp(prefix="fp-"))   # short: Ray's socket paths stay < 108 chars
    env = {**os.environ, "TMPDIR": str(tmp), "RAY_TMPDIR": str(tmp), "PYTHONPATH": str(ROOT)}
    env.pop("RAY_ADDRESS", None)
    storage = tmp_path / "res"
    argv = [str(SCRIPT), "--grid", "smoke", "--data-root", small_streets, "--storage",
            str(storage), "--gpus-per-trial", "0", "--pack", "2", "--max-concurrent", "1",
            "--set", "steps=60", "--set", "checkpoint_every=10", "--set", "report_every=5"]
    packs = lambda: list(tmp.glob("fewpair-pack-*"))   # noqa: E731
    log = tmp_path / "driver.log"
    started: list[subprocess.Popen] = []
    try:
        driver = subprocess.Popen([sys.executable, *argv], env=env, stdout=log.open("w"),
                                  stderr=subprocess.STDOUT, start_new_session=True)
        started.append(driver)
        _wait(lambda: list(tmp.glob("fewpair-pack-*/members/*/checkpoint")), driver, 300,
              "pack checkpoint", log)
        os.killpg(driver.pid, signal.SIGKILL)   # no cleanup code of its own runs
        driver.wait(timeout=30)
        _end(tmp)
        time.sleep(1)
        orphans = packs()
        assert orphans, "the kill left no pack workdir: nothing to clean"

        log = tmp_path / "rerun.log"
        rerun = subprocess.Popen([sys.executable, *argv, "--resume"], env=env,
                                 stdout=log.open("w"), stderr=subprocess.STDOUT,
                                 start_new_session=True)
        started.append(rerun)
        assert rerun.wait(timeout=420) == 0, log.read_text()[-3000:]
    finally:
        for proc in started:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
        _end(tmp)
    rows = results.read_rows(str(storage), "smoke")
    assert len(rows) == 3 and (rows["status"] == "ok").all()
    assert set(rows["pack_size"]) <= {1, 2} and rows["pack_id"].notna().any()
    assert not [p for p in orphans if p.exists()]
    assert not list(tmp.glob("fewpair-*")), sorted(p.name for p in tmp.iterdir())
    shutil.rmtree(tmp, ignore_errors=True)


def test_a_member_that_fails_the_trials_check_gets_its_failed_row_and_the_rest_train(tmp_path):
    """run_pack checks every member with check_trial before training, as run_trial does."""
    from sweeps.tune.pack_trial import _checked
    from sweeps.tune.trainable import Sweep
    from trainer.core.config import TrialConfig
    good, bad = TrialConfig(seed=0), TrialConfig(seed=1, eval_split="tset")
    rows = Sweep("g", str(tmp_path), "t", force=False).rows(pack_id="pack-01", pack_size=2)
    assert _checked([good, bad], rows) == [good]
    row = results.read_row(rows.path(bad), ("status", "error", "pack_id"))
    assert row["status"] == "failed" and row["pack_id"] == "pack-01"
    assert row["error"].startswith("ConfigError: eval_split='tset' is not one of train, val, ")
    assert results.read_row(rows.path(good)) == {}
