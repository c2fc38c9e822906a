"""What a person sees on stopping a sweep: the real driver (`sweeps/run_grid.py`,
`sweeps/tune_weights.py`) in a pseudo-terminal, starting its own local Ray as `make demo` does,
stopped mid-training by the key Ctrl-C (the terminal's SIGINT to the whole foreground process
group) or by SIGTERM to the driver. The whole console is asserted line by line: the plan and
progress lines, `stopping: ...`, the `--resume` command, and nothing else -- no traceback, no
Ray "Unhandled error" block for the stopped trial (it once printed two, 30 lines each); the
exit status is 128 + the signal (130 after Ctrl-C, 143 after SIGTERM)."""
from __future__ import annotations

import re
import shlex
import signal
from pathlib import Path

import pytest
from terminal import Many, Terminal, assert_lines

from sweeps.store import results

ROOT = Path(__file__).resolve().parent.parent
STEPS = 1000   # per trial: far more than the seconds until the key (32x32, 1 CPU each)
RAY_LINE = (r"ray: started a local Ray of this driver's own \(\d+ CPUs\); to join a running "
            r"cluster pass --address \(auto: the one on this machine\) or RAY_ADDRESS")
BARS = Many(r"[\w /-]+: +\d+%\|.*\| \d+/\d+ \[.*\]", least=0)   # the driver's tqdm bars
# (selection manifests and the features they need, as the terminal keeps their frames)
HOW = {"ctrl-c": (r"\^C", 130), "sigterm": ("", 143)}   # the key's echo, the exit status


def _stop(term: Terminal, how: str) -> None:
    if how == "ctrl-c":
        term.press_ctrl_c()
    else:
        term.proc.send_signal(signal.SIGTERM)


def _resume_line(script: str, argv: list[str]) -> str:
    return rf"  python {script} {re.escape(shlex.join(argv))} --resume"


@pytest.mark.slow
@pytest.mark.parametrize("how", HOW)
def test_stopping_run_grid_prints_the_stop_and_the_resume_command_and_nothing_else(
        small_streets, tmp_path, how):
    storage = str(tmp_path / "res")
    argv = ["--grid", "smoke", "--data-root", small_streets, "--storage", storage,
            "--gpus-per-trial", "0", "--max-concurrent", "1", "--set", f"steps={STEPS}",
            "--set", "report_every=10", "--set", "checkpoint_every=5000"]
    progress = (rf"sweep smoke: 0/3 trials done, 1 running, 0 failed · [\d,]+/3,000 steps "
                rf"\(\d+%\) · \w+( · ETA \w+)?")
    term = Terminal(ROOT / "sweeps" / "run_grid.py", argv)
    try:
        term.wait_for(progress, timeout=300)   # the first trial has reported a step
        _stop(term, how)
        code = term.finish(timeout=180)
    finally:
        term.close()
    echo, status = HOW[how]
    assert_lines(term.screen(), [
        rf"curves: tensorboard --logdir {re.escape(storage)}/_ray/smoke/tensorboard",
        BARS, RAY_LINE, BARS,
        r"\s+trial_key\s+mode\s+paired_budget\s+selection\s+state",
        Many(r"[0-9a-f]{16}\s+(hybrid|unpaired)\s+[01]\s+(random|kmedoids)\s+to run", least=3),
        rf"grid smoke: 3 of 3 trials to run; rows go to {re.escape(storage)}/smoke",
        Many(progress),
        rf"{echo}stopping: 1 running trial checkpoints first \(Ctrl-C again to exit now\)",
        Many(progress, least=0),
        r"interrupted: 0 of 3 trials of grid smoke have an ok row; the rest resume from their "
        r"checkpoints with:",
        _resume_line("sweeps/run_grid.py", argv)])
    assert code == status
    [row] = [results.read_row(f) for f in results.row_files(storage, "smoke")]
    assert row["status"] == "stopped" and "interrupted at step " in row["error"]   # it parked


@pytest.mark.slow
@pytest.mark.parametrize("how", HOW)
def test_stopping_tune_weights_prints_the_stop_and_the_resume_command_and_nothing_else(
        small_streets, tmp_path, how):
    """Two trials of the smoke grid's 4 steps, a validation pass on 32 holdout images each
    step (so a trial is still running when the key comes, most times: the lines allow one that
    has just finished)."""
    storage, journal = str(tmp_path / "res"), str(tmp_path / "optuna.journal")
    argv = ["--grid", "smoke", "--data-root", small_streets, "--trials", "2", "--eval-every",
            "1", "--eval-limit", "32", "--seed", "3", "--study", "pty", "--journal", journal,
            "--storage", storage, "--gpus-per-trial", "0", "--max-concurrent", "1"]
    progress = (r"sweep tune-pty: [0-2]/2 trials done, [01] running, 0 failed · \d/8 steps "
                r"\(\d+%\) · \w+( · ETA \w+)?")
    term = Terminal(ROOT / "sweeps" / "tune_weights.py", argv)
    try:
        term.wait_for(progress, timeout=300)
        _stop(term, how)
        code = term.finish(timeout=180)
    finally:
        term.close()
    echo, status = HOW[how]
    assert_lines(term.screen(), [
        rf"curves: tensorboard --logdir {re.escape(storage)}/_tune/_ray/tune-pty/tensorboard",
        BARS, RAY_LINE, BARS,
        Many(progress),
        rf"{echo}stopping: (1 running trial checkpoints|0 running trials checkpoint) first "
        r"\(Ctrl-C again to exit now\)",
        Many(progress, least=0),
        rf"interrupted: [0-2] of 2 trials of study pty have finished \(in {re.escape(journal)}\); "
        r"the rest resume from their checkpoints with:",
        _resume_line("sweeps/tune_weights.py", argv)])
    assert code == status
