"""`ray up` run for real on the shipped cluster-onprem.yaml: Ray's cluster launcher, over SSH,
sets up two hosts and the smoke grid runs on them, as README tells a user to.

The hosts are Linux namespaces on this computer (tests/cluster_hosts.py): `head` and `worker`,
each with its own address, sshd, home, /tmp and PID namespace (the yaml's start commands stop
every Ray they can see), and a folder both mount at /mnt/fewpair (the NFS share). The launching
machine (`ray up`, `ray exec`, `ray down`) is a third, with its own home (SSH key, Ray token).
The yaml is the shipped file except head_ip, worker_ips, --node-ip-address, ssh_user (root: the
hosts are this computer's root) and ssh_private_key (the launcher's key).
The hosts' image carries PyTorch & co. (this computer's site-packages, read-only, appended to
sys.path); the yaml's setup makes its venv and `pip install`s fewpair and Ray into it, from a
mirror this computer's pip fills first (the hosts have no route out). Everything the test made
ends with it, even on failure: each machine's processes die with its namespaces, the LAN lives
inside them, the folder is removed. ~3.5 min on 2 CPU cores, ~9 when they are busy
(`make test-cluster`).
"""
from __future__ import annotations

import json
import shutil
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
SHIPPED = ch.ROOT / "cluster-onprem.yaml"
SHIPPED_HEAD_IP = "192.0.2.10"           # the example address the yaml says to replace
LAN = "10.66.0"                          # inside the machines' namespaces only
HEAD_IP, WORKER_IP = f"{LAN}.10", f"{LAN}.11"
SMOKE_KEYS = sorted(c.key() for c in grids.expand(grids.get_grid("smoke")))
DATA = "/mnt/fewpair/data/toy-streets-small"
LAUNCHER_KEY = "/mnt/home/.ssh/id_ed25519"   # absolute: ssh reads ~ from passwd, not $HOME


def onprem_config(dest: Path) -> dict:
    """The shipped yaml with this LAN's addresses and the hosts' user, written to `dest`."""
    config = yaml.safe_load(SHIPPED.read_text())
    config["provider"].update(head_ip=HEAD_IP, worker_ips=[WORKER_IP])
    config["auth"].update(ssh_user="root", ssh_private_key=LAUNCHER_KEY)
    start = config["head_start_ray_commands"]
    assert any(SHIPPED_HEAD_IP in line for line in start), "the yaml's --node-ip-address moved"
    config["head_start_ray_commands"] = [line.replace(SHIPPED_HEAD_IP, HEAD_IP) for line in start]
    dest.write_text(yaml.safe_dump(config, sort_keys=False))
    return config


class Launcher:
    """The machine `ray up` runs on: this test's Ray CLI, cwd the repository (file_mounts' ".")."""

    def __init__(self, machine: ch.Machine, logs: Path):
        self.machine, self.logs = machine, logs

    def ray(self, args: list[str], log: str, timeout: float) -> subprocess.CompletedProcess:
        path = self.logs / f"{log}.log"
        with path.open("a") as out:
            done = self.machine.run(["ray", *args], env=ch.python_env(self.machine),
                                    cwd=str(ch.ROOT), timeout=timeout, stdout=out,
                                    stderr=subprocess.STDOUT)
        done.log = path
        return done


@pytest.fixture
def onprem(tmp_path, small_streets):
    """(launcher, head, worker, shared folder, config path): the machines up, wired, the
    launcher holding an SSH key and a Ray token, the data on the share. All torn down after."""
    ch.require(ch.namespace_problem() or ch.hosts_problem())
    base = Path(tempfile.mkdtemp(prefix="fewpair-onprem-"))
    logs = tmp_path / "logs"
    logs.mkdir()
    machines: list[ch.Machine] = []
    try:
        shared, mirror, image = base / "shared", base / "mirror", base / "image"
        shutil.copytree(small_streets, shared / "data" / "toy-streets-small")
        ch.package_mirror(mirror)
        ch.host_image(image)
        client = ch.Machine("launcher", base / "launcher", ["sleep", "infinity"],
                            home_at="/mnt/home")
        key = ch.keygen(client.home / ".ssh" / "id_ed25519")   # LAUNCHER_KEY
        binds = [(shared, "/mnt/fewpair", False), (mirror, "/mnt/pypi", True)]
        head = ch.ssh_host("head", base / "head", key, binds, image)
        worker = ch.ssh_host("worker", base / "worker", key, binds, image)
        for machine in (client, head, worker):
            machines.append(machine.start())
        ch.wire(client, {head: HEAD_IP, worker: WORKER_IP}, hub_ip=f"{LAN}.1")
        launcher = Launcher(client, logs)
        token = launcher.ray(["get-auth-token", "--generate"], "token", timeout=120)
        assert token.returncode == 0, ch.tail(token.log)
        onprem_config(client.home / "cluster-onprem.yaml")
        yield launcher, head, worker, shared, "/mnt/home/cluster-onprem.yaml"
    finally:
        for machine in reversed(machines):
            _keep_logs(machine, logs)
            machine.stop()
        shutil.rmtree(base, ignore_errors=True)


