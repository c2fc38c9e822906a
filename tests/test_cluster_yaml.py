"""cluster.yaml / cluster-onprem.yaml: valid for the installed Ray's cluster launcher (the JSON
schema shipped inside the ray package, then Ray's own prepare + validate), and they keep the
promises the files make: a head that runs no trials, spot GPU workers from zero, the pinned
Ray image with a large /dev/shm, token authentication, a dashboard on localhost only."""
from __future__ import annotations

import copy
import json
import re
from pathlib import Path

import jsonschema
import pytest
import ray
import ray.autoscaler
import yaml
from ray.autoscaler._private.util import prepare_config, validate_config

ROOT = Path(__file__).resolve().parent.parent
FILES = ("cluster.yaml", "cluster-onprem.yaml")
SCHEMA = json.loads((Path(ray.autoscaler.__file__).parent / "ray-schema.json").read_text())


def load(name: str) -> dict:
    return yaml.safe_load((ROOT / name).read_text())


def commands(config: dict, key: str) -> str:
    return "\n".join(config.get(key, []))


@pytest.mark.parametrize("name", FILES)
def test_valid_for_the_schema_and_rays_own_validation(name):
    config = load(name)
    jsonschema.validate(config, SCHEMA)
    prepared = prepare_config(copy.deepcopy(config))   # defaults merged, as `ray up` does
    validate_config(prepared)
    assert prepared["head_node_type"] in prepared["available_node_types"]


@pytest.mark.parametrize("name", FILES)
def test_a_misspelled_field_is_rejected(name):
    config = load(name)
    config["setup_comands"] = config.pop("setup_commands")
    with pytest.raises(jsonschema.ValidationError, match="setup_comands"):
        jsonschema.validate(config, SCHEMA)


def test_aws_head_runs_no_trials_and_spot_gpu_workers_scale_from_zero():
    config = load("cluster.yaml")
    head = config["available_node_types"][config["head_node_type"]]
    assert head["resources"] == {"CPU": 0, "GPU": 0}
    types = config["available_node_types"]
    workers = [t for name, t in types.items() if name != config["head_node_type"]]
    assert len(workers) == 1 and workers[0]["min_workers"] == 0
    assert workers[0]["resources"]["GPU"] >= 1
    assert workers[0]["node_config"]["InstanceMarketOptions"]["MarketType"] == "spot"


def test_aws_image_pins_the_installed_ray_and_a_large_shm():
    docker = load("cluster.yaml")["docker"]
    assert docker["image"].startswith(f"rayproject/ray:{ray.__version__}-")
    shm = next(o for o in docker["run_options"] if o.startswith("--shm-size="))
    assert int(re.fullmatch(r"--shm-size=(\d+)g", shm).group(1)) >= 16   # GiB


@pytest.mark.parametrize("name", FILES)
def test_token_auth_on_and_dashboard_on_localhost_only(name):
    config = load(name)
    start = commands(config, "head_start_ray_commands")
    everywhere = json.dumps(config.get("docker", {})) + start + commands(config, "setup_commands")
    assert "RAY_AUTH_MODE=token" in everywhere
    assert "--dashboard-host=127.0.0.1" in start and "--num-cpus=0" in start
    assert config["file_mounts"]["~/.ray/auth_token"] == "~/.ray/auth_token"


@pytest.mark.parametrize("name", FILES)
def test_fewpair_is_installed_from_this_checkout(name):
    config = load(name)
    assert config["file_mounts"]["~/fewpair"] == "."   # relative: no machine-specific path
    assert "pip install" in commands(config, "setup_commands")
    assert "-e ~/fewpair" in commands(config, "setup_commands")


def test_aws_nodes_sit_in_a_group_of_your_own_not_the_launchers_open_one():
    """Without SecurityGroupIds on every node type the launcher creates a group whose SSH rule
    admits 0.0.0.0/0; docs/security.md says how to make the restrictive one named here."""
    config = load("cluster.yaml")
    groups = {name: t["node_config"].get("SecurityGroupIds")
              for name, t in config["available_node_types"].items()}
    assert all(groups.values()) and len({tuple(g) for g in groups.values()}) == 1, groups
    assert "security_group" not in config["provider"]   # it would only add rules to the default
    doc = (ROOT / "docs" / "security.md").read_text()
    assert "--source-group $SG" in doc and "--cidr YOUR.PUBLIC.IP/32" in doc
    assert "0.0.0.0/0" not in json.dumps(config)


def test_onprem_ports_are_fixed_and_each_is_in_the_firewall_table():
    """A firewall can admit only what it can name: every Ray port of the on-prem start commands
    is fixed, the same on head and workers, and listed in docs/security.md."""
    config = load("cluster-onprem.yaml")
    head = commands(config, "head_start_ray_commands")
    worker = commands(config, "worker_start_ray_commands")
    every_node = ("object-manager", "node-manager", "min-worker", "max-worker",
                  "dashboard-agent-listen", "dashboard-agent-grpc", "runtime-env-agent",
                  "metrics-export")
    ports = {}
    for flag in every_node:
        values = {re.search(rf"--{flag}-port=(\d+)", text).group(1) for text in (head, worker)}
        assert len(values) == 1, (flag, values)
        ports[flag] = values.pop()
    ports["gcs"] = re.search(r"--port=(\d+)", head).group(1)
    ports["client"] = re.search(r"--ray-client-server-port=(\d+)", head).group(1)
    assert f"--address=$RAY_HEAD_IP:{ports['gcs']}" in worker
    head_ip = config["provider"]["head_ip"]
    assert f"--node-ip-address={head_ip}" in head
    table = (ROOT / "docs" / "security.md").read_text()
    for flag, port in ports.items():
        if flag not in ("min-worker", "max-worker"):
            assert re.search(rf"^\| [^|]*\b{port}\b", table, re.M), (flag, port)
    assert f"| {ports['min-worker']}-{ports['max-worker']} |" in table


@pytest.mark.parametrize("name", FILES)
def test_every_ray_process_gets_the_cache_and_the_resnet_weights(name):
    """Trials run the paper's extractor and read the cache on workers: both variables must
    reach every node's Ray processes (the docker environment, or each `ray start`)."""
    config = load(name)
    if "docker" in config:
        places = [" ".join(config["docker"]["run_options"])]
    else:
        places = [commands(config, "head_start_ray_commands"),
                  commands(config, "worker_start_ray_commands")]
    for text in places:
        for variable in ("FEWPAIR_CACHE", "FEWPAIR_RESNET50_WEIGHTS"):
            assert re.search(rf"{variable}=/mnt/fewpair/\S+", text), (name, variable)
