"""`make gpu-check`'s script in its CPU smoke mode (32^2, a few steps) on a Python where Ray and
Optuna cannot be imported, as on a bare GPU machine: every stage runs, the GPU tests collect, and
it writes the rows to add to sweeps/plan/measured_rates.csv in that file's columns."""
from __future__ import annotations

import csv
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def missing(root: Path, *names: str) -> Path:
    """A folder that, first on PYTHONPATH, makes `import NAME` fail as if not installed."""
    for name in names:
        (root / name).mkdir(parents=True)
        (root / name / "__init__.py").write_text(
            f"raise ImportError('No module named {name!r} (a bare GPU machine)')\n")
    return root


@pytest.mark.slow
def test_gpu_check_smoke_runs_every_stage_without_ray_or_optuna(tmp_path):
    blocked = missing(tmp_path / "blocked", "ray", "optuna")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(blocked), str(ROOT)]),
           "FEWPAIR_CACHE": str(tmp_path / "cache"), "OMP_NUM_THREADS": "1"}
    out = tmp_path / "out"
    done = subprocess.run([sys.executable, "bench/gpu_check.py", "--smoke", "--out", str(out)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    collected = (out / "pytest-gpu.txt").read_text()
    assert "tests/test_pack.py::test_cuda_pack_captures_its_graphs" in collected
    assert "error" not in collected.lower()
    labels = [r["label"] for r in json.loads((out / "throughput.json").read_text())]
    assert labels == ["reference", "solo (old)", "K=1", "K=2"]
    trials = json.loads((out / "trials.json").read_text())
    assert [(t["what"], t["k"], t["graphs"], t["failures"]) for t in trials] == [
        ("trial alone", 1, False, []), ("pack of 2", 2, False, [])]   # (graphs: CUDA only)
    with open(out / "measured_rates_rows.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    with open(ROOT / "sweeps" / "plan" / "measured_rates.csv") as f:
        header = next(line for line in f if not line.startswith("#")).strip().split(",")
    assert list(rows[0]) == header
    assert [(r["pack"], float(r["trial_steps_per_s"]) > 0) for r in rows] == [
        ("1", True), ("2", True), ("1", True), ("2", True)]
    summary = (out / "summary.md").read_text()
    assert "milestone" not in summary   # (a GPU figure only)
    assert summary.endswith("CUDA graphs: not measured (no GPU); the default stays eager\n")


def _trial(what: str, graphs: bool, rate: float, graphed: bool = True) -> dict:
    return {"what": what, "graphs": graphs, "trial_steps_per_s": rate,
            "graphed": graphs and graphed, "failures": [], "warnings": []}


@pytest.mark.parametrize("rates, graphed, verdict", [
    ((20, 30, 40, 90), True, "CUDA graphs: trial alone 1.50x eager, pack of 8 2.25x eager, "
                             "self-checks passed: make cuda_graphs the default"),
    ((20, 30, 40, 38), True, "CUDA graphs: trial alone 1.50x eager, pack of 8 0.95x eager; not "
                             "faster everywhere: keep the default eager"),
    ((20, 30, 40, 90), False, "CUDA graphs: trial alone 1.50x eager, pack of 8 2.25x eager; fell "
                              "back or failed (see trials.json): keep the default eager"),
])
def test_the_check_says_whether_cuda_graphs_should_be_the_default(rates, graphed, verdict):
    spec = importlib.util.spec_from_file_location("gpu_check", ROOT / "bench" / "gpu_check.py")
    gpu_check = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gpu_check)
    alone, alone_g, pack, pack_g = rates
    trials = [_trial("trial alone", False, alone), _trial("pack of 8", False, pack),
              _trial("trial alone", True, alone_g, graphed), _trial("pack of 8", True, pack_g)]
    assert gpu_check.graphs_verdict(trials) == verdict


def test_gpu_check_refuses_to_run_without_a_gpu_in_one_line(tmp_path):
    import torch
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    done = subprocess.run([sys.executable, "bench/gpu_check.py", "--out", str(tmp_path)],
                          cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 2 and not list(tmp_path.iterdir())
    assert done.stderr == ("error: gpu-check needs a CUDA GPU (none here); --smoke runs on "
                           "the CPU\n")
