"""Packs on the real toy-streets files: a pack of trials equals the trials trained alone
(float64: to rounding after one step, then within the chaos floor of tests/chaos_floor.py --
10x what a 1-ulp nudge of one weight does over the same steps -- for every network and Adam
moment; final metrics equal), a member whose loss goes non-finite fails alone,
a pack resumes every member exactly (also as a smaller pack), and which configs may share one."""
from __future__ import annotations

import math

import pytest
import torch

from chaos_floor import Floor, ONE_STEP_BOUND, checkpoint, drift, norm_fed, nudged_checkpoint
from trainer.core.config import TrialConfig
from trainer.nets.networks import build_discriminator, build_generator
from trainer.run.loop import PackRun, train, train_pack
from trainer.core.packing import PackError, check_compatible, group_packs, pack_key, packable
from trainer.run.trial import TrainError, TrialRun
from trainer.step.d_first import ReleasedStep
from trainer.step.paper import PaperStep
from trainer.step.watch import NonFiniteLoss

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
STEPS_ONE = 1   # after one float64 step a pack equals its trials to rounding (ONE_STEP_BOUND)
# ... except the norm-fed biases (tests/chaos_floor.py: zero true gradient, pure noise): Adam's
# first update is lr * g / (|g| + eps); for a noise gradient |g| <= 1e-12 (measured ~1e-15) and
# eps = 1e-8 that is at most lr * 1e-4. Measured 4e-11..1e-10.
NORM_FED_ONE_STEP = 2e-4 * 1e-12 / 1e-8


# one_thread: tests/conftest.py; numerics: .ci/run reruns these under other CPU kernel levels
pytestmark = [pytest.mark.usefixtures("one_thread"), pytest.mark.numerics]


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


def noise() -> dict[str, set[str]]:
    """Each network's norm-fed conv biases (tests/chaos_floor.py): a group with its own floor."""
    return {"g": norm_fed(build_generator("resnet", ngf=8, n_blocks=2)),
            "f": norm_fed(build_generator("resnet", ngf=8, n_blocks=2)),
            "d_y": norm_fed(build_discriminator("patchgan", ndf=8)),
            "d_x": norm_fed(build_discriminator("patchgan", ndf=8))}


@pytest.fixture(scope="module")
def floors(tmp_path_factory, alone):
    """Per member trained alone: the drift a 1-ulp nudge of one weight causes over the same 20
    steps (measured here, on this machine's kernels): the bound of every pack comparison."""
    root = tmp_path_factory.mktemp("nudged")
    return [Floor(straight, nudged_checkpoint(cfg(**member), root / str(k)), noise())
            for k, (member, (_, straight)) in enumerate(zip(MEMBERS, alone))]


