"""Fidelity: fewpair's steps against hand transcriptions of upstream CycleGAN's, the authors'
released step and pix2pix's (float64, tiny networks, parameter by parameter); pix2pix's
networks at the published sizes; the variant / arch switches and the keys they leave alone."""
from __future__ import annotations

import copy
import json
import re

import pytest
import torch

from reference_steps import Reference, cyclegan_step, pix2pix_step, released_step
from trainer.core.config import ConfigError, TrialConfig
from trainer.step.build import make_step
from trainer.step.checkpoint import load_checkpoint, write_checkpoint
from trainer.step.d_first import Pix2PixStep, ReleasedStep
from trainer.step.paper import PaperStep
from trainer.step.state import StepRules, build_state, translator
from trainer.core.vocabulary import ARCHITECTURES
from trainer.nets.networks import count_parameters, discriminator_for, generator_for
from trainer.step.lr import epoch_lr_factor
from trainer.run.cli import main

CPU = torch.device("cpu")
TINY = dict(image_size=32, load_size=32, ngf=8, ndf=8, n_blocks=2)
# float64. Weights agree to ~1e-15; biases that feed instance norm have an exactly zero true
# gradient, and Adam turns its ~1e-16 rounding noise into steps of ~1e-10 (an Adam step moves a
# weight by ~lr = 2e-4, so 1e-9 still tells any real difference apart).
TOLERANCE = 1e-9

# one_thread: tests/conftest.py; numerics: .ci/run reruns these under other CPU kernel levels
pytestmark = [pytest.mark.usefixtures("one_thread"), pytest.mark.numerics]


def double_state(total: int = 10, epoch_length: int = 0, checkpoint=None, **changes):
    """A float64 state and the one Step of its variant (trainer.step.build), resumed from
    `checkpoint` when given; the fresh Adam holds no state yet, so .double() is safe."""
    cfg = TrialConfig(**(TINY | changes))
    state = build_state(cfg, CPU, total, epoch_length)
    for net in (state.g, state.f, state.d_y, state.d_x):
        net.double()
    if checkpoint:
        load_checkpoint(state, checkpoint)
    return state, make_step([state], [StepRules.from_config(cfg, CPU)])


def images(step: int) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(500 + step)
    return tuple(torch.rand(1, 3, 32, 32, generator=gen, dtype=torch.float64) * 2 - 1
                 for _ in range(2))


def reference_of(state) -> Reference:
    """Copies of the state's networks (before any step) as the reference names them."""
    return Reference(*(copy.deepcopy(n) for n in (state.g, state.f, state.d_y, state.d_x)))


def assert_same_parameters(state, ref: Reference) -> None:
    pairs = (("G", state.g, ref.g_a), ("F", state.f, ref.g_b), ("D_Y", state.d_y, ref.d_a),
             ("D_X", state.d_x, ref.d_b))
    for name, ours, theirs in pairs:
        for (pname, p), q in zip(ours.named_parameters(), theirs.parameters()):
            assert (p - q).abs().max().item() <= TOLERANCE, f"{name}.{pname}"


def test_the_paper_step_equals_upstream_cyclegan():
    """LSGAN, identity weight 5 (= CycleGAN's lambda_identity 0.5 x lambda_A 10)."""
    state, step = double_state(mode="unpaired", paired_budget=0, gan_loss="lsgan",
                               lambda_identity=5.0)
    assert isinstance(step, PaperStep)   # the fused step, K = 1
    ref = reference_of(state)
    for s in range(2):
        x, y = images(s)
        ours = step(x, y, [False])["g_total"]
        theirs = cyclegan_step(ref, x, y)
        assert abs(ours.item() - theirs.item()) <= TOLERANCE
    assert_same_parameters(state, ref)


def test_the_released_step_equals_the_released_code():
    """A paired step, then an unpaired one, as the released hybrid model runs them."""
    state, step = double_state(variant="released", paired_budget=1)
    assert isinstance(step, ReleasedStep)
    ref = reference_of(state)
    for s, aligned in enumerate((True, False)):
        x, y = images(s)
        terms = step(x, y, [aligned])
        theirs = released_step(ref, x, y, aligned)
        assert abs(terms["g_total"].item() - theirs.item()) <= TOLERANCE
        assert list(terms)[:2] == ["d_y", "d_x"]          # the discriminators went first
    assert_same_parameters(state, ref)


