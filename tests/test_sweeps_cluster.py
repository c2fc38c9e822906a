"""A two-node Ray cluster on one machine (`ray.cluster_utils.Cluster`: a head that offers no CPU,
as in cluster.yaml, and a worker with 2) runs the smoke grid through `sweeps/run_grid.py` as a
script; its driver is SIGKILLed mid-sweep and `--resume` finishes only the rest.

Cleanup: the cluster lives in a helper process of its own session; it shuts the cluster down
when the test closes its stdin, and its reaper kills the nodes' processes if the helper dies.
The killed driver joined that cluster (it started no Ray process of its own): its process group
is killed, and Ray ends the dead job's trial actors. Anything left in the helper's process
group is killed at the end.
"""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from sweeps.plan import grids
from sweeps.store import results

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "sweeps" / "run_grid.py"
SMOKE_KEYS = sorted(c.key() for c in grids.expand(grids.get_grid("smoke")))
HELPER = """
import json, sys
from ray.cluster_utils import Cluster
temp_dir = sys.argv[1]
cluster = Cluster(initialize_head=True, head_node_args=dict(
    num_cpus=0, num_gpus=0, include_dashboard=False, temp_dir=temp_dir))
worker = cluster.add_node(num_cpus=2, num_gpus=0, temp_dir=temp_dir)
cluster.wait_for_nodes()
print(json.dumps({"address": cluster.address, "nodes": len(cluster.list_all_nodes())}), flush=True)
for line in sys.stdin:    # until the test closes our stdin
    if line.strip() == "swap":   # the worker node lost now, then a fresh one (Tune waits)
        cluster.remove_node(worker, allow_graceful=False)
        worker = cluster.add_node(num_cpus=2, num_gpus=0, temp_dir=temp_dir)
        cluster.wait_for_nodes()
        print("swapped", flush=True)
cluster.shutdown()
"""


@pytest.fixture
def two_nodes(cluster_helper):
    """(address, node count, swap) of a fresh two-node cluster; swap() loses its worker node
    as a node is lost (its processes killed, its trials with it), at once, then adds a fresh one
    (a loss after the fresh node's start-up, seconds on a busy machine, could come after a
    short trial had finished); torn down by cluster_helper."""
    temp_dir = tempfile.mkdtemp(prefix="fp-")   # short: Ray's socket paths must stay < 108 chars
    helper = cluster_helper(HELPER, temp_dir, remove=temp_dir)
    info = json.loads(helper.stdout.readline() or "{}")
    assert "address" in info, "the two-node cluster did not start"

    def swap() -> None:
        helper.stdin.write("swap\n")
        helper.stdin.flush()
        assert helper.stdout.readline() == "swapped\n"
    return info["address"], info["nodes"], swap


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _driver(args: list[str], log: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, str(SCRIPT), *args], stdout=log.open("w"),
                            stderr=subprocess.STDOUT, start_new_session=True)


def _wait_for_rows(root: Path, n: int, driver: subprocess.Popen, timeout: float) -> list[str]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and driver.poll() is None:
        files = results.row_files(str(root), "smoke")
        if len(files) >= n:
            return files
        time.sleep(0.2)
    raise AssertionError(f"no {n} rows within {timeout:.0f}s (driver rc={driver.poll()})")


@pytest.mark.slow
def test_two_node_cluster_survives_a_killed_driver_and_resumes(two_nodes, fewpair_cache,
                                                              tmp_path):
    address, nodes, _ = two_nodes
    assert nodes == 2
    from trainer.data import toy_root
    data = str(toy_root("toy-streets", "small"))
    store = tmp_path / "results"
    common = ["--grid", "smoke", "--data-root", data, "--storage", str(store),
              "--address", address]

    first = _driver([*common, "--max-concurrent", "1"], tmp_path / "first.log")
    try:
        [done] = _wait_for_rows(store, 1, first, timeout=300)
    finally:
        _kill_group(first.pid)                   # SIGKILL: no cleanup code of its own runs
        first.wait(timeout=30)
    assert first.returncode == -signal.SIGKILL, (tmp_path / "first.log").read_text()[-3000:]
    finished_first = os.stat(done).st_mtime_ns
    assert len(results.row_files(str(store), "smoke")) < len(SMOKE_KEYS)

    second = _driver([*common, "--resume"], tmp_path / "second.log")
    try:
        assert second.wait(timeout=300) == 0, (tmp_path / "second.log").read_text()[-3000:]
    finally:
        _kill_group(second.pid)
    rows = results.read_rows(str(store), "smoke")
    assert sorted(rows["trial_key"]) == SMOKE_KEYS          # exactly one row per trial
    assert (rows["status"] == "ok").all()
    assert os.stat(done).st_mtime_ns == finished_first      # the finished trial was not rerun
    log = (tmp_path / "second.log").read_text()
    assert "rows:" in log and str(store / "smoke") in log


