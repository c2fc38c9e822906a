"""Autoscaling from zero with Ray's own autoscaler: a fake_multinode cluster (`RAY_FAKE_CLUSTER=1
ray start --head --autoscaling-config=...`: the real autoscaler, whose provider starts and stops
real raylets on this computer) with cluster.yaml's node types scaled to this machine: a head that
offers nothing, a worker type of 1 CPU and no GPU from 0 to 2, a short idle timeout. Token
authentication on, as cluster.yaml's clusters run.

All of it runs inside one machine of tests/cluster_hosts.py (its own network, mount and PID
namespaces; its own home and /tmp): every Ray process the test starts ends with that machine,
and no Ray outside it is seen or touched. ~2.5 min on 2 CPU cores, ~4.5 when they are busy
(`make test-cluster`).
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
import yaml

import cluster_hosts as ch
from sweeps.plan import grids
from sweeps.store import results

pytestmark = pytest.mark.cluster
ADDRESS = "127.0.0.1:6379"              # inside the machine's own network namespace
IDLE_MINUTES = 0.25                     # idle workers go after 15 s
SMOKE_KEYS = sorted(c.key() for c in grids.expand(grids.get_grid("smoke")))
RUN_GRID = str(ch.ROOT / "sweeps" / "run_grid.py")
STATE = """
import json, ray
from ray._private import state   # the GCS's actor table (ray.util.state needs the full dashboard)
ray.init(address=%r, log_to_driver=False, logging_level="ERROR")
print(json.dumps({
    "nodes": [{"id": n["NodeID"], "alive": n["Alive"], "cpu": n["Resources"].get("CPU", 0)}
              for n in ray.nodes()],
    "actors": [{"node": a["Address"]["NodeID"], "pid": a["Pid"]}
               for a in state.actors().values()]}))
