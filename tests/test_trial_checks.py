"""Every value a trial would reject is rejected before it trains: in the plan (before Ray, one
`error:` line), in the trial CLI (one line, not a traceback mid-training), and -- should one slip
past the plan -- inside the trial as a `failed` row at once, never retried."""
from __future__ import annotations

import dataclasses
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from ray import cloudpickle

from sweeps.tune import grid_sweep
from sweeps.store import results
from sweeps.plan.sweep import plan_sweep
from trainer.run import cli
from trainer.nets import networks, sizes
from trainer.core.vocabulary import ARCHITECTURES
from trainer.core.config import ConfigError, TrialConfig
from trainer.run.checks import check_trial

cloudpickle.register_pickle_by_value(sys.modules[__name__])   # CountingTrain runs in trials


def _forward_ok(arch_name: str, size: int) -> bool:
    """Whether the real networks (tiny widths) train on size² crops: G keeps the size (L1 and
    cycle compare them) and D's patch map exists."""
    arch = networks.architecture(arch_name)
    shape = SimpleNamespace(ngf=2, n_blocks=1, image_size=size)
    try:
        gen = networks.build_generator(arch.generator, **arch.generator_kwargs(shape))
        disc = networks.build_discriminator(arch.discriminator, ndf=2)
        with torch.no_grad():
            x = torch.zeros(1, 3, size, size)
            y = gen(x)
            disc(torch.cat([x, y], 1) if arch.conditional else y)
    except (RuntimeError, ValueError):
        return False
    return tuple(y.shape[-2:]) == (size, size)


SIZES = (*range(8, 73), 95, 96, 100, 127, 128, 130, 255, 256)   # odd, even, powers of two


@pytest.mark.parametrize("arch_name", ARCHITECTURES.names())
def test_the_size_rule_agrees_with_the_real_networks(arch_name, one_thread):
    """trainer.nets.sizes computes the accepted sizes without torch; the networks, built and
    run at each size, accept exactly those (ResNet: multiples of 4 from 24; pix2pix: powers of
    two from 32), so the arithmetic cannot drift from the layers."""
    accepted = []
    for size in SIZES:
        problem = sizes.size_problem(arch_name, size)
        assert (problem is None) == _forward_ok(arch_name, size), (arch_name, size, problem)
        accepted += [size] if problem is None else []
    assert accepted == {"resnet": [s for s in SIZES if s % 4 == 0 and s >= 24],
                        "pix2pix": [32, 64, 128, 256]}[arch_name]


def test_every_network_has_a_size_rule():
    assert sorted(sizes.GENERATOR_SIZES) == networks.GENERATORS.names()
    assert sorted(sizes.DISCRIMINATOR_SIZES) == networks.DISCRIMINATORS.names()


def test_a_size_problem_names_the_nearest_accepted_sizes():
    assert sizes.size_problem("resnet", 31) == (
        "image_size=31: arch 'resnet': its resnet generator turns 31² into 32²; nearest sizes "
        "it accepts: 28 or 32")
    assert "patch map" in sizes.size_problem("resnet", 16)
    assert sizes.size_problem("pix2pix", 48) == (
        "image_size=48: arch 'pix2pix': its unet generator's skip connection joins a 3² map "
        "with a 2² one; nearest sizes it accepts: 32 or 64")


@pytest.mark.parametrize("field, value, message", [
    ("selection", "kmedoid", "unknown selection strategy 'kmedoid' (did you mean 'kmedoids'?)"),
    ("pool_selection", "kcentre", "(did you mean 'kcenter'?)"),
    ("features", "thumbnail-offline", "(did you mean 'thumbnails-offline'?)"),
    ("unpaired_labels", "toy-synthlabels-fa", "(did you mean 'toy-synthlabels-far'?)"),
    ("eval_split", "vall", "eval_split='vall' is not one of train, val, holdout"),
    ("unpaired", 301, "unpaired=301 is larger than toy-streets's 300 training samples"),
    ("image_size", 30, "image_size=30: arch 'resnet'"),
])
def test_check_trial_rejects_what_a_trial_would(field, value, message):
    cfg = TrialConfig(image_size=32, load_size=36, paired_budget=1).replace(**{field: value})
    with pytest.raises(ConfigError) as caught:
        check_trial(cfg)
    assert message in str(caught.value)
    check_trial(TrialConfig(image_size=32, load_size=36, paired_budget=1))   # the base passes


