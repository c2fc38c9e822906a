"""Packs on the real toy-streets files: a pack of trials equals the trials trained alone
(float64, every parameter, final metrics), a member whose loss goes non-finite fails alone,
a pack resumes every member exactly (also as a smaller pack), and which configs may share one."""
from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from trainer.core.config import TrialConfig
from trainer.engine import CHECKPOINT_FILE, NonFiniteLoss
from trainer.nets.networks import build_discriminator, build_generator
from trainer import pack
from trainer.pack import (PackRun, check_compatible, group_packs, pack_key, packable,
                          train_pack)
from trainer.train import TrainError, TrialRun, train

# 32^2 crops of 36^2, ngf/ndf 8, 2 blocks, a pool of 20, 4 test images; 20 steps, one
# checkpoint (at the end) unless a test asks for more.
TINY = dict(dataset="toy-streets", image_size=32, load_size=36, ngf=8, ndf=8, n_blocks=2,
            unpaired=20, eval_limit=4, device="cpu", steps=20, report_every=0,
            checkpoint_every=0)
# Three members differing in seed, selection, budget, λs and image-pool size (4 and 8 fill
# and swap within 20 steps).
MEMBERS = [dict(seed=0, selection="kmedoids", paired_budget=5, image_pool=4),
           dict(seed=1, selection="random", paired_budget=2, lambda_cycle=5.0),
           dict(seed=2, selection="kmedoids", paired_budget=1, lambda_identity=20.0,
                lambda_paired=100.0, image_pool=8),
           dict(seed=3, mode="unpaired", paired_budget=0, image_pool=4)]   # shares packs too
BOUND = 1e-9
NOISE_BOUND = 1e-7   # see norm_fed_biases


pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


def cfg(**changes) -> TrialConfig:
    return TrialConfig(**(TINY | changes))


@pytest.fixture(scope="module")
def float64():
    before = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)   # networks, images and pools in float64
    yield
    torch.set_default_dtype(before)


@pytest.fixture(scope="module")
def alone(tmp_path_factory, float64, one_thread):
    """The members trained alone: (result, final checkpoint) each."""
    root = tmp_path_factory.mktemp("alone")
    out = []
    for k, member in enumerate(MEMBERS[:3]):
        result = train(cfg(**member), root / str(k))
        out.append((result, checkpoint(root / str(k))))
    return out


def checkpoint(workdir) -> dict:
    return torch.load(workdir / "checkpoint" / CHECKPOINT_FILE, weights_only=True)


def norm_fed_biases() -> set[str]:
    """'net.param' names of conv biases that feed an instance norm. Their true gradient is
    exactly zero (the norm subtracts the channel mean), so their values are float noise that
    Adam amplifies (update ~ lr * g / eps for |g| << eps): ~1e-9 after 20 float64 steps in
    both runs, different noise in each, and no effect on any output. Checked to 1e-7."""
    names = set()
    nets = {"g": build_generator("resnet", ngf=8, n_blocks=2),
            "f": build_generator("resnet", ngf=8, n_blocks=2),
            "d_y": build_discriminator("patchgan", ndf=8),
            "d_x": build_discriminator("patchgan", ndf=8)}
    for net_name, net in nets.items():
        for prefix, module in net.named_modules():
            if isinstance(module, nn.Sequential):
                children = list(module.named_children())
                for (name, layer), (_, after) in zip(children, children[1:]):
                    if isinstance(after, nn.InstanceNorm2d) and layer.bias is not None:
                        names.add(f"{net_name}.{prefix + '.' if prefix else ''}{name}.bias")
    return names


def assert_same_networks(a: dict, b: dict) -> None:
    noise = norm_fed_biases()
    for net, weights in a["nets"].items():
        for name, tensor in weights.items():
            bound = NOISE_BOUND if f"{net}.{name}" in noise else BOUND
            diff = (tensor - b["nets"][net][name]).abs().max().item()
            assert diff <= bound, (net, name, diff)