def _attempts(storage: Path) -> dict[str, list[list[dict]]]:
    """Tune trial folder -> its attempts, each the results it reported in order (not its last
    result, which carries row_written). A new attempt starts where iterations_since_restore is
    1 again: a retry, from a checkpoint (training_iteration then continues) or afresh."""
    out = {}
    for found in (storage / "_ray" / "smoke").glob("*/result.json"):
        attempts: list[list[dict]] = []
        for line in found.read_text().splitlines():
            result = json.loads(line) if line.strip() else {}
            if "timesteps_total" not in result or "row_written" in result:
                continue
            if result["iterations_since_restore"] == 1 or not attempts:
                attempts.append([])
            attempts[-1].append(result)
        out[found.parent.name] = attempts
    return out


@pytest.mark.slow
@pytest.mark.parametrize("packed", [False, True], ids=["alone", "packed"])
def test_a_lost_worker_node_is_retried_on_another_from_its_checkpoint(two_nodes, fewpair_cache,
                                                                     tmp_path, packed):
    address, _, swap = two_nodes
    from trainer.data import toy_root
    store = tmp_path / "results"
    args = ["--grid", "smoke", "--data-root", str(toy_root("toy-streets", "small")),
            "--storage", str(store), "--address", address, "--set", "steps=60",
            "--set", "checkpoint_every=10", "--set", "report_every=5",
            *(["--pack", "3"] if packed else ["--max-concurrent", "1"])]
    log = tmp_path / "driver.log"
    driver = _driver(args, log)
    try:
        deadline = time.monotonic() + 300
        while not list((store / "_ray" / "smoke").glob("*/checkpoint_*")):
            assert time.monotonic() < deadline and driver.poll() is None, log.read_text()[-3000:]
            time.sleep(0.2)
        swap()                                   # the node training it is lost
        assert driver.wait(timeout=400) == 0, log.read_text()[-3000:]
    finally:
        _kill_group(driver.pid)
    rows = results.read_rows(str(store), "smoke")   # (steps=60: other keys than SMOKE_KEYS)
    assert len(rows) == len(SMOKE_KEYS) == rows["trial_key"].nunique()   # one row per trial
    assert (rows["status"] == "ok").all() and (rows["steps_done"] == 60).all()
    retried = {name: attempts for name, attempts in _attempts(store).items()
               if len(attempts) > 1}
    assert retried, {name: [[r["timesteps_total"] for r in a] for a in attempts]
                     for name, attempts in _attempts(store).items()}   # retried ...
    for name, attempts in retried.items():
        assert "Failure # 1" in (store / "_ray" / "smoke" / name / "error.txt").read_text()
        for before, after in zip(attempts, attempts[1:]):
            assert after[0]["pid"] != before[-1]["pid"]          # ... in a new process
            # ... from its checkpoint: a fresh start would report step 5 first (report_every)
            assert after[0]["timesteps_total"] > 5 and after[0]["training_iteration"] > 1, \
                [[r["timesteps_total"] for r in a] for a in attempts]
    # the console: one line per retry, naming the trial (or pack) and its checkpoint's step;
    # nothing of Ray's (Tune's "Trial task failed" traceback, the raylet's notices with the
    # tail of its log, 70 lines: --verbose only)
    text = log.read_text()
    said = re.findall(r"^(?:trial|pack) ([\w-]+): (\w+); retrying from step (\d+) "
                      r"\(retry (\d) of 2\)$", text, flags=re.M)
    assert len(said) == sum(len(a) - 1 for a in retried.values()), text[-3000:]
    for name, attempts in retried.items():
        steps = [int(step) for key, _, step, _ in said if name.startswith(key + "_")]
        firsts = [after[0]["timesteps_total"] for after in attempts[1:]]
        assert len(steps) == len(firsts) and all(0 < s < f for s, f in zip(steps, firsts)), \
            (steps, firsts, text[-3000:])
    for block in ("Traceback", "Unhandled error", "Trial task failed", "(raylet)"):
        assert block not in text, text[-3000:]
