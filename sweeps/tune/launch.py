"""Putting a sweep on Ray: join or start the cluster, size each trial's resources to what a
node offers, and compute the selection manifests (once per distinct selection) before any trial
starts: as Ray tasks on a joined cluster, in a thread of the driver while a local Ray starts."""
from __future__ import annotations

import os
import threading
from typing import Callable

from sweeps.plan.grids import GridError
from sweeps.store.paths import absolute
from sweeps.tune.capacity import can_place, largest_node
from trainer.core.config import TrialConfig

KEEP_CHECKPOINTS = 1     # per trial in storage: 418 MB each at the paper's scale (docs/real-
                         # data.md); Tune drops the older one once the new one is stored
FORWARDED_ENV = ("FEWPAIR_CACHE", "FEWPAIR_RESNET50_WEIGHTS")   # paths trials and selection
                                                                # tasks read on every node

# --- the cluster ------------------------------------------------------------------------------
def connect(address: str | None, log_to_driver: bool = True) -> None:
    """Join `address` (--address / RAY_ADDRESS), else start a local Ray of this driver's own;
    reuse one this process already started. One line says which. log_to_driver=False: the
    workers' output stays in Ray's log files only."""
    import ray
    if ray.is_initialized():
        return
    for name in FORWARDED_ENV:   # workers start in their trial folders, not here
        if os.environ.get(name):
            os.environ[name] = absolute(os.environ[name])
    if address:   # workers of a joined cluster do not inherit this shell: pass the paths on
        from sweeps.tune.join import join   # one `error:` line for each way joining fails
        env = forwarded_env()
        print(f"ray: joining the cluster at {address}")
        join(address, {"env_vars": env} if env else None, log_to_driver)
    else:
        # address="local": never the cluster another job started on this machine (address=None
        # joins the last `ray start` found under /tmp/ray); its workers inherit this environment
        ray.init(address="local", include_dashboard=False, log_to_driver=log_to_driver)
        cpus = ray.cluster_resources().get("CPU", 0)
        from tqdm import tqdm   # (its write: not into the manifests' bar, drawn meanwhile)
        tqdm.write(f"ray: started a local Ray of this driver's own ({cpus:g} CPUs); to join a "
                   f"running cluster pass --address (auto: the one on this machine) or RAY_ADDRESS")


def connect_and_select(address: str | None, cfgs: list[TrialConfig],
                       log_to_driver: bool = True) -> bool:
    """connect(); starting a local Ray (no address), compute the manifests of `cfgs` meanwhile,
    in this process (manifests_while). True when they were: prepare_manifests has nothing to do."""
    if address or not cfgs:
        connect(address, log_to_driver)
        return False
    wait = manifests_while(cfgs)
    connect(address, log_to_driver)
    wait()
    return True


def forwarded_env() -> dict[str, str]:
    """The cache and the ResNet50 weights as this driver sees them (absolute), for the
    runtime_env of a joined cluster's workers (a node's own setting, e.g. cluster.yaml's, is
    overridden by the driver's only where the driver sets one)."""
    return {name: absolute(os.environ[name]) for name in FORWARDED_ENV if os.environ.get(name)}


def trial_resources(cpus: float, gpus: float) -> dict[str, float]:
    """What each trial asks for, once a node alive or one the autoscaler can add holds it
    (sweeps.tune.capacity); no GPU on a cluster that has none and can add none (else trials
    wait forever). GPUs granted are checked to be usable by torch before any trial starts."""
    if gpus > 0 and not can_place({"CPU": cpus, "GPU": gpus}):
        most = largest_node("GPU")
        if most == 0:
            print(f"note: the cluster has no GPU and can add none; trials ask for 0 GPUs, "
                  f"not {gpus:g}")
            gpus = 0.0
        elif gpus > most:
            raise _too_big("GPU", gpus)
        else:   # the GPUs fit; the CPUs beside them do not
            raise _too_big("CPU", cpus)
    if gpus == 0 and not can_place({"CPU": cpus}):
        raise _too_big("CPU", cpus)
    if gpus > 0:
        from sweeps.tune.probe import check_gpu_nodes   # torch, on every GPU node
        check_gpu_nodes(gpus)
    return {"cpu": cpus, "gpu": gpus}