def same_metrics(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(
        a[k] == b[k] or (math.isnan(a[k]) and math.isnan(b[k])) for k in a)


def test_a_pack_of_three_equals_the_three_trials_alone(tmp_path, alone):
    cfgs = [cfg(**m) for m in MEMBERS[:3]]
    outcomes = train_pack(cfgs, [tmp_path / str(k) for k in range(3)])
    for k, (outcome, (result, straight)) in enumerate(zip(outcomes, alone)):
        assert outcome.failure is None and outcome.cfg.key() == cfgs[k].key()
        packed = checkpoint(tmp_path / str(k))
        assert packed["step"] == straight["step"] == 20
        assert_same_networks(straight, packed)
        assert torch.equal(packed["rng"], straight["rng"])          # same draws, same order
        assert packed["pool_y"]["count"] == straight["pool_y"]["count"]
        assert same_metrics(outcome.result.metrics, result.metrics)
        assert outcome.result.paired_indices == result.paired_indices
    assert len(norm_fed_biases()) == 2 * 9 + 2 * 3   # 9 per generator, 3 per discriminator


def test_a_diverging_member_fails_alone_and_the_rest_trains_on(tmp_path, alone):
    bad = cfg(**MEMBERS[1], lambda_paired=1e39)   # 1e39 * L1 overflows float32: g_total = inf
    with pytest.raises(NonFiniteLoss) as solo:
        train(bad, tmp_path / "bad-alone")
    good = cfg(**MEMBERS[0])
    outcomes = train_pack([good, bad], [tmp_path / "good", tmp_path / "bad"])
    assert outcomes[1].result is None and outcomes[1].failure == str(solo.value)
    assert outcomes[1].failure.startswith("non-finite loss at step ")
    assert "g_total = inf" in outcomes[1].failure
    assert not (tmp_path / "bad" / "checkpoint").exists()
    result, straight = alone[0]
    assert_same_networks(straight, checkpoint(tmp_path / "good"))
    assert same_metrics(outcomes[0].result.metrics, result.metrics)


def test_a_pack_resumes_every_member_exactly_also_as_a_smaller_pack(tmp_path, alone):
    cfgs = [cfg(**m, checkpoint_every=10) for m in MEMBERS[:3]]

    class Preempted(Exception):
        pass

    def stop_at_the_first_checkpoint(metrics, folder):
        if folder and metrics["step"] == 10:
            raise Preempted

    dirs = [tmp_path / str(k) for k in range(3)]
    with pytest.raises(Preempted):
        train_pack(cfgs, dirs, [stop_at_the_first_checkpoint, None, None])
    assert all(checkpoint(d)["step"] == 10 for d in dirs)   # every member saved first
    # A retried pack whose member 1 already finished: members 0 and 2 resume together.
    outcomes = train_pack([cfgs[0], cfgs[2]], [dirs[0], dirs[2]])
    for k, outcome in zip((0, 2), outcomes):
        result, straight = alone[k]
        assert_same_networks(straight, checkpoint(dirs[k]))
        assert same_metrics(outcome.result.metrics, result.metrics)
    # A pack member's checkpoint is a solo checkpoint: member 1 finishes alone.
    assert_same_networks(alone[1][1], (train(cfgs[1], dirs[1]), checkpoint(dirs[1]))[1])


def test_compatible_configs_share_packs_and_keys_do_not_change():
    a, b = cfg(seed=0, paired_budget=5), cfg(seed=1, selection="random", lambda_paired=10.0)
    other_size, no_cycle = cfg(image_size=16, load_size=18), cfg(lambda_cycle=0.0)
    packs = group_packs([a, other_size, b, no_cycle, a.replace(seed=2)], size=2)
    assert [[c.key() for c in p] for p in packs] == [
        [a.key(), b.key()], [other_size.key()], [no_cycle.key()], [a.replace(seed=2).key()]]
    assert pack_key(a) == pack_key(b) != pack_key(no_cycle)   # λ 0 drops a term: not packable
    assert pack_key(a) == pack_key(cfg(mode="unpaired", paired_budget=0))
    assert pack_key(a) != pack_key(cfg(mode="paired"))        # no cycle / identity terms
    assert group_packs([a, b], size=1) == [[a], [b]]
    # a default step count comes from the sample counts, so those must agree then
    assert pack_key(a.replace(steps=0)) != pack_key(b.replace(steps=0, paired_budget=2))
    with pytest.raises(TrainError, match="cannot share a pack: image_size 32 != 16"):
        check_compatible([a, other_size])
    released = cfg(variant="released")    # steps the fused step does not compute: alone
    pix2pix = cfg(arch="pix2pix", mode="paired", paired_budget=1, image_size=256, load_size=286)
    assert not packable(released) and not packable(pix2pix) and packable(a)
    assert group_packs([released, released.replace(seed=1)], size=2) == [
        [released], [released.replace(seed=1)]]


def test_members_resuming_from_different_steps_do_not_share_a_pack(tmp_path):
    runs = [TrialRun(cfg(**MEMBERS[k], steps=4), tmp_path / str(k)) for k in range(2)]
    runs[1].state.step = 2
    with pytest.raises(TrainError, match=r"equal resume steps, got \[0, 2\]"):
        PackRun(runs)


def test_the_static_buffer_step_of_cuda_graphs_equals_the_trials_alone(tmp_path, alone):
    """trainer.pack_graph without capture (the CPU): static buffers, paired terms always
    computed and masked, outputs copied out; on a GPU the same step is captured and replayed."""
    cfgs = [cfg(**MEMBERS[k]) for k in (0, 2)]
    outcomes = train_pack(cfgs, [tmp_path / str(k) for k in (0, 2)], graphs=True)
    for k, outcome in zip((0, 2), outcomes):
        result, straight = alone[k]
        assert_same_networks(straight, checkpoint(tmp_path / str(k)))
        assert same_metrics(outcome.result.metrics, result.metrics)


def test_an_unpaired_only_member_shares_a_pack_with_a_hybrid_one(tmp_path, float64):
    """Its slots are never paired, so the pack's paired terms weigh 0 for it. 8 steps: this
    unpaired-only GAN amplifies float noise fast (a pack of one of it differs from the trial
    alone by 6e-16 after 1 step, 3e-14 after 8, 2e-9 after 20), the hybrid ones do not."""
    cfgs = [cfg(**MEMBERS[k], steps=8) for k in (1, 3)]
    outcomes = train_pack(cfgs, [tmp_path / f"pack{k}" for k in range(2)])
    for k, (c, outcome) in enumerate(zip(cfgs, outcomes)):
        result = train(c, tmp_path / f"alone{k}")
        assert_same_networks(checkpoint(tmp_path / f"alone{k}"), checkpoint(tmp_path / f"pack{k}"))
        assert same_metrics(outcome.result.metrics, result.metrics)


@pytest.mark.gpu
@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_cuda_pack_captures_its_graphs_and_follows_the_eager_pack(tmp_path, precision):
    """On a GPU: channels_last fused networks; the graphed pack is captured after its warm-up
    and tracks the eager pack (float32 / bf16 kernels differ in rounding, not in the step)."""
    cfgs = [TrialConfig(**(TINY | m | {"device": "cuda", "steps": 8, "precision": precision}))
            for m in MEMBERS]   # (a pack of four, the unpaired-only member included)
    runs = {}
    for graphs in (False, True):
        members = [TrialRun(c, tmp_path / f"{graphs}{k}") for k, c in enumerate(cfgs)]
        runs[graphs] = PackRun(members, graphs=graphs)
        while not runs[graphs].done:
            runs[graphs].advance()
    assert runs[True].step.graphs is not None
    g_eager, g_graph = runs[False].step.nets["g"], runs[True].step.nets["g"]
    assert g_graph[1].weight.is_contiguous(memory_format=torch.channels_last)
    for p, q in zip(g_eager.parameters(), g_graph.parameters()):
        assert torch.isfinite(q).all()
        if p.ndim == 4 and precision == "fp32":   # < lr: not one step apart in 8
            assert (p - q).abs().max().item() <= 1e-4


def test_a_config_the_fused_step_does_not_support_trains_as_a_trial_alone(tmp_path, alone,
                                                                           monkeypatch):
    """e.g. another step variant or architecture: a pack of one of it is the trial alone,
    bit for bit."""
    monkeypatch.setattr(pack, "packable", lambda cfg: False)
    (outcome,) = train_pack([cfg(**MEMBERS[0])], [tmp_path])
    result, straight = alone[0]
    packed = checkpoint(tmp_path)
    assert all(torch.equal(t, packed["nets"][net][name])
               for net, weights in straight["nets"].items() for name, t in weights.items())
    assert same_metrics(outcome.result.metrics, result.metrics)
    with pytest.raises(TrainError, match="cannot be packed"):
        check_compatible([cfg(**MEMBERS[0]), cfg(**MEMBERS[1])])