"""


def autoscaling_config(workers: int = 2, cpus: int = 1) -> dict:
    """cluster.yaml's node types for the fake_multinode provider: the head as shipped (nothing
    offered), the worker type from its min_workers (0) to `workers` of `cpus` CPU and no GPU."""
    shipped = yaml.safe_load((ch.ROOT / "cluster.yaml").read_text())
    types = shipped["available_node_types"]
    head = types[shipped["head_node_type"]]
    [(name, worker)] = [(k, v) for k, v in types.items() if k != shipped["head_node_type"]]
    return {
        "cluster_name": "fewpair-fake", "max_workers": workers,
        "upscaling_speed": shipped["upscaling_speed"], "idle_timeout_minutes": IDLE_MINUTES,
        "provider": {"type": "fake_multinode", "gcs_address": ADDRESS, "use_node_id_as_ip": True,
                     "disable_node_updaters": True, "disable_launch_config_check": True},
        "head_node_type": "ray.head.default",   # the provider's name for the head
        "available_node_types": {
            "ray.head.default": {"resources": head["resources"], "node_config": {},
                                 "max_workers": 0},
            name: {"resources": {"CPU": cpus, "GPU": 0, "object_store_memory": 100 * 2**20},
                   "node_config": {}, "min_workers": worker["min_workers"],
                   "max_workers": workers}},
        # what the fake provider cannot do (no SSH, no setup: the nodes are this computer's)
        "auth": {}, "docker": {}, "file_mounts": {}, "cluster_synced_files": [],
        "file_mounts_sync_continuously": False, "rsync_exclude": [], "rsync_filter": [],
        "initialization_commands": [], "setup_commands": [], "head_setup_commands": [],
        "worker_setup_commands": [], "head_start_ray_commands": [],
        "worker_start_ray_commands": []}


@pytest.fixture(scope="module")
def autoscaling(fewpair_cache, small_streets):
    """(machine, env, data root there): the head started, no worker yet. The session's cache
    (toy data, features) is bound in at /mnt/cache."""
    ch.require(ch.namespace_problem())
    base = Path(tempfile.mkdtemp(prefix="fewpair-autoscale-"))
    machine = ch.Machine("autoscaler", base, ["sleep", "infinity"],
                         binds=[(Path(fewpair_cache), "/mnt/cache", False)], home_at="/mnt/home")
    try:
        machine.start()
        machine.run(["ip", "link", "set", "lo", "up"], net_only=True, check=True)
        config = yaml.safe_dump(autoscaling_config())
        (machine.home / "autoscale.yaml").write_text(config)
        # no ~/ray_bootstrap_config.yaml (only `ray up` writes one): the driver asks the
        # autoscaler what it can add (sweeps.tune.capacity)
        env = ch.python_env(machine, RAY_AUTH_MODE="token", FEWPAIR_CACHE="/mnt/cache",
                            RAY_FAKE_CLUSTER="1", AUTOSCALER_UPDATE_INTERVAL_S="1")
        for args in (["get-auth-token", "--generate"],
                     ["start", "--head", f"--port={ADDRESS.split(':')[1]}",
                      "--node-ip-address=127.0.0.1", "--num-cpus=0", "--num-gpus=0",
                      "--object-store-memory=100000000",
                      "--autoscaling-config=/mnt/home/autoscale.yaml"]):
            done = machine.run(["ray", *args], env=env, capture_output=True)
            assert done.returncode == 0, done.stdout + done.stderr
        data = "/mnt/cache/" + str(Path(small_streets).relative_to(fewpair_cache))
        yield machine, env, data
    finally:
        machine.stop()
        shutil.rmtree(base, ignore_errors=True)


def cluster_state(machine: ch.Machine, env: dict) -> dict:
    done = machine.run(["python", "-c", STATE % ADDRESS], env=env, capture_output=True)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def reports(storage: Path) -> dict[str, list[dict]]:
    """Tune trial folder -> every result it reported, in order."""
    return {found.parent.name: [json.loads(line) for line in found.read_text().splitlines()
                                if line.strip()]
            for found in (storage / "_ray" / "smoke").glob("*/result.json")}


def workers_alive(machine: ch.Machine, env: dict, head: str) -> int:
    return sum(n["alive"] for n in cluster_state(machine, env)["nodes"] if n["id"] != head)


def test_smoke_grid_scales_workers_from_zero_and_back(autoscaling):
    machine, env, data = autoscaling
    [head] = cluster_state(machine, env)["nodes"]          # the head alone, offering no CPU
    assert head["alive"] and head["cpu"] == 0

    started = time.monotonic()
    done = machine.run(["python", RUN_GRID, "--grid", "smoke", "--address", ADDRESS,
                        "--data-root", data, "--storage", "/mnt/home/scale"], env=env,
                       timeout=600, capture_output=True)
    assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]
    sweep = time.monotonic() - started
    rows = results.read_rows(str(machine.home / "scale"), "smoke")
    assert sorted(rows["trial_key"]) == SMOKE_KEYS and (rows["status"] == "ok").all()

    state = cluster_state(machine, env)
    workers = {n["id"] for n in state["nodes"]} - {head["id"]}
    assert 1 <= len(workers) <= 2                           # scaled up from 0, at most 2
    trials = reports(machine.home / "scale")
    assert len(trials) == len(SMOKE_KEYS)
    trial_pids = {r["pid"] for found in trials.values() for r in found if "pid" in r}
    actors = [a for a in state["actors"] if a["pid"] in trial_pids]   # (Tune may reuse one)
    assert {a["pid"] for a in actors} == trial_pids
    assert {a["node"] for a in actors} <= workers                     # none on the head

    deadline = time.monotonic() + IDLE_MINUTES * 60 + 90    # idle timeout + the monitor's beat
    while workers_alive(machine, env, head["id"]) and time.monotonic() < deadline:
        time.sleep(2)
    assert workers_alive(machine, env, head["id"]) == 0     # ... and back down to none
    print(f"\nsweep {sweep:.0f} s; scaled down {time.monotonic() - started - sweep:.0f} s after")


def test_a_worker_lost_mid_trial_is_retried_from_its_checkpoint(autoscaling, tmp_path):
    machine, env, data = autoscaling
    storage = machine.home / "lost"
    log = tmp_path / "driver.log"
    driver = subprocess.Popen(
        machine.enter(["python", RUN_GRID, "--grid", "smoke", "--address", ADDRESS,
                       "--data-root", data, "--storage", "/mnt/home/lost", "--max-concurrent",
                       "1", "--set", "steps=60", "--set", "checkpoint_every=10",
                       "--set", "report_every=5"]),
        env=env, stdout=log.open("w"), stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 400
        while not list((storage / "_ray" / "smoke").glob("*/checkpoint_*")):
            assert time.monotonic() < deadline and driver.poll() is None, ch.tail(log)
            time.sleep(0.5)
        [trial] = [d for d in (storage / "_ray" / "smoke").iterdir()
                   if list(d.glob("checkpoint_*"))]
        first_pid = reports(storage)[trial.name][-1]["pid"]
        raylet = ch.parent_of(machine.own_pid(first_pid))   # Ray workers are their raylet's
        assert "raylet" in Path(f"/proc/{raylet}/cmdline").read_text()
        for pid in ch.tree(raylet):                         # the worker node, lost at once
            os.kill(pid, signal.SIGKILL)
        assert driver.wait(timeout=500) == 0, ch.tail(log)
    finally:
        if driver.poll() is None:
            driver.kill()
    rows = results.read_rows(str(storage), "smoke")
    assert len(rows) == len(SMOKE_KEYS) == rows["trial_key"].nunique()   # no duplicate row
    assert (rows["status"] == "ok").all() and (rows["steps_done"] == 60).all()
    lost = [r for r in reports(storage)[trial.name] if "timesteps_total" in r
            and "row_written" not in r]
    retry = next(i for i, r in enumerate(lost) if r["pid"] != first_pid)
    # ... retried in a new process, from its checkpoint: a fresh start reports step 5 first
    assert lost[retry]["iterations_since_restore"] == 1
    assert lost[retry]["timesteps_total"] > 5 and lost[retry]["training_iteration"] > 1
