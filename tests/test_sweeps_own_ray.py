"""A sweep driver without --address / RAY_ADDRESS starts a Ray of its own, even while another
job's cluster runs on the machine (a bare `ray.init()` would join that one).

The "other job" is a `ray.cluster_utils.Cluster` in a helper process of its own session, with
RAY_TMPDIR pointing at a private folder: its address file (`<RAY_TMPDIR>/ray/ray_current_cluster`,
what a bare ray.init() reads) is seen only by the processes this test gives that RAY_TMPDIR, never
by another job's Ray. The helper shuts its cluster down when the test closes its stdin; its
process group, and the driver's, are killed at the end.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
HELPER = """
import json, sys
from ray.cluster_utils import Cluster
cluster = Cluster(initialize_head=True, head_node_args=dict(
    num_cpus=1, num_gpus=0, include_dashboard=False))
print(json.dumps({"address": cluster.address}), flush=True)
sys.stdin.read()          # until the test closes our stdin
cluster.shutdown()
"""
# the driver's own connect(), then the address of the Ray it is on (what the sweep would use)
DRIVER = """
import json, ray
from sweeps.tune.launch import connect
connect(None)
print(json.dumps({"joined": ray.get_runtime_context().gcs_address}), flush=True)
ray.shutdown()
"""
# what connect() did before: a bare ray.init() (the test's control: it does join)
BARE = """
import json, ray
ray.init(include_dashboard=False)
print(json.dumps({"joined": ray.get_runtime_context().gcs_address}), flush=True)
"""


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


@pytest.fixture
def other_cluster(cluster_helper):
    """(address, env) of a running one-node cluster whose address file is where a bare
    ray.init() run with `env` looks."""
    tmp = tempfile.mkdtemp(prefix="fp-")   # short: Ray's socket paths must stay < 108 chars
    env = {**os.environ, "RAY_TMPDIR": tmp, "PYTHONPATH": str(ROOT)}
    env.pop("RAY_ADDRESS", None)
    helper = cluster_helper(HELPER, env=env, remove=tmp)   # torn down by the fixture
    info = json.loads(helper.stdout.readline() or "{}")
    assert "address" in info, "the other job's cluster did not start"
    assert (Path(tmp) / "ray" / "ray_current_cluster").read_text().strip() == info["address"]
    return info["address"], env


def _run(code: str, env: dict) -> tuple[str, str]:
    """(the Ray address the code ended on, its whole stdout); its process group killed after."""
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, env=env, cwd=ROOT,
                            start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=180)
    finally:
        _kill_group(proc.pid)
    lines = [line for line in out.splitlines() if line.startswith('{"joined"')]
    assert proc.returncode == 0 and lines, out[-3000:]
    return json.loads(lines[-1])["joined"], out


@pytest.mark.slow
def test_driver_starts_its_own_ray_beside_a_running_cluster(other_cluster):
    address, env = other_cluster
    joined, _ = _run(BARE, env)
    assert joined == address            # the trap is real: a bare ray.init() joins it
    joined, out = _run(DRIVER, env)
    assert joined != address            # fewpair's driver did not
    said = [line for line in out.splitlines() if line.startswith("ray: ")]
    assert len(said) == 1 and "local Ray of this driver's own (" in said[0], out[-2000:]
    assert "--address" in said[0] and "RAY_ADDRESS" in said[0]


def test_tunes_restore_hint_becomes_the_drivers_resume_command():
    """Tune's warning after an interrupted fit(), as tune.py logs it, through the filter the
    drivers install: fewpair's command, not a Python call."""
    import logging
    from sweeps.tune.hints import TUNE_LOGGER, replace_ray_hints
    seen: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record):
            seen.append(record.getMessage())

    logger, keep = logging.getLogger(TUNE_LOGGER), Keep()
    level = logger.level   # a quiet driver run earlier in this process raised it to ERROR
    logger.setLevel(logging.WARNING)   # (--verbose: Tune's warnings reach the user)
    logger.addHandler(keep)
    hint = replace_ray_hints(["--grid", "demo", "--storage", "res"])
    try:
        logger.warning("Experiment has been interrupted, but the most recent state was saved.\n"
                       "Resume experiment with: %s", 'Tuner.restore(path="res/_ray/demo", '
                       'trainable=...)')
        logger.warning("Trials did not complete: %s", ["t1"])
    finally:
        logger.removeHandler(keep)
        logger.removeFilter(hint)
        logger.setLevel(level)
    assert seen[0].endswith(" --grid demo --storage res --resume") and "Tuner" not in seen[0]
    assert seen[0].startswith("interrupted; the finished trials' rows are kept. Resume: python ")
    assert seen[1] == "Trials did not complete: ['t1']"
