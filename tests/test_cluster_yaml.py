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
