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
