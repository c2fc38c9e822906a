"""The README's interrupt-and-resume recipe, literally: `python -m trainer.train ... --steps N`
with the default checkpoint_every, Ctrl-C (SIGINT) once it has saved, the same command again:
it resumes from the checkpoint and ends exactly where an uninterrupted run ends."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from trainer.run.schedule import checkpoint_interval

ROOT = Path(__file__).resolve().parent.parent
STEPS = 60   # default checkpoint_every 500 -> a checkpoint at step 30 (half the trial)


@pytest.mark.parametrize("every, total, expected", [
    (500, 300, 150), (500, 2000, 500), (500, 1, 1), (7, 300, 7), (0, 300, 0)])
def test_checkpoints_come_at_least_every_half_trial(every, total, expected):
    assert checkpoint_interval(every, total) == expected


def _command(data: str, workdir: Path) -> list[str]:
    return [sys.executable, "-m", "trainer.train", "--dataset", "toy-streets", "--data-root",
            data, "--mode", "hybrid", "--paired-budget", "1", "--unpaired", "16", "--seed", "0",
            "--steps", str(STEPS), "--image-size", "32", "--ngf", "8", "--ndf", "8",
            "--n-blocks", "2", "--eval-limit", "4", "--workdir", str(workdir), "--json"]


def _env() -> dict:
    # one thread in every run: the same threads, so the same arithmetic (a resumed run repeats
    # an uninterrupted one bit for bit on one machine with one thread count)
    return {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}


def _start(data: str, workdir: Path) -> subprocess.Popen:
    return subprocess.Popen(_command(data, workdir), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=_env(), cwd=ROOT,
                            start_new_session=True)


def _finish(run: subprocess.Popen) -> tuple[dict, str]:
    """The run's JSON line and its progress bar (stderr), once it has ended."""
    out, err = run.communicate(timeout=300)
    assert run.returncode == 0, err[-3000:]
    return json.loads(out.strip().splitlines()[-1]), err


def _end(*runs: subprocess.Popen) -> None:
    for run in runs:
        if run.poll() is None:
            os.killpg(run.pid, signal.SIGKILL)
            run.wait()


@pytest.mark.slow
def test_readme_interrupt_and_resume_recipe_resumes(small_streets, tmp_path):
    state = tmp_path / "one" / "checkpoint" / "state.pt"
    # the uninterrupted run trains beside the interrupted one: its own process and workdir, one
    # thread each (the same arithmetic), so on two cores it costs no wall time of its own
    straight = _start(small_streets, tmp_path / "alone")
    run = again = _start(small_streets, tmp_path / "one")
    try:
        deadline = time.monotonic() + 240
        while not state.exists() and run.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        run.send_signal(signal.SIGINT)   # Ctrl-C
        run.communicate(timeout=60)
        assert run.returncode != 0, "the run ended before it could be interrupted"
        saved = torch.load(state, weights_only=True)["step"]
        assert STEPS // 2 <= saved < STEPS   # the half-trial checkpoint, or the one Ctrl-C wrote

        again = _start(small_streets, tmp_path / "one")   # the same command
        resumed, bar = _finish(again)
        assert f" {saved}/{STEPS} " in bar and f" 0/{STEPS} " not in bar   # it started at the save
        alone, _ = _finish(straight)
    finally:
        _end(run, again, straight)
    assert resumed["steps_done"] == alone["steps_done"] == STEPS
    for name in ("pixel_acc", "mean_class_acc", "mean_iou"):
        assert resumed[name] == alone[name], name   # exact: resume repeats the run bit for bit
