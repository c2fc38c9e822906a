"""TrialConfig: validation names the field, the key is stable and ignores runtime-only fields."""
from __future__ import annotations

import pytest

from trainer.core.config import ConfigError, TrialConfig


def test_defaults_are_the_papers():
    cfg = TrialConfig()
    assert (cfg.lambda_adv, cfg.lambda_cycle, cfg.lambda_identity, cfg.lambda_paired) == (1, 10, 10, 150)
    assert (cfg.lr, cfg.beta1, cfg.image_pool) == (2e-4, 0.5, 50)
    assert (cfg.image_size, cfg.load_size, cfg.ngf, cfg.n_blocks) == (256, 286, 64, 9)
    assert cfg.gan_loss == "rsgan" and cfg.balance is True and cfg.mix == "interleave"


@pytest.mark.parametrize("changes, field", [
    ({"mode": "semi"}, "mode"),
    ({"gan_loss": "wgan"}, "gan_loss"),
    ({"lambda_cycle": -1.0}, "lambda_cycle"),
    ({"lambda_cycle": "ten"}, "lambda_cycle"),
    ({"balance": 1}, "balance"),
    ({"seed": 1.5}, "seed"),
    ({"image_size": 64, "load_size": 32}, "load_size"),
    ({"unpaired": 0}, "unpaired"),
    ({"mode": "unpaired"}, "paired_budget"),
    ({"paired_budget": 0}, "paired_budget"),
    ({"paired_budget": 300, "unpaired": 200}, "paired_budget"),
    ({"lr": 0.0}, "lr"),
    ({"direction": "sideways"}, "direction"),
])
def test_bad_values_name_the_field(changes, field):
    with pytest.raises(ConfigError, match=field):
        TrialConfig(**changes)


def test_unknown_key_is_named():
    with pytest.raises(ConfigError, match="'lamda_cycle'"):
        TrialConfig.from_dict({"lamda_cycle": 5.0})
    with pytest.raises(ConfigError, match="'nope'"):
        TrialConfig().replace(nope=1)


def test_ints_are_accepted_for_floats_and_stored_as_float():
    cfg = TrialConfig.from_dict({"lambda_paired": 150})
    assert isinstance(cfg.lambda_paired, float) and cfg.lambda_paired == 150.0
    assert cfg.key() == TrialConfig().key()


def test_key_is_stable_and_ignores_runtime_fields():
    base = TrialConfig()
    assert base.key() == TrialConfig().key() and len(base.key()) == 16
    same = base.replace(device="cuda", data_root="/elsewhere", report_every=7, checkpoint_every=9)
    assert same.key() == base.key()
    assert base.replace(seed=1).key() != base.key()
    assert base.replace(lambda_cycle=0.0).key() != base.key()


def test_row_round_trips():
    cfg = TrialConfig(mode="paired", paired_budget=-1, unpaired=-1, seed=3)
    row = cfg.to_row()
    assert all(not isinstance(v, (list, dict)) for v in row.values())
    assert TrialConfig.from_dict(row) == cfg


def test_a_preset_fills_only_what_was_not_set_and_refuses_what_it_cannot_honour():
    """variant / arch presets: every way of building a config (constructor, from_dict, the CLI's
    flags, a grid point, --set via replace) fills from exactly the names given."""
    assert TrialConfig.from_dict({"variant": "released"}) == TrialConfig(variant="released")
    chosen = {"arch": "pix2pix", "mode": "paired", "lambda_paired": 150.0, "image_size": 64}
    assert TrialConfig.from_dict(chosen).lambda_paired == 150.0   # explicit, though the default
    with pytest.raises(ConfigError) as caught:
        TrialConfig.from_dict({"variant": "released", "balance": True})
    assert str(caught.value) == ("balance=True conflicts with variant='released' (which trains "
                                 "unbalanced)")


@pytest.mark.parametrize("values", [
    {}, {"variant": "released"}, {"variant": "released", "seed": 4, "lambda_cycle": 5},
    {"arch": "pix2pix", "mode": "paired", "image_size": 64},
    {"arch": "pix2pix", "mode": "paired", "image_size": 64, "gan_loss": "rsgan",
     "lambda_paired": 150.0},
    {"mode": "paired", "paired_budget": -1, "unpaired": -1, "seed": 3},
])
def test_a_config_rebuilt_from_its_row_is_the_same_config_with_the_same_key(values):
    cfg = TrialConfig.from_dict(values)
    again = TrialConfig.from_dict(cfg.to_row())
    assert again == cfg and again.key() == cfg.key()
    assert cfg.replace() == cfg


def test_replace_keeps_set_values_and_lets_preset_fields_follow_a_switched_selector():
    released = TrialConfig().replace(variant="released")   # --set variant=released on a grid
    assert (released.mix, released.balance) == ("alternate", False)
    assert released == TrialConfig(variant="released")
    back = released.replace(variant="paper")
    assert back == TrialConfig()                            # the preset's fills went with it
    staged = TrialConfig(balance=False, mix="staged")       # set away from the paper's values
    with pytest.raises(ConfigError, match="mix='staged' conflicts with variant='released'"):
        staged.replace(variant="released")
    assert TrialConfig(balance=False).replace(variant="released").balance is False
    pix = TrialConfig(arch="pix2pix", mode="paired", image_size=64, lambda_paired=150.0)
    assert pix.replace(seed=2).lambda_paired == 150.0       # a set value is never re-filled
    with pytest.raises(ConfigError, match="balance=True conflicts with variant='released'"):
        released.replace(balance=True)                     # --set balance=true on released


def test_every_mode_needs_a_weighted_term():
    for mode, zeroed in (("paired", ("lambda_adv", "lambda_paired")),
                         ("unpaired", ("lambda_adv", "lambda_cycle", "lambda_identity")),
                         ("hybrid", ("lambda_adv", "lambda_cycle", "lambda_identity",
                                     "lambda_paired"))):
        values = {"mode": mode, "paired_budget": 0 if mode == "unpaired" else 5}
        with pytest.raises(ConfigError, match=f"mode='{mode}' with every lambda of its terms "
                                              f"at 0 trains nothing"):
            TrialConfig(**values, **{name: 0.0 for name in zeroed})
        TrialConfig(**values, **{name: 0.0 for name in zeroed[1:]})   # one term left: fine


def test_no_config_code_sets_attributes_on_a_frozen_config():
    """Issue 28: a TrialConfig is never changed after construction."""
    from pathlib import Path
    root = Path(__file__).resolve().parents[1]
    files = [path for folder in ("trainer", "sweeps") for path in (root / folder).rglob("*.py")]
    hits = [f"{path}:{n}" for path in files
            for n, line in enumerate(path.read_text().splitlines(), 1)
            if "object.__setattr__" in line]
    assert hits == []