def _too_big(name: str, want: float) -> GridError:
    have = largest_node(name)
    return GridError(f"--{name.lower()}s-per-trial {want:g} is more than any node offers "
                     f"({have:g} {name}) or the cluster's autoscaler can add; trials would "
                     f"wait forever")


# --- selection manifests ----------------------------------------------------------------------
def _manifest_task(point: dict) -> int:
    from trainer.selection import manifest_for
    manifest = manifest_for(TrialConfig.from_dict(point))
    return len(manifest.paired)


def prepare_manifests(cfgs: list[TrialConfig], resources: dict[str, float]) -> None:
    """Compute each distinct selection once, as Ray tasks, before any trial starts: first one
    per dataset (it generates toy data and caches the features), then the rest in parallel."""
    import ray
    from tqdm import tqdm
    unique = list({_request_key(c): c for c in cfgs}.values())
    firsts = list({(c.dataset, c.data_root, c.features): c for c in unique}.values())
    task = ray.remote(_manifest_task).options(num_cpus=resources["cpu"],
                                              num_gpus=resources["gpu"])
    with tqdm(total=len(unique), desc="selection manifests", unit="manifest") as bar:
        for batch in (firsts, [c for c in unique if c not in firsts]):
            _wait_all({task.remote(c.to_row()): c for c in batch}, bar)


def manifests_while(cfgs: list[TrialConfig]) -> Callable[[], None]:
    """Start computing the manifests in a thread of this process; returns `wait()`, which joins
    it and raises its error. For a Ray of this driver's own, started meanwhile: as Ray tasks the
    demo's 9 took 43 s (the first waits for a worker to start and import torch), here 17 s
    alone and ~24 s beside ray.init, which mostly waits for Ray's processes. On a joined
    cluster they stay Ray tasks (prepare_manifests): a dataset may be on the nodes only, a GPU
    only there."""
    unique = list({_request_key(c): c for c in cfgs}.values())
    failed: list[BaseException] = []

    def compute() -> None:
        from tqdm import tqdm
        from trainer.selection import manifest_for
        try:
            for cfg in tqdm(unique, desc="selection manifests", unit="manifest"):
                try:
                    manifest_for(cfg)
                except ValueError as err:   # bad input (SelectionError, DataError): one line
                    raise GridError(_selection_error(cfg, err)) from None
        except BaseException as err:   # raised again by wait(), in the driver's main thread
            failed.append(err)

    thread = threading.Thread(target=compute, name="selection-manifests", daemon=True)
    thread.start()

    def wait() -> None:
        thread.join()
        if failed:
            raise failed[0]
    return wait


def _selection_error(cfg: TrialConfig, cause: BaseException) -> str:
    return (f"selection for trial {cfg.key()} (budget {cfg.paired_budget}, pool {cfg.unpaired}, "
            f"{cfg.selection}, seed {cfg.seed}): {cause}")


def _request_key(cfg: TrialConfig) -> tuple:
    """Hashable form of trainer.selection's manifest request: equal keys, one manifest."""
    from trainer.selection import manifest_request
    return tuple(sorted(manifest_request(cfg).items()))


def _wait_all(pending: dict, bar) -> None:
    """ray.get each task as it finishes; a selection error names the trial and its cause."""
    import ray
    while pending:
        ready, _ = ray.wait(list(pending), num_returns=1)
        cfg = pending.pop(ready[0])
        try:
            ray.get(ready[0])
        except ray.exceptions.RayTaskError as err:
            if not isinstance(err.cause, ValueError):   # a bug, not bad input: its traceback
                raise
            raise GridError(_selection_error(cfg, err.cause)) from None
        bar.update()
