"""Ctrl-C and SIGTERM with real signals to a real `python -m trainer.train`: it finishes its step,
checkpoints, prints one line and exits 130 / 143 without a traceback, and the same command
resumes from that step (the bar of the rerun starts there); a second Ctrl-C exits at once.
(The loop stops at its next step: the bar moves every 25 steps, so the signals land near 25
and 50.)"""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time

import pytest
import torch

from trainer.run.interrupt import Interrupted

TINY = dict(dataset="toy-streets", image_size=32, load_size=36, ngf=8, ndf=8, n_blocks=2,
            unpaired=20, paired_budget=5, eval_limit=4, device="cpu", steps=60,
            checkpoint_every=1000)
LINE = "interrupted at step {}; checkpoint saved; rerun the same command to resume"
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


def start(workdir) -> subprocess.Popen:
    argv = [f"--{k.replace('_', '-')}={v}" for k, v in TINY.items()]
    return subprocess.Popen([sys.executable, "-m", "trainer.train", *argv, "--workdir",
                             str(workdir), "--json"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=ENV)


def progress_then(proc: subprocess.Popen, signum: int, past: int) -> tuple[int, str]:
    """Read tqdm's bar until it shows more than `past` steps, send `signum`; (rc, stderr)."""
    seen, deadline = "", time.monotonic() + 180
    while time.monotonic() < deadline:
        seen += os.read(proc.stderr.fileno(), 4096).decode()
        steps = [int(n) for n in re.findall(r"(\d+)/60", seen)]
        if steps and max(steps) > past:
            proc.send_signal(signum)
            break
    else:
        proc.kill()
        raise AssertionError(f"no progress past step {past}: {seen[-500:]}")
    out, err = proc.communicate(timeout=120)
    return proc.returncode, seen + err.decode()


def saved_step(workdir) -> int:
    return torch.load(workdir / "checkpoint" / "state.pt", weights_only=True)["step"]


@pytest.mark.slow
def test_sigint_then_sigterm_checkpoint_and_the_same_command_resumes(tmp_path):
    workdir = tmp_path / "w"
    rc, err = progress_then(start(workdir), signal.SIGINT, past=0)
    first = saved_step(workdir)
    assert rc == 130 and 0 < first < 60, err[-2000:]
    assert err.rstrip().endswith("\n" + LINE.format(first)) and "Traceback" not in err

    rc, err = progress_then(start(workdir), signal.SIGTERM, past=first)
    second = saved_step(workdir)
    assert f"{first}/60" in err                      # the rerun's bar starts at the checkpoint
    assert rc == 143 and first < second < 60, err[-2000:]
    assert err.rstrip().endswith("\n" + LINE.format(second)) and "Traceback" not in err


def test_a_second_ctrl_c_exits_at_once():
    """The first SIGINT only asks; the second, while the loop has not stopped, ends the process."""
    code = ("import time\nfrom trainer.run.interrupt import interruptible\n"
            "with interruptible():\n    print('ready', flush=True)\n    time.sleep(60)\n")
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    assert proc.stdout.readline() == "ready\n"
    proc.send_signal(signal.SIGINT)
    time.sleep(0.3)
    assert proc.poll() is None                       # a request, not an exit
    started = time.monotonic()
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=10)
    assert proc.returncode == 130 and time.monotonic() - started < 5
    assert err == "\nsecond Ctrl-C: exiting now, without a checkpoint\n"


def test_the_exit_status_is_the_shells_for_the_signal():
    assert (Interrupted(3, signal.SIGINT).exit_code, Interrupted(3, signal.SIGTERM).exit_code) \
        == (130, 143)
    assert str(Interrupted(7, signal.SIGINT)) == LINE.format(7)
