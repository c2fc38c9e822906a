"""Clusters as users start them by hand (`ray start --head`, token authentication on), joined
by the real driver CLI: the one-line errors for a missing, refused or absent token and an
unreachable head, a sweep that runs once the token is set, and a GPU node whose torch sees no
CUDA device (a node started with `--num-gpus 1` on this CPU-only machine) stopped before any
trial, with the same check failing a trial's row at once inside the trial."""
from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from sweeps.plan.grids import TINY_SIZES
from tests.ray_heads import free_port, start_head

ROOT = Path(__file__).resolve().parents[1]
# real Ray heads started by hand, minutes of driver start-up: make test-cluster, not make test
pytestmark = pytest.mark.cluster
ONE_TRIAL = {"name": "join", "dataset": "toy-streets",   # one unpaired trial of 2 steps
             "base": {**TINY_SIZES, "unpaired": 8, "steps": 2, "eval_limit": 2,
                      "report_every": 2, "checkpoint_every": 2, "image_pool": 4},
             "arms": [{"label": "unpaired", "fixed": {"mode": "unpaired", "paired_budget": 0},
                       "axes": {"seed": [0]}}]}


@pytest.fixture(scope="module")
def gpu_head(tmp_path_factory):
    """A token-authenticated head of 1 CPU that declares 1 GPU torch cannot see."""
    head = start_head(tmp_path_factory.mktemp("head"), "--num-cpus=1", "--num-gpus=1")
    yield head
    head.stop()


def drivers(*runs: tuple[dict, tuple[str, ...]], timeout: int = 600) -> list:
    """Run the driver CLI once per (env, args), all at once (each mostly waits on imports and
    Ray); their CompletedProcess-like results in order."""
    procs = [subprocess.Popen([sys.executable, "sweeps/run_grid.py", *args], cwd=ROOT, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for env, args in runs]
    done = []
    for proc in procs:
        out, err = proc.communicate(timeout=timeout)
        done.append(subprocess.CompletedProcess(proc.args, proc.returncode, out, err))
    return done


def one_error(run: subprocess.CompletedProcess) -> str:
    """The run's single `error:` line (exit 2, no traceback, none of Ray's retry lines)."""
    everything = run.stdout + run.stderr
    assert run.returncode == 2, everything
    assert "Traceback" not in everything and "gcs_client.cc" not in everything, everything
    errors = [line for line in run.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, everything
    return errors[0]


def join_args(tmp_path: Path, address: str, results: str = "results") -> tuple[str, ...]:
    """The one-trial grid on `address`, its rows in tmp_path/`results` (one per driver: the
    grid's lease lets one driver run it at a time)."""
    grid = tmp_path / "join.yaml"
    grid.write_text(yaml.safe_dump(ONE_TRIAL))
    return ("--grid-file", str(grid), "--storage", str(tmp_path / results),
            "--address", address, "--gpus-per-trial", "0")


def test_joining_a_token_cluster_without_its_token_says_what_to_set(gpu_head, tmp_path):
    closed = f"127.0.0.1:{free_port()}"
    missing, wrong, elsewhere, nobody = drivers(
        (gpu_head.env(token=False), join_args(tmp_path, gpu_head.address, "a")),
        (gpu_head.env(token=True, RAY_AUTH_TOKEN="not-the-head-token"),
         join_args(tmp_path, gpu_head.address, "b")),
        (gpu_head.env(token=True, HOME=str(tmp_path)),   # a machine without the token
         join_args(tmp_path, gpu_head.address, "c")),
        (gpu_head.env(token=True), join_args(tmp_path, closed, "d")))
    line = one_error(missing)
    assert line.startswith(f"error: the Ray cluster at {gpu_head.address} asks for a token")
    assert "export RAY_AUTH_MODE=token" in line and "~/.ray/auth_token" in line
    assert "RAY_AUTH_TOKEN" in line
    assert one_error(wrong).startswith(
        f"error: the Ray cluster at {gpu_head.address} refused this shell's token")
    assert one_error(elsewhere).startswith(
        f"error: RAY_AUTH_MODE=token but no Ray token was found to send to the cluster at "
        f"{gpu_head.address}")
    assert one_error(nobody) == (
        f"error: cannot reach the Ray cluster at {closed} (Connection refused): is the head "
        f"running there, and is that its GCS port (`ray start --head --port`, default 6379)?")
    for results in "abcd":   # nothing written by a failed join
        assert not (tmp_path / results / "join").exists()


@pytest.mark.slow
def test_a_token_cluster_joined_with_its_token_runs_the_sweep(gpu_head, tmp_path):
    ran, = drivers((gpu_head.env(token=True), join_args(tmp_path, gpu_head.address)))
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert f"ray: joining the cluster at {gpu_head.address}" in ran.stdout
    rows = pd.read_parquet(tmp_path / "results" / "join")
    assert list(rows["status"]) == ["ok"] and rows["steps_done"].tolist() == [2]


def test_a_gpu_node_without_cuda_is_named_before_any_trial(gpu_head, tmp_path):
    def args(pack: str) -> tuple[str, ...]:   # 1: the trials' own check; auto: the probe's
        return ("--grid", "smoke", "--pack", pack, "--storage", str(tmp_path / pack),
                "--address", gpu_head.address, "--gpus-per-trial", "0.25")
    for pack, run in zip(("1", "auto"), drivers((gpu_head.env(token=True), args("1")),
                                                (gpu_head.env(token=True), args("auto")))):
        assert re.fullmatch(
            r"error: GPU node [\d.]+ \(Ray node [0-9a-f]{8}\): granted 1 GPU but torch sees 0 "
            r"CUDA device\(s\) \(torch.cuda.is_available\(\) is False; torch \S+ built with "
            r".+; CUDA_VISIBLE_DEVICES=0\): give that node a working CUDA .+--num-gpus 0",
            one_error(run))
        assert not (tmp_path / pack / "smoke").exists()


IN_TRIAL = """
import json, os, sys, ray
from sweeps.store import results
from sweeps.tune.trainable import Sweep, _train_and_record
from sweeps.plan.grids import expand, get_grid

def trial(root):
    cfg = expand(get_grid("smoke"))[0]
    calls = []
    sweep = Sweep("smoke", root, "test", force=False)
    outcome = _train_and_record(cfg, sweep.rows(), root, lambda *a, **k: calls.append(1))
    return outcome, len(calls), results.row_path(root, "smoke", cfg)

ray.init(address=sys.argv[1], log_to_driver=False)
print(json.dumps(ray.get(ray.remote(trial).options(num_gpus=1, max_retries=0)
                         .remote(sys.argv[2]))))
"""


def test_a_trial_granted_a_gpu_torch_cannot_see_fails_its_row_for_good(gpu_head, tmp_path):
    run = subprocess.run([sys.executable, "-c", IN_TRIAL, gpu_head.address, str(tmp_path)],
                         cwd=ROOT, env=gpu_head.env(token=True), capture_output=True, text=True,
                         timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    outcome, calls, path = json.loads(run.stdout.strip().splitlines()[-1])
    assert outcome is None and calls == 0   # failed for good (not raised: no retry), untrained
    row = pd.read_parquet(path).iloc[0]
    assert row["status"] == "failed"
    assert re.match(r"DeviceError: GPU node [\d.]+ \(Ray node [0-9a-f]{8}\): granted 1 GPU but "
                    r"torch sees 0 CUDA device\(s\)", row["error"]), row["error"]
