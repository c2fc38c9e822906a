"""Shared fixtures. One toy-data cache per test session (generated on first use by the real
generators, read back through the real readers); GPU tests skip where there is no CUDA."""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys

import pytest


@pytest.fixture(scope="session", autouse=True)
def fewpair_cache(tmp_path_factory):
    """Point FEWPAIR_CACHE at a fresh session folder so tests never touch a user's cache."""
    path = tmp_path_factory.mktemp("fewpair-cache")
    old = os.environ.get("FEWPAIR_CACHE")
    os.environ["FEWPAIR_CACHE"] = str(path)
    yield path
    if old is None:
        os.environ.pop("FEWPAIR_CACHE", None)
    else:
        os.environ["FEWPAIR_CACHE"] = old


@pytest.fixture(scope="session")
def ray_session(fewpair_cache):
    """One local Ray per test session (2 CPUs, no GPU), started by the first test that asks.
    After fewpair_cache, so that Ray's workers inherit the session's FEWPAIR_CACHE."""
    import ray
    # address="local": a new Ray of our own, even while another process's Ray runs on this
    # machine (address=None would find that one and refuse num_cpus)
    # log_to_driver=False: workers' output stays in Ray's log files instead of arriving
    # whenever it is flushed in whichever test then runs (a W&B actor's exit traceback landed
    # in a later test's captured stderr); driver-side lines -- Ray's table, our progress --
    # still reach capsys.
    ray.init(address="local", num_cpus=2, num_gpus=0, include_dashboard=False,
             log_to_driver=False)
    yield ray
    ray.shutdown()


@pytest.fixture
def cluster_helper():
    """start(code, *args, env=None, remove=None) -> the Popen of `python -c code *args`, a helper
    that runs a Ray cluster (ray.cluster_utils.Cluster) in a process session of its own until its
    stdin closes (stdin and stdout: text pipes). At teardown, for each helper started: its stdin
    closed (the cue to shut its cluster down), up to 60 s to do that, then whatever is left in
    its process group (the nodes' processes) killed, then the folder `remove` deleted."""
    started: list[tuple[subprocess.Popen, str | None]] = []

    def start(code: str, *args: str, env: dict | None = None,
              remove: str | None = None) -> subprocess.Popen:
        helper = subprocess.Popen([sys.executable, "-c", code, *args], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, text=True, env=env,
                                  start_new_session=True)
        started.append((helper, remove))
        return helper
    yield start
    for helper, remove in started:
        helper.stdin.close()
        try:
            helper.wait(timeout=60)
        except subprocess.TimeoutExpired:
            pass
        try:
            os.killpg(helper.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        if remove:
            shutil.rmtree(remove, ignore_errors=True)


@pytest.fixture(scope="session")
def small_streets(fewpair_cache) -> str:
    """toy-streets' small variant (40 train / 16 val images): the smoke grid's data."""
    from trainer.data import toy_root
    return str(toy_root("toy-streets", "small"))


@pytest.fixture(scope="module")
def one_thread():
    """One intra-op torch thread for a module of tiny-tensor tests: on the shared 2-core machine
    two threads made tiny convolutions and the test judge up to 10x slower (busy-waiting)."""
    import torch
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def paper_grid_root(tmp_path_factory):
    """A results folder of hand-made rows in every paper table's shape (tests/analysis_rows.py),
    written once per session; tests only read it."""
    from analysis_rows import write_paper_grid
    root = tmp_path_factory.mktemp("paper-grid-results")
    write_paper_grid(root)
    return root


@pytest.fixture(scope="session")
def paper_results(paper_grid_root):
    from analysis import load_results
    return load_results(paper_grid_root)


def pytest_collection_modifyitems(config, items):
    try:
        import torch
        has_cuda = torch.cuda.is_available()
    except ImportError:  # pragma: no cover - torch is a hard dependency
        has_cuda = False
    if has_cuda:
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU; none on this machine")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)
