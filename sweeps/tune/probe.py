"""`--pack auto` on GPUs: the memory a real pack member takes, measured on a GPU worker.

For each group of the grid's trials of equal sizes, its hungriest packable member (the largest
unpaired pool and paired budget: the image banks live on the GPU) trains through the real pack
trainer (trainer.run.loop.train_pack) as a pack of one and as a pack of two, PROBE_STEPS steps and
an evaluation of PROBE_EVAL images each, in a throw-away workdir. The peak memory the CUDA
caching allocator reserved (networks, Adam, banks, pools, evaluation buffers, cuDNN workspaces
and fragmentation) gives one member (the difference) and the process's own share (the rest);
sweeps.plan.packs turns them into pack sizes and GPU shares. Not yet run on a GPU by the
project (none was at hand): tests/test_sweeps_packs.py has its `gpu` test.

Before that, and before any trial asks for a GPU, `check_gpu_nodes` runs one task on every
alive GPU node (for the probe, with none alive: on the one the autoscaler adds) asking torch
whether it sees the GPUs Ray granted (trainer.core.device.check_granted_gpus, the rule trials
apply too): a node that declares a GPU torch cannot use stops the sweep with one line naming it.
"""
from __future__ import annotations

import tempfile

from sweeps.plan.grids import GridError
from sweeps.plan.packs import MemoryProbe, sizes_of
from trainer.core.config import ALL, TrialConfig
from trainer.core.packing import packable

PROBE_STEPS = 2          # generator steps per probe pack: one paired, one unpaired slot at least
PROBE_EVAL = 2           # images the probe's evaluation scores
_usable_nodes: set[str] = set()   # GPU nodes whose CUDA this driver has checked


def hungriest(cfgs: list[TrialConfig]) -> TrialConfig | None:
    """The packable member whose banks are largest (unpaired -1 = the whole split)."""
    packed = [c for c in cfgs if packable(c)]
    big = 10 ** 9   # ALL: more than any finite pool
    return max(packed, key=lambda c: (big if c.unpaired == ALL else c.unpaired,
                                      big if c.paired_budget == ALL else c.paired_budget),
               default=None)


def probe_member_memory(row: dict) -> tuple[float, float, float]:
    """On a GPU worker: (GB of the process's own, GB per member, GB of the card)."""
    import torch
    from trainer.run.loop import train_pack
    cfg = TrialConfig.from_dict(row).replace(
        device="cuda", steps=PROBE_STEPS, eval_limit=PROBE_EVAL, report_every=0,
        checkpoint_every=0, eval_every=0, export_dir=None)
    device = torch.device("cuda")
    peaks = []
    for k in (1, 2):
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)
        with tempfile.TemporaryDirectory() as tmp:
            train_pack([cfg.replace(seed=cfg.seed + i) for i in range(k)],
                       [f"{tmp}/member-{i}" for i in range(k)])
        peaks.append(torch.cuda.max_memory_reserved(device) / 2 ** 30)
    member = max(peaks[1] - peaks[0], 1e-3)
    card = torch.cuda.get_device_properties(device).total_memory / 2 ** 30
    return max(peaks[0] - member, 0.0), member, card


def node_cuda() -> tuple[str, str | None]:
    """On a worker granted GPUs: (node id, None) when torch sees them, else (node id, why)."""
    import ray
    from sweeps.tune.trainable import check_cuda   # the trials' own check
    from trainer.core.device import DeviceError
    try:
        check_cuda()
    except DeviceError as err:
        return ray.get_runtime_context().get_node_id(), str(err)
    return ray.get_runtime_context().get_node_id(), None


def check_gpu_nodes(gpus: float, wait_for_one: bool = False) -> None:
    """The check of the module docstring on every alive GPU node, once per node and driver: a
    GridError (one line) for the first that fails. With none alive, `wait_for_one` checks the
    node the autoscaler adds for a task that asks for `gpus` (else its trials check it)."""
    import ray
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy as OnNode
    nodes = [n for n in ray.nodes() if n["Alive"] and n["Resources"].get("GPU", 0) > 0]
    wanted = [dict(num_gpus=min(gpus, n["Resources"]["GPU"]),
                   scheduling_strategy=OnNode(n["NodeID"], soft=False))
              for n in nodes if n["NodeID"] not in _usable_nodes]
    if not nodes and wait_for_one:
        wanted = [dict(num_gpus=gpus)]
    refs = [ray.remote(node_cuda).options(num_cpus=0, max_retries=0, **options).remote()
            for options in wanted]
    for node, why in ray.get(refs):
        if why:
            raise GridError(f"{why}: give that node a working CUDA (GPU access in its "
                            f"container, a driver for torch's CUDA) or start it with "
                            f"--num-gpus 0")
        _usable_nodes.add(node)


def measure_groups(cfgs: list[TrialConfig]) -> dict[tuple, MemoryProbe]:
    """A probe per size group with a packable member, each a Ray task on one whole GPU."""
    import ray
    check_gpu_nodes(1, wait_for_one=True)   # no usable CUDA: one line, not the probe's traceback
    task = ray.remote(probe_member_memory).options(num_gpus=1)
    groups: dict[tuple, list[TrialConfig]] = {}
    for cfg in cfgs:
        groups.setdefault(sizes_of(cfg), []).append(cfg)
    pending = {sizes: task.remote(member.to_row()) for sizes, members in groups.items()
               if (member := hungriest(members)) is not None}
    probes = {sizes: MemoryProbe(*ray.get(ref)) for sizes, ref in pending.items()}
    # a group without a packable member trains alone: any probe sizes it to one
    return {sizes: probes.get(sizes, MemoryProbe(0.0, float("inf"), 1.0)) for sizes in groups}