def same_metrics(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(
        a[k] == b[k] or (math.isnan(a[k]) and math.isnan(b[k])) for k in a)


def test_after_one_step_a_pack_equals_its_trials_alone_to_rounding(tmp_path, float64):
    """Nothing amplified yet: every tensor group within ONE_STEP_BOUND of the trial alone."""
    cfgs = [cfg(**m, steps=STEPS_ONE) for m in MEMBERS[:3]]
    train_pack(cfgs, [tmp_path / f"pack{k}" for k in range(3)])
    for k, c in enumerate(cfgs):
        train(c, tmp_path / f"alone{k}")
        diffs = drift(checkpoint(tmp_path / f"alone{k}"), checkpoint(tmp_path / f"pack{k}"),
                      noise())
        assert len(diffs) == 4 * 2 + 2 * 2   # 4 nets (weights, norm-fed biases), 2 Adams x 2
        for group, diff in diffs.items():
            bound = NORM_FED_ONE_STEP if group.endswith("norm_fed_bias") else ONE_STEP_BOUND
            assert diff <= bound, (k, group, diff)


def test_a_pack_of_three_equals_the_three_trials_alone(tmp_path, alone, floors):
    cfgs = [cfg(**m) for m in MEMBERS[:3]]
    outcomes = train_pack(cfgs, [tmp_path / str(k) for k in range(3)])
    for k, (outcome, (result, straight)) in enumerate(zip(outcomes, alone)):
        assert outcome.failure is None and outcome.cfg.key() == cfgs[k].key()
        packed = checkpoint(tmp_path / str(k))
        assert packed["step"] == straight["step"] == 20
        floors[k].check(straight, packed)
        assert torch.equal(packed["rng"], straight["rng"])          # same draws, same order
        assert packed["pool_y"]["count"] == straight["pool_y"]["count"]
        assert same_metrics(outcome.result.metrics, result.metrics)
        assert outcome.result.paired_indices == result.paired_indices
    assert sum(map(len, noise().values())) == 2 * 9 + 2 * 3   # 9 per generator, 3 per D


def test_a_diverging_member_fails_alone_and_the_rest_trains_on(tmp_path, alone, floors):
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
    floors[0].check(straight, checkpoint(tmp_path / "good"))
    assert same_metrics(outcomes[0].result.metrics, result.metrics)


def test_a_pack_resumes_every_member_exactly_also_as_a_smaller_pack(tmp_path, alone, floors):
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
        floors[k].check(straight, checkpoint(dirs[k]))
        assert same_metrics(outcome.result.metrics, result.metrics)
    # A pack member's checkpoint is a solo checkpoint: member 1 finishes alone.
    train(cfgs[1], dirs[1])
    floors[1].check(alone[1][1], checkpoint(dirs[1]))


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
    with pytest.raises(PackError, match="cannot share a pack: image_size 32 != 16"):
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


def test_the_static_buffer_step_of_cuda_graphs_equals_the_trials_alone(tmp_path, alone, floors):
    """trainer.step.graph without capture (the CPU): static buffers, paired terms always
    computed and masked, outputs copied out; on a GPU the same step is captured and replayed."""
    cfgs = [cfg(**MEMBERS[k]) for k in (0, 2)]
    outcomes = train_pack(cfgs, [tmp_path / str(k) for k in (0, 2)], graphs=True)
    for k, outcome in zip((0, 2), outcomes):
        result, straight = alone[k]
        floors[k].check(straight, checkpoint(tmp_path / str(k)))
        assert same_metrics(outcome.result.metrics, result.metrics)


def test_an_unpaired_only_member_shares_a_pack_with_a_hybrid_one(tmp_path, float64):
    """Its slots are never paired, so the pack's paired terms weigh 0 for it. 8 steps, each
    member bounded by its own measured floor over those 8 steps."""
    cfgs = [cfg(**MEMBERS[k], steps=8) for k in (1, 3)]
    outcomes = train_pack(cfgs, [tmp_path / f"pack{k}" for k in range(2)])
    for k, (c, outcome) in enumerate(zip(cfgs, outcomes)):
        result = train(c, tmp_path / f"alone{k}")
        straight = checkpoint(tmp_path / f"alone{k}")
        floor = Floor(straight, nudged_checkpoint(c, tmp_path / f"nudged{k}"), noise())
        floor.check(straight, checkpoint(tmp_path / f"pack{k}"))
        assert same_metrics(outcome.result.metrics, result.metrics)


@pytest.mark.gpu
@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_cuda_pack_captures_its_graphs_and_follows_the_eager_pack(tmp_path, precision):
    """On a GPU: the graphed pack is captured after its warm-up, passes its self-check (first
    replay vs an eager step on the same state) and tracks the eager pack (float32 / bf16
    kernels differ in rounding, not in the step); channels_last stays off by default."""
    cfgs = [TrialConfig(**(TINY | m | {"device": "cuda", "steps": 8, "precision": precision}))
            for m in MEMBERS]   # (a pack of four, the unpaired-only member included)
    runs = {}
    for graphs in (False, True):
        members = [TrialRun(c, tmp_path / f"{graphs}{k}") for k, c in enumerate(cfgs)]
        runs[graphs] = PackRun(members, graphs=graphs)
        while not runs[graphs].done:
            runs[graphs].advance()
    assert runs[True].step.graphed and runs[True].step.fallback is None
    g_eager, g_graph = runs[False].step.nets["g"], runs[True].step.nets["g"]
    assert not g_graph[1].weight.is_contiguous(memory_format=torch.channels_last)
    for p, q in zip(g_eager.parameters(), g_graph.parameters()):
        assert torch.isfinite(q).all()
        if p.ndim == 4 and precision == "fp32":   # < lr: not one step apart in 8
            assert (p - q).abs().max().item() <= 1e-4


def test_every_variant_runs_through_the_one_loop_and_only_the_paper_step_packs(tmp_path):
    """A trial alone of the paper's step is the fused step at K = 1; the released step (and
    pix2pix's) is a Step of its own, K = 1, through the same loop; neither packs."""
    paper = PackRun([TrialRun(cfg(**MEMBERS[0], steps=2), tmp_path / "paper")])
    assert isinstance(paper.step, PaperStep) and paper.step.k == 1
    released = cfg(**MEMBERS[0], steps=2, variant="released")
    run = PackRun([TrialRun(released, tmp_path / "released")])
    assert isinstance(run.step, ReleasedStep)
    while not run.done:
        run.advance()
    (outcome,) = run.finish()
    assert outcome.result.steps_done == 2 and checkpoint(tmp_path / "released")["step"] == 2
    with pytest.raises(PackError, match="cannot be packed"):
        check_compatible([released, released.replace(seed=1)])


def test_lambdas_weigh_in_the_runs_dtype(tmp_path, float64):
    """λ_cycle = 1/3, which float32 cannot represent (off by 1e-8 relative): in a float64 run
    g_total is the float64 sum of λ x term (summing ~10 float64 terms rounds at ~1e-15)."""
    c = cfg(**MEMBERS[0], lambda_cycle=1 / 3, steps=1)
    run = PackRun([TrialRun(c, tmp_path)])
    assert {w.dtype for w in run.step.weights.values()} == {torch.float64}
    member = run.members[0]
    slot = member.trial.plan.slot(0)
    terms = run.step(*member.trial.feed.batch(slot, member.state.rng), [slot.paired])
    weights = member.trial.rules.weights
    expected = sum(weights.of(n) * v.item() for n, v in terms.items()
                   if n not in ("g_total", "d_y", "d_x"))
    assert abs(terms["g_total"].item() - expected) <= 1e-13 * abs(expected)


def test_each_member_reports_the_means_of_its_own_window(tmp_path, float64):
    """Members reporting every 2 and every 3 steps share stops at 2, 3, 4, 6: each report's loss
    means cover the member's own steps since its previous report, as alone (bounded by the
    chaos floor of a 1-ulp nudge; a window one step off moves a mean by far more)."""
    cfgs = [cfg(**MEMBERS[0], steps=6, report_every=2), cfg(**MEMBERS[1], steps=6,
                                                              report_every=3)]
    packed = [[] for _ in cfgs]
    train_pack(cfgs, [tmp_path / f"pack{k}" for k in range(2)],
               [lambda m, _, k=k: packed[k].append(m) for k in range(2)])
    for k, c in enumerate(cfgs):
        alone_reports, nudged_reports = [], []
        train(c, tmp_path / f"alone{k}", lambda m, _: alone_reports.append(m))
        nudged_checkpoint(c, tmp_path / f"nudged{k}", lambda m, _: nudged_reports.append(m))
        assert [m["step"] for m in packed[k]] == [m["step"] for m in alone_reports]
        for ours, theirs, nudged in zip(packed[k], alone_reports, nudged_reports):
            for name in ("g_total", "d_y", "cycle_x"):
                if name not in theirs:   # (the final metrics report)
                    continue
                floor = abs(nudged[name] - theirs[name])
                bound = max(10 * floor, ONE_STEP_BOUND * abs(theirs[name]))
                assert abs(ours[name] - theirs[name]) <= bound, (k, ours["step"], name)


def test_the_floor_tells_a_real_difference_apart(tmp_path, alone, floors):
    """The bound is no blanket: a trial whose paired weight differs by 1/150 lies outside it."""
    result, straight = alone[0]
    train(cfg(**MEMBERS[0], lambda_paired=151.0), tmp_path)
    with pytest.raises(AssertionError):
        floors[0].check(straight, checkpoint(tmp_path))
