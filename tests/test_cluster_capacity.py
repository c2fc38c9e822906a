"""What an autoscaling cluster can add, asked of its autoscaler rather than of a file: a head
started by hand (`ray start --head --autoscaling-config`, no `~/ray_bootstrap_config.yaml`)
with Ray's fake_multinode provider, offering 0 CPU itself and one worker type of 1 CPU from 0
to 2, as cluster.yaml's head offers nothing. The full scale-up/down sweep on such a cluster is
tests/test_cluster_autoscale.py's."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.ray_heads import free_port, start_head

ROOT = Path(__file__).resolve().parents[1]
# real Ray heads started by hand, minutes of driver start-up: make test-cluster, not make test
pytestmark = pytest.mark.cluster
ASK = """
import json, sys
from sweeps.plan.grids import GridError
from sweeps.tune import launch
launch.connect(sys.argv[1], log_to_driver=False)
answers = {}
for cpus in (2, 1):
    try:
        answers[cpus] = launch.trial_resources(cpus, 0.25)
    except GridError as err:
        answers[cpus] = str(err)
print(json.dumps(answers))
"""


def fake_cluster_config(port: int) -> dict:
    """Ray's fake_multinode provider (its example.yaml is not in the wheel)."""
    empty = dict(file_mounts={}, cluster_synced_files=[], file_mounts_sync_continuously=False,
                 initialization_commands=[], setup_commands=[], head_setup_commands=[],
                 worker_setup_commands=[], head_start_ray_commands=[],
                 worker_start_ray_commands=[])
    return {"cluster_name": "fewpair-capacity", "max_workers": 2, "upscaling_speed": 1.0,
            "idle_timeout_minutes": 1, "auth": {"ssh_user": "ubuntu"},
            "provider": {"type": "fake_multinode", "gcs_address": f"127.0.0.1:{port}"},
            "head_node_type": "ray.head.default",
            "available_node_types": {
                "ray.head.default": {"resources": {"CPU": 0}, "node_config": {},
                                     "max_workers": 0},
                "cpu_worker": {"resources": {"CPU": 1}, "node_config": {}, "min_workers": 0,
                               "max_workers": 2}},
            **empty}


def test_an_autoscaling_head_without_the_bootstrap_file_is_asked_what_it_can_add(tmp_path):
    port = free_port()
    config = tmp_path / "autoscaling.yaml"
    config.write_text(yaml.safe_dump(fake_cluster_config(port)))
    head = start_head(tmp_path, "--num-cpus=0", f"--autoscaling-config={config}", port=port,
                      env={"RAY_FAKE_CLUSTER": "1", "AUTOSCALER_UPDATE_INTERVAL_S": "1"})
    try:
        assert not (head.home / "ray_bootstrap_config.yaml").exists()
        run = subprocess.run([sys.executable, "-c", ASK, head.address], cwd=ROOT,
                             env=head.env(token=True), capture_output=True, text=True,
                             timeout=300)
    finally:
        head.stop()
    assert run.returncode == 0, run.stdout + run.stderr
    answers = json.loads(run.stdout.strip().splitlines()[-1])
    assert answers["2"] == ("--cpus-per-trial 2 is more than any node offers (0 CPU) or the "
                            "cluster's autoscaler can add; trials would wait forever")
    assert answers["1"] == {"cpu": 1, "gpu": 0.0}   # a 1-CPU worker can be added; no GPU type
    assert "note: the cluster has no GPU and can add none" in run.stdout
