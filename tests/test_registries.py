"""Adding a GAN loss or a dataset is one registration: config validation, the step rule, the
dataset facts and the trainer all read the registries (no second list to update)."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from trainer.step import losses
from trainer.core.config import ConfigError, TrialConfig
from trainer.data import dataset_info, open_split
from trainer.data.registry import register_toy, unregister_dataset
from trainer.data.toy_streets import write_toy_streets
from trainer.eval.facts import dataset_facts
from trainer.core.registry import Registry
from trainer.run.schedule import total_steps
from trainer.run.loop import train

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py

TOY_LOSS, TOY_SET = "toy-hinge", "toy-streets-mini"


@pytest.fixture
def toy_registrations():
    """A hinge GAN loss that counts its calls and a 12-image street set, each registered once
    (a decorator) and unregistered after the test."""
    calls = {"d": 0, "g": 0}

    @losses.GAN_LOSSES.register(TOY_LOSS)
    def _hinge() -> losses.GanLoss:
        def d(real, fake):
            calls["d"] += 1
            return (1 - real).clamp(min=0).mean() + (1 + fake).clamp(min=0).mean()

        def g(real, fake):
            calls["g"] += 1
            return -fake.mean()
        return losses.GanLoss(d=d, g=g)

    register_toy(TOY_SET, layout="cityscapes", kind="segmentation", version=1,
                 variants={"default": {"train": 12, "val": 4}}, classes="cityscapes-19",
                 )(write_toy_streets)
    try:
        yield calls
    finally:
        losses.GAN_LOSSES.unregister(TOY_LOSS)
        unregister_dataset(TOY_SET)


def test_a_registered_loss_and_dataset_are_accepted_and_trained(toy_registrations, tmp_path):
    cfg = TrialConfig(dataset=TOY_SET, gan_loss=TOY_LOSS, mode="hybrid", paired_budget=2,
                      unpaired=8, image_size=32, load_size=36, ngf=8, ndf=8, n_blocks=2,
                      eval_limit=2, device="cpu", steps=3, report_every=0, checkpoint_every=0)
    assert dataset_info(TOY_SET).train_size == 12 and len(open_split(TOY_SET, "train")) == 12
    assert dataset_facts()[TOY_SET]["protocols"] == {"AtoB": "segmentation", "BtoA": "fcn-score"}
    assert total_steps(cfg.replace(steps=0, unpaired=-1, eval_split="val")) == 200 * (12 + 12)
    result = train(cfg, tmp_path)
    assert result.steps_done == 3 and result.protocol == "segmentation"
    assert toy_registrations["g"] >= 3 and toy_registrations["d"] >= 3   # the trainer used it
    assert 0.0 <= result.metrics["mean_iou"] <= 1.0


def test_unregistered_names_fail_in_config_validation_listing_the_registry():
    with pytest.raises(ConfigError, match=r"gan_loss='toy-hinge' is not one of lsgan, ralsgan"):
        TrialConfig(gan_loss=TOY_LOSS)
    table = Registry("widget")
    table.register("a")(object())
    with pytest.raises(ValueError, match=r"unknown widget 'b' \(valid: a\)"):
        table["b"]
    with pytest.raises(RuntimeError, match="widget 'a' registered twice"):
        table.register("a")(object())


def test_declared_names_validate_without_their_module_and_each_gets_its_entry():
    """cfg.gan_loss / cfg.arch are validated by trainer.core.vocabulary (no torch); the torch
    modules fill what it declares, and every architecture names registered networks."""
    from trainer.core.vocabulary import ARCHITECTURES, GAN_LOSSES
    from trainer.nets.networks import DISCRIMINATORS, GENERATORS
    assert GAN_LOSSES is losses.GAN_LOSSES and GAN_LOSSES.unfilled() == []
    assert GAN_LOSSES.names() == ["lsgan", "ralsgan", "rasgan", "rsgan", "vanilla"]
    for name in ARCHITECTURES:
        arch = ARCHITECTURES[name]
        assert arch.generator in GENERATORS.names(), name
        assert arch.discriminator in DISCRIMINATORS.names(), name
    table = Registry("widget", declared=("a", "b"), home="some.module")
    table.validate("b")   # a declared name validates before its entry exists
    with pytest.raises(ValueError, match=r"unknown widget 'c' \(valid: a, b\)"):
        table.validate("c")
    table.register("a")(object())
    assert table.names() == ["a", "b"] and "b" in table and table.unfilled() == ["b"]
    with pytest.raises(RuntimeError, match="widget 'b' is declared but not registered: import "
                                           "some.module first"):
        table["b"]


def test_the_torch_free_names_are_exactly_the_implemented_ones():
    """A fresh interpreter reads the declared strategy, extractor and loss names without torch;
    importing the implementations fills each one and adds none (so no list can drift)."""
    code = ("import sys, json; from trainer.core import vocabulary as v; "
            "print(json.dumps([[t.names() for t in (v.STRATEGIES, v.EXTRACTORS, v.GAN_LOSSES)], "
            "'torch' in sys.modules]))")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=Path(__file__).resolve().parents[1], check=True)
    declared, torch_loaded = json.loads(run.stdout)
    from trainer.selection import EXTRACTORS, STRATEGIES
    assert not torch_loaded
    for table, names in zip((STRATEGIES, EXTRACTORS, losses.GAN_LOSSES), declared):
        assert table.unfilled() == [] and table.names() == names, table.kind
    assert declared[0] == ["kcenter", "kmedoids", "random", "typiclust"]
    assert declared[1] == ["resnet50-imagenet", "thumbnails-offline"]