def test_holdout_needs_training_samples_outside_the_pool():
    cfg = TrialConfig(unpaired=300, paired_budget=1, eval_split="holdout")
    with pytest.raises(ConfigError, match="leaves none of toy-streets's 300"):
        check_trial(cfg)


def test_a_misspelt_field_is_named_with_a_suggestion():
    with pytest.raises(ConfigError, match=r"unknown config field 'selction' \(did you mean "
                                          r"'selection'\?\)"):
        TrialConfig.from_dict({"selction": "random"})
    with pytest.raises(ConfigError, match=r"mode='hybird' is not one of .*did you mean 'hybrid'"):
        TrialConfig(mode="hybird")


def test_trainer_cli_refuses_an_odd_image_size_in_one_line(tmp_path, capsys):
    argv = ["--image-size", "31", "--steps", "2", "--workdir", str(tmp_path / "w")]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert err == ("error: image_size=31: arch 'resnet': its resnet generator turns 31² into "
                   "32²; nearest sizes it accepts: 28 or 32\n")
    assert not (tmp_path / "w").exists()


@pytest.mark.parametrize("argv, message", [
    (["--set", "selection=kmedoid"], "unknown selection strategy 'kmedoid' (did you mean "),
    (["--set", "image_size=30", "--set", "load_size=34"], "image_size=30: arch 'resnet': "),
    (["--set", "selction=random"], "--set selction: unknown TrialConfig field (did you mean "
                                   "'selection'?)"),
    ([a for n in ("adv", "cycle", "identity", "paired") for a in ("--set", f"lambda_{n}=0")],
     "with every lambda of its terms at 0 trains nothing"),   # the case the plan once missed
    (["--set", "variant=released", "--set", "balance=true"],
     "balance=True conflicts with variant='released' (which trains unbalanced)"),
])
@pytest.mark.parametrize("dry_run", [True, False])
def test_run_grid_refuses_a_bad_value_before_ray(small_streets, tmp_path, capsys, argv,
                                                 message, dry_run):
    store = tmp_path / "res"
    full = ["--grid", "smoke", "--data-root", small_streets, "--storage", str(store), *argv]
    assert grid_sweep.main(full + (["--dry-run"] if dry_run else [])) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and message in err, err
    assert not store.exists()   # nothing written


def test_a_grid_file_with_a_misspelt_strategy_is_refused(small_streets, tmp_path, capsys):
    grid = tmp_path / "g.yaml"
    grid.write_text("name: g\ndataset: toy-streets\nbase: {image_size: 32, load_size: 36}\n"
                    "arms:\n  - label: a\n    fixed: {mode: hybrid, paired_budget: 1}\n"
                    "    axes: {selection: [random, kmedoid]}\n")
    assert grid_sweep.main(["--grid-file", str(grid), "--data-root", small_streets,
                            "--storage", str(tmp_path / "res"), "--dry-run"]) == 2
    assert "(did you mean 'kmedoids'?)" in capsys.readouterr().err


class CountingTrain:
    """The real trainer, leaving a mark per call (a retried trial would leave a second)."""

    def __init__(self, marks: Path):
        self.marks = marks

    def __call__(self, cfg, workdir: str, report):
        from trainer.run.loop import train
        (self.marks / f"{cfg.key()}-{len(list(self.marks.iterdir()))}").write_text(workdir)
        return train(cfg, workdir, report=report)


def test_a_config_error_past_the_plan_is_a_failed_row_at_once(ray_session, small_streets,
                                                             tmp_path):
    marks = tmp_path / "marks"
    marks.mkdir()
    args = grid_sweep.build_parser().parse_args(
        ["--grid", "smoke", "--data-root", small_streets, "--storage", str(tmp_path / "res"),
         "--gpus-per-trial", "0", "--max-failures", "2"])
    plan = plan_sweep(args)
    bad = plan.cfgs[0].replace(image_size=30, load_size=34)   # what the plan's checks refuse
    plan = dataclasses.replace(plan, cfgs=[bad], todo=[bad])
    outcome = grid_sweep.run_sweep(plan, args, train_fn=CountingTrain(marks))
    assert not outcome.errors                  # ended normally: nothing for Tune to retry
    assert list(marks.iterdir()) == []         # and it never started training
    row = results.read_rows(plan.results, "smoke").set_index("trial_key").loc[bad.key()]
    assert row["status"] == "failed"
    assert row["error"].startswith("ConfigError: image_size=30: arch 'resnet': its resnet "
                                   "generator turns 30² into 32²")
