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
HOW = {"ctrl-c": 130, "sigterm": 143}   # the exit status


def _stopped(script: str, argv: list[str], progress: str, how: str) -> tuple[list[str], int]:
    """(the screen, the exit status) of `python script argv` stopped by `how` once a line
    matching `progress` says a trial has reported a step. The terminal echoes the key as `^C`
    wherever its cursor is: once, and taken out of the screen."""
    term = Terminal(ROOT / script, argv)
    try:
        term.wait_for(progress, timeout=300)
        if how == "ctrl-c":
            term.press_ctrl_c()
        else:
            term.proc.send_signal(signal.SIGTERM)
        code = term.finish(timeout=180)
    finally:
        term.close()
    screen = term.screen()
    assert sum(line.count("^C") for line in screen) == (how == "ctrl-c"), screen
    return [line.replace("^C", "") for line in screen if line != "^C"], code


def _progress(grid: str, done: str, running: str, total: str) -> str:
    """SweepProgress's line (regex), e.g. `sweep smoke: 0/3 trials done, 1 running, 0 failed ·
    10/3,000 steps (0%) · 34s · ETA 2h49m`."""
    return (rf"sweep {grid}: {done} trials done, {running} running, 0 failed · [\d,]+/{total} "
            rf"steps \(\d+%\) · \w+( · ETA \w+)?")


def _opening(experiment: str) -> list:
    """The lines up to the plan: the TensorBoard hint, the local Ray, the manifests' bars."""
    return [rf"curves: tensorboard --logdir {re.escape(experiment)}/tensorboard",
            BARS, RAY_LINE, BARS]


def _stop(progress: str, running: str, counted: str, script: str, argv: list[str]) -> list:
    """The lines from training on: progress, the stop, what finished, the command that
    resumes."""
    return [Many(progress),
            rf"stopping: {running} first \(Ctrl-C again to exit now\)",
            Many(progress, least=0),
            rf"interrupted: {counted}; the rest resume from their checkpoints with:",
            rf"  python {script} {re.escape(shlex.join(argv))} --resume"]


@pytest.mark.slow
@pytest.mark.parametrize("how, pack", [("ctrl-c", 3), ("sigterm", 1)],
                         ids=["ctrl-c-packed", "sigterm-alone"])
def test_stopping_run_grid_prints_the_stop_and_the_resume_command_and_nothing_else(
        small_streets, tmp_path, how, pack):
    """The smoke grid's 3 trials one at a time, or in one pack (as `make demo` packs its
    trials); either way one Tune trial runs when the key comes."""
    storage = str(tmp_path / "res")
    argv = ["--grid", "smoke", "--data-root", small_streets, "--storage", storage,
            "--gpus-per-trial", "0", "--max-concurrent", "1", "--pack", str(pack), "--set",
            f"steps={STEPS}", "--set", "report_every=10", "--set", "checkpoint_every=5000"]
    progress = _progress("smoke", "0/3", str(pack), "3,000")
    # the plan's pack column and its line's note
    packed = (r"\s+pack", r"\s+pack-[0-9a-f]+", r", in packs \(.+\)") if pack > 1 else ("",) * 3
    screen, code = _stopped("sweeps/run_grid.py", argv, progress, how)
    assert_lines(screen, [
        *_opening(f"{storage}/_ray/smoke"),
        r"\s+trial_key\s+mode\s+paired_budget\s+selection\s+state" + packed[0],
        Many(r"[0-9a-f]{16}\s+(hybrid|unpaired)\s+[01]\s+(random|kmedoids)\s+to run"
             + packed[1], least=3),
        rf"grid smoke: 3 of 3 trials to run{packed[2]}; rows go to {re.escape(storage)}/smoke",
        *_stop(progress, "1 running trial checkpoints",
               "0 of 3 trials of grid smoke have an ok row", "sweeps/run_grid.py", argv)])
    assert code == HOW[how]
    rows = [results.read_row(f) for f in results.row_files(storage, "smoke")]
    assert len(rows) == pack and all(row["status"] == "stopped" and "interrupted at step "
                                     in row["error"] for row in rows)   # then parked


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
    progress = _progress("tune-pty", "[0-2]/2", "[01]", "8")
    screen, code = _stopped("sweeps/tune_weights.py", argv, progress, how)
    assert_lines(screen, [
        *_opening(f"{storage}/_tune/_ray/tune-pty"),
        *_stop(progress, "(1 running trial checkpoints|0 running trials checkpoint)",
               rf"[0-2] of 2 trials of study pty have finished \(in {re.escape(journal)}\)",
               "sweeps/tune_weights.py", argv)])
    assert code == HOW[how]