def _keep_logs(machine: ch.Machine, logs: Path) -> None:
    """The machine's sshd output and Ray's logs (the head's monitor.* tells each host's setup)."""
    shutil.copy(machine.log, logs / f"{machine.name}-main.log")
    for found in machine.ray_logs().glob("monitor*"):
        shutil.copy(found, logs / f"{machine.name}-{found.name}")


def wait_worker_up(head: ch.Machine, name: str, timeout: float) -> None:
    """Until the head's autoscaler has set the worker up (its state file marks the worker
    up-to-date: file mounts, setup and start commands done); fails on update-failed."""
    state = head.tmp / "ray" / f"cluster-{name}.state"
    monitor = head.ray_logs() / "monitor.log"
    deadline = time.monotonic() + timeout
    status = None
    while time.monotonic() < deadline:
        try:
            status = json.loads(state.read_text())[WORKER_IP]["tags"].get("ray-node-status")
        except (OSError, ValueError, KeyError):
            status = None
        if status == "up-to-date":
            return
        assert status != "update-failed", ch.tail(monitor, 6000)
        time.sleep(2)
    raise AssertionError(f"worker not set up in {timeout:.0f}s ({status})\n"
                         f"{ch.tail(monitor, 6000)}")


def fixed_ports(config: dict) -> set[int]:
    """Every port the yaml's start commands fix (a --min/--max-worker-port range expanded)."""
    flags = dict(flag.lstrip("-").split("=", 1)
                 for line in config["head_start_ray_commands"] + config["worker_start_ray_commands"]
                 for flag in line.split() if flag.startswith("--") and "=" in flag)
    ports = {int(v) for k, v in flags.items() if k.endswith("port") and v.isdigit()}
    ports |= {int(flags["port"]), 22}   # the GCS; sshd
    return ports | set(range(int(flags["min-worker-port"]), int(flags["max-worker-port"]) + 1))


def test_ray_up_runs_the_smoke_grid_on_the_worker(onprem):
    launcher, head, worker, shared, config_path = onprem
    config = yaml.safe_load((launcher.machine.home / "cluster-onprem.yaml").read_text())
    started = time.monotonic()
    up = launcher.ray(["up", "-y", config_path], "up", timeout=900)
    assert up.returncode == 0, ch.tail(up.log)
    wait_worker_up(head, config["cluster_name"], timeout=600)
    set_up = time.monotonic() - started

    grid = launcher.ray(["exec", config_path, "cd ~/fewpair && python sweeps/run_grid.py --grid "
                         f"smoke --address auto --data-root {DATA} --storage /mnt/fewpair/results"],
                        "exec", timeout=600)
    assert grid.returncode == 0, ch.tail(grid.log)
    rows = results.read_rows(str(shared / "results"), "smoke")      # on the share
    assert sorted(rows["trial_key"]) == SMOKE_KEYS and (rows["status"] == "ok").all()
    reports = [json.loads(line) for found in (shared / "results" / "_ray" / "smoke").glob(
        "*/result.json") for line in found.read_text().splitlines() if line.strip()]
    assert len({r["trial_id"] for r in reports}) == len(SMOKE_KEYS)
    assert {(r["node_ip"], r["hostname"]) for r in reports} == {(WORKER_IP, "worker")}

    allowed = fixed_ports(config)   # what docs/security.md tells a firewall to admit
    for machine in (head, worker):
        opened = {port for address, port in ch.listening(machine)
                  if address not in ("127.0.0.1", "::1")}
        assert opened <= allowed, (machine.name, sorted(opened - allowed))

    down = launcher.ray(["down", "-y", config_path], "down", timeout=300)
    assert down.returncode == 0, ch.tail(down.log)
    # `ray down` stops Ray on the head; the local provider only forgets the worker, whose raylet
    # ends once the head's GCS is gone (its log monitor stays: the yaml's header says so)
    deadline = time.monotonic() + 120
    while (_ray_processes(head) or _serving(worker)) and time.monotonic() < deadline:
        time.sleep(1)
    assert not _ray_processes(head) and not _serving(worker), (_ray_processes(head),
                                                               _ray_processes(worker))
    print(f"\nray up + worker set up: {set_up:.0f} s; through ray down: "
          f"{time.monotonic() - started:.0f} s")


def _ray_processes(machine: ch.Machine) -> list[str]:
    return [c for c in machine.commands() if "ray" in c and "sshd" not in c]


def _serving(machine: ch.Machine) -> list[str]:
    """Its Ray processes but the log monitor."""
    return [c for c in _ray_processes(machine) if "log_monitor" not in c]
