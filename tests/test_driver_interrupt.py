"""Ctrl-C of a sweep's driver, a real SIGINT to a real `sweeps/run_grid.py` joined to the
session's Ray: the trial then training checkpoints first (its row says `stopped` at that step),
the driver releases its lease, says what finished and the exact `--resume` command, exits 130;
that command trains only what has no ok row, and the finished trial's row is not rewritten."""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

import drivers
import pytest

from sweeps.tune import grid_sweep
from sweeps.store import results
from sweeps.store.lease import lease_path

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "sweeps" / "run_grid.py"
# Each trial reports every 25 steps (one report is a round trip to the driver's Tune loop, ~0.1 s
# on the loaded 2-core machine: every 2 steps it cost more than the training); the second trial's
# first report (step 25) lets the test interrupt it, and the SIGINT lands well before step 200.
STEPS = 200


def _results(storage: Path) -> dict[str, list[dict]]:
    """Tune trial folder -> the results it reported, in order (result.json, every attempt)."""
    return {found.parent.name: [json.loads(line) for line in found.read_text().splitlines()
                                if line.strip()]
            for found in (storage / "_ray" / "smoke").glob("*/result.json")}


def _training(storage: Path, done: set[str]) -> bool:
    """Whether a trial without a row has reported a step to Tune."""
    return any(folder.split("_")[0] not in done and any(r.get("timesteps_total", 0) > 0
                                                          for r in reported)
               for folder, reported in _results(storage).items())


@pytest.mark.slow
def test_ctrl_c_checkpoints_releases_the_lease_and_names_the_resume_command(
        ray_session, small_streets, tmp_path, capsys):
    storage = tmp_path / "res"
    argv = ["--grid", "smoke", "--data-root", small_streets, "--storage", str(storage),
            "--gpus-per-trial", "0", "--max-concurrent", "1", "--set", f"steps={STEPS}",
            "--set", "report_every=25", "--set", "checkpoint_every=1000",
            "--address", ray_session.get_runtime_context().gcs_address]
    log = tmp_path / "driver.log"
    with drivers.started(SCRIPT, argv, log) as driver:
        deadline = time.monotonic() + 400
        while time.monotonic() < deadline and driver.poll() is None:
            ok = {Path(f).stem for f in results.row_files(str(storage), "smoke")
                  if results.row_status(f) == "ok"}
            if ok and _training(storage, ok):
                break
            time.sleep(0.5)
        else:
            raise AssertionError(f"no second trial training: {log.read_text()[-3000:]}")
        kept = {f: os.stat(f).st_mtime_ns for f in results.row_files(str(storage), "smoke")}
        text = drivers.ctrl_c(driver, log, timeout=180)
    assert f"interrupted: {len(kept)} of 3 trials of grid smoke have an ok row; the rest resume " \
           f"from their checkpoints with:\n  python sweeps/run_grid.py " in text
    resume = text.split("python sweeps/run_grid.py ", 1)[1].splitlines()[0]
    assert resume.endswith(" --resume") and not Path(lease_path(str(storage), "smoke")).exists()
    stopped = [results.read_row(f) for f in results.row_files(str(storage), "smoke")
               if results.row_status(f) == "stopped"]
    assert len(stopped) == 1 and "interrupted at step " in stopped[0]["error"]
    step = int(stopped[0]["error"].split("interrupted at step ")[1].split(";")[0])
    assert 0 < step < STEPS

    assert grid_sweep.main(resume.split()) == 0   # the printed command, on the session's Ray
    rows = results.read_rows(str(storage), "smoke")
    assert len(rows) == 3 and (rows["status"] == "ok").all()
    assert (rows["steps_done"] == STEPS).all()
    assert {f: os.stat(f).st_mtime_ns for f in kept} == kept   # finished trials not retrained
    resumed = _after_interrupt(storage, stopped[0]["trial_key"])
    assert resumed and resumed[0] > step, (step, resumed)   # from its checkpoint, not step 0


def _after_interrupt(storage: Path, key: str) -> list[int]:
    """The steps trial `key` reported to Tune after its `interrupted` report (the resumed run)."""
    [reported] = [r for folder, r in _results(storage).items() if folder.startswith(key)]
    marks = [i for i, r in enumerate(reported) if r.get("interrupted")]
    assert marks, [r.get("timesteps_total") for r in reported]   # it checkpointed on the signal
    return [r["timesteps_total"] for r in reported[marks[-1] + 1:]
            if "timesteps_total" in r and "row_written" not in r]