def test_the_released_step_has_no_cycle_gradient():
    """lambda_cycle changes the reported total but not one parameter; in the paper's step it
    changes the generators."""
    def trained(**changes):
        state, step = double_state(paired_budget=1, **changes)
        totals = [step(*images(s), [s == 0])["g_total"].item() for s in range(2)]
        return state, totals
    released, released_totals = trained(variant="released")
    no_cycle, no_cycle_totals = trained(variant="released", lambda_cycle=0.0)
    assert released_totals != no_cycle_totals
    for p, q in zip(released.g.parameters(), no_cycle.g.parameters()):
        assert torch.equal(p, q)
    paper, _ = trained()
    paper_no_cycle, _ = trained(lambda_cycle=0.0)
    assert any(not torch.equal(p, q) for p, q in zip(paper.g.parameters(),
                                                     paper_no_cycle.g.parameters()))


def test_pix2pix_step_equals_pix2pix():
    """G and D_Y against pix2pix's A -> B model (F and D_X are the B -> A model, untouched by
    G's terms: Adam is elementwise, so one optimiser over both equals one each)."""
    state, step = double_state(arch="pix2pix", mode="paired", paired_budget=1)
    assert isinstance(step, Pix2PixStep)
    g, d = copy.deepcopy(state.g), copy.deepcopy(state.d_y)
    opt_g = torch.optim.Adam(g.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(d.parameters(), lr=2e-4, betas=(0.5, 0.999))
    for s in range(2):
        x, y = images(s)
        terms = step(x, y, [True])
        theirs = pix2pix_step(g, d, opt_g, opt_d, x, y)
        ours = terms["adv_g"] + 100 * terms["paired_y"]
        assert abs(ours.item() - theirs.item()) <= TOLERANCE
    for ours, theirs in ((state.g, g), (state.d_y, d)):
        for (name, p), q in zip(ours.named_parameters(), theirs.parameters()):
            assert (p - q).abs().max().item() <= TOLERANCE, name


def test_a_released_checkpoint_resumes_its_pools_exactly(tmp_path):
    def run(state, step, until):
        for s in range(state.step, until):
            step(*images(s), [s % 2 == 0])
    straight, straight_step = double_state(variant="released", paired_budget=1, image_pool=2)
    sizes = {name: pool.size for name, pool in straight.pools.items()}
    assert sizes == {"fake_y@paired": 10, "fake_x@paired": 10, "real_y@paired": 10,
                     "real_x@paired": 10, "real_y@unpaired": 2, "real_x@unpaired": 2}
    assert straight.pool_y.size == 2   # the unpaired steps' fakes: image_pool
    run(straight, straight_step, 8)
    first, first_step = double_state(variant="released", paired_budget=1, image_pool=2)
    run(first, first_step, 4)
    write_checkpoint(first_step.payload(0), tmp_path)
    resumed, resumed_step = double_state(variant="released", paired_budget=1, image_pool=2,
                                         checkpoint=tmp_path)
    assert resumed.pools["real_y@unpaired"].count == 2
    run(resumed, resumed_step, 8)
    for p, q in zip(straight.g.parameters(), resumed.g.parameters()):
        assert torch.equal(p, q)
    for name, pool in straight.pools.items():   # (slots past `count` are never read)
        again = resumed.pools[name]
        assert pool.count == again.count and pool.count > 0, name
        assert torch.equal(pool.images[:pool.count], again.images[:again.count]), name


def test_per_epoch_lr_follows_pix2pix_lambda_rule():
    # 4 epochs of 3 steps: 2 at 1, then 1 - 1/3, 1 - 2/3
    assert [epoch_lr_factor(s, 12, 3) for s in range(0, 12, 3)] == pytest.approx(
        [1, 1, 2 / 3, 1 / 3])
    assert epoch_lr_factor(0, 2, 5) == 1.0   # shorter than one epoch: constant
    state, step = double_state(total=12, epoch_length=3, variant="released", paired_budget=1)
    lrs = []
    for s in range(7):
        lrs.append(state.opt_gen.param_groups[0]["lr"])
        step(*images(s), [False])
    assert lrs == pytest.approx([2e-4] * 6 + [2e-4 * 2 / 3])


def test_pix2pix_networks_have_the_published_sizes():
    cfg = TrialConfig(arch="pix2pix", mode="paired", paired_budget=1, image_size=256)
    gen = torch.Generator().manual_seed(0)
    unet = generator_for(cfg, gen)
    assert count_parameters(unet) == 54_414_019
    assert count_parameters(discriminator_for(cfg, gen)) == 2_769_601
    dropouts = [m for m in unet.modules() if isinstance(m, torch.nn.Dropout)]
    assert len(dropouts) == 3 and all(m.p == 0.5 for m in dropouts)


def test_pix2pix_translates_each_image_on_its_own_statistics():
    state, step = double_state(arch="pix2pix", mode="paired", paired_budget=1)
    x = torch.cat([images(0)[0], images(1)[0]])
    together = translator(state, step.rules, "AtoB")(x)
    alone = torch.cat([translator(state, step.rules, "AtoB")(x[i:i + 1]) for i in range(2)])
    assert together.shape == (2, 3, 32, 32) and torch.allclose(together, alone, atol=1e-12)
    assert state.g.training   # back in training mode for the next step


def test_the_config_accepts_exactly_the_registered_archs():
    assert ARCHITECTURES.names() == ["pix2pix", "resnet"]
    assert TrialConfig(arch="resnet").arch == "resnet"
    with pytest.raises(ConfigError, match="arch='unet'.*pix2pix, resnet"):
        TrialConfig(arch="unet")


def test_variant_and_arch_set_what_they_imply():
    released = TrialConfig(variant="released")
    assert (released.mix, released.balance) == ("alternate", False)
    pix = TrialConfig(arch="pix2pix", mode="paired", paired_budget=1, image_size=64)
    assert (pix.gan_loss, pix.lambda_paired, pix.image_pool) == ("vanilla", 100.0, 0)
    tuned = TrialConfig(arch="pix2pix", mode="paired", paired_budget=1, image_size=64,
                        lambda_paired=50.0)
    assert tuned.lambda_paired == 50.0   # a value the user chose stays
    chosen = TrialConfig(arch="pix2pix", mode="paired", paired_budget=1, image_size=64,
                         lambda_paired=150.0, gan_loss="rsgan")
    assert (chosen.gan_loss, chosen.lambda_paired) == ("rsgan", 150.0)   # even fewpair's default
    unbalanced = TrialConfig(variant="released", balance=False, mix="alternate")
    assert unbalanced == released   # what the preset would fill, given: no conflict


@pytest.mark.parametrize("changes,message", [
    (dict(variant="released", mix="staged"), "mix='staged' conflicts with variant='released' "
                                             "(which runs every pair, then every unpaired sample"),
    (dict(variant="released", mix="interleave"), "mix='interleave' conflicts with variant="),
    (dict(variant="released", balance=True), "balance=True conflicts with variant='released' "
                                             "(which trains unbalanced)"),
    (dict(arch="pix2pix"), "arch='pix2pix' trains on pairs only: mode='hybrid'"),
    (dict(arch="pix2pix", mode="paired", image_size=48, load_size=54),
     "image_size=48: arch='pix2pix' needs a power of two >= 32"),
    (dict(arch="pix2pix", mode="paired", variant="released"), "variant='released' is the"),
    (dict(arch="pix2pix", mode="paired", image_pool=10), "image_pool=10 conflicts with "
     "arch='pix2pix' (which trains its discriminator on this step's fakes, image_pool 0)"),
    (dict(arch="pix2pix", mode="paired", image_pool=50), "image_pool=50 conflicts with "),
    (dict(variant="forum"), "variant='forum' is not one of paper, released"),
    (dict(arch="vgg"), "arch='vgg' is not one of pix2pix, resnet"),
])
def test_bad_variant_or_arch_names_the_field(changes, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        TrialConfig(**({"paired_budget": 1} | changes))


def test_trials_that_existed_keep_their_keys():
    """variant / arch enter key() only when set away from their defaults (keys computed before
    the fields existed)."""
    assert TrialConfig().key() == "1a616d33974a5250"
    assert TrialConfig(mode="paired", paired_budget=-1, unpaired=-1, seed=3).key() == \
        "b58db47019fc37cb"
    assert TrialConfig(variant="paper", arch="resnet").key() == "1a616d33974a5250"
    keys = {TrialConfig(variant="released").key(),
            TrialConfig(arch="pix2pix", mode="paired").key(), TrialConfig().key()}
    assert len(keys) == 3
    row = TrialConfig(variant="released").to_row()
    assert (row["variant"], row["arch"]) == ("released", "resnet")


@pytest.mark.parametrize("flags,expected", [
    (["--variant", "released"], dict(variant="released", arch="resnet", mix="alternate")),
    (["--arch", "pix2pix", "--mode", "paired"], dict(variant="paper", arch="pix2pix",
                                                     gan_loss="vanilla", lambda_paired=100.0)),
])
def test_the_cli_trains_a_tiny_released_or_pix2pix_trial(tmp_path, capsys, flags, expected):
    argv = ["--dataset", "toy-streets", "--paired-budget", "1", "--unpaired", "8", "--steps", "6",
            "--image-size", "32", "--ngf", "8", "--ndf", "8", "--n-blocks", "2",
            "--eval-limit", "4", "--device", "cpu", "--workdir", str(tmp_path), "--json", *flags]
    assert main(argv) == 0
    row = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert {k: row[k] for k in expected} == expected
    assert row["steps_done"] == 6 and 0 < row["pixel_acc"] <= 1
    assert row["trial_key"] == TrialConfig.from_dict(
        {k: row[k] for k in TrialConfig.__dataclass_fields__}).key()
