"""A trial's own learning curve (`curve_every`, trainer.eval.curve) on the real small toy-streets
(and toy-maps) files: its points are the holdout and val scores of the weights at those steps, it
leaves the trained trial unchanged (alone for each step variant, and in a pack), it survives an
interrupt and a resume, bad values are one line, and `--set curve_every` reaches every row of a
packed run_grid sweep."""
from __future__ import annotations

import json
import math
import shutil
import signal

import pytest
import torch

from trainer.core.config import ConfigError, TrialConfig
from trainer.data import open_split, toy_root
from trainer.eval.curve import COLUMNS, holdout_config
from trainer.eval.evaluate import eval_samples, evaluate
from trainer.run.cli import main
from trainer.run.interrupt import Interrupted
from trainer.run.loop import train, train_pack
from trainer.run.trial import prepare
from trainer.step.checkpoint import CHECKPOINT_FILE, PREVIOUS_FILE
from trainer.step.state import translator

# 32^2 crops, ngf/ndf 8, 2 blocks; a pool of 8 of the small set's 40 training images, 1 pair;
# 4 val images, so the curve's holdout is the first 4 of the 32 training images outside the pool
TINY = dict(dataset="toy-streets", image_size=32, load_size=36, ngf=8, ndf=8, n_blocks=2,
            unpaired=8, paired_budget=1, eval_limit=4, device="cpu", steps=6, image_pool=4,
            report_every=0, checkpoint_every=0)
VARIANTS = {"paper": {}, "released": {"variant": "released"},
            "pix2pix": {"arch": "pix2pix", "mode": "paired", "image_pool": 0}}
VAL = ("pixel_acc", "mean_class_acc", "mean_iou")

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


@pytest.fixture
def root(small_streets) -> str:   # tests/conftest.py's small toy-streets, under a shorter name
    return small_streets


def tiny(root: str, **changes) -> TrialConfig:
    return TrialConfig(**(TINY | {"data_root": root} | changes))


def saved(workdir, name: str = CHECKPOINT_FILE) -> dict:
    return torch.load(workdir / "checkpoint" / name, weights_only=True)


def assert_same_training(a: dict, b: dict) -> None:
    """Two checkpoints of the same step: every weight, Adam moment and the CPU generator equal
    bit for bit."""
    assert a["step"] == b["step"]
    for net in ("g", "f", "d_y", "d_x"):
        for name, tensor in a["nets"][net].items():
            assert torch.equal(tensor, b["nets"][net][name]), (net, name)
    for opt in ("opt_gen", "opt_disc"):
        for i, entry in a[opt]["state"].items():
            for name, tensor in entry.items():
                assert torch.equal(tensor, b[opt]["state"][i][name]), (opt, i, name)
    assert torch.equal(a["rng"], b["rng"])


def same(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(
        a[k] == b[k] or (math.isnan(a[k]) and math.isnan(b[k])) for k in a)


def scores_at(cfg: TrialConfig, checkpoint_file, tmp_path) -> tuple[dict, dict]:
    """(holdout, val) evaluate() columns of the weights in `checkpoint_file`, scored afresh."""
    workdir = tmp_path / "rescored"
    (workdir / "checkpoint").mkdir(parents=True)
    shutil.copy(checkpoint_file, workdir / "checkpoint" / CHECKPOINT_FILE)
    trial = prepare(cfg, workdir)
    translate = translator(trial.state, trial.rules, cfg.direction)
    return (evaluate(translate, holdout_config(cfg, cfg.eval_limit), "cpu"),
            evaluate(translate, cfg, "cpu"))


def test_the_points_are_the_holdout_and_val_scores_of_the_weights_at_their_steps(root, tmp_path):
    cfg = tiny(root, curve_every=4, steps=10, checkpoint_every=4)   # checkpoints at 4, 8, 10
    row = train(cfg, tmp_path / "w").to_row()
    assert row["curve_step"] == [4, 8, 10]              # every 4 steps, and the last step
    for metric in VAL:                                   # the last point is the final evaluation
        assert row[f"curve_val_{metric}"][-1] == row[metric]
    assert row["curve_val_maps_pixel_acc"] is None       # the maps protocol's column: null
    assert set(COLUMNS) <= set(row)
    # the step-8 point, scored afresh from the step-8 checkpoint (state.prev.pt at the end)
    holdout, val = scores_at(cfg, tmp_path / "w" / "checkpoint" / PREVIOUS_FILE, tmp_path)
    assert row["curve_holdout_score"][1] == holdout["pixel_acc"]
    assert [row[f"curve_val_{m}"][1] for m in VAL] == [val[m] for m in VAL]
    assert row["curve_holdout_score"] != row["curve_val_pixel_acc"]   # two image sets
    # the holdout: training images, neither trained on (pool, pairs) nor val; as many as val
    _, images = eval_samples(holdout_config(cfg, cfg.eval_limit))
    train_split = open_split("toy-streets", "train", root)
    stems = {s.stem for s in list(images)[:cfg.eval_limit]}
    trained = {train_split.stems[i] for i in row["unpaired_indices"] + row["paired_indices"]}
    assert len(stems) == 4 and stems <= set(train_split.stems)
    assert not stems & trained and not stems & set(open_split("toy-streets", "val", root).stems)


@pytest.mark.parametrize("variant", VARIANTS)
def test_a_curve_leaves_the_trained_trial_unchanged(root, tmp_path, variant):
    plain = tiny(root, **VARIANTS[variant])
    curved = plain.replace(curve_every=2)
    assert curved.key() == plain.key()                    # not result-affecting: same trial
    with_curve, without = train(curved, tmp_path / "c"), train(plain, tmp_path / "p")
    assert same(with_curve.metrics, without.metrics)      # exactly equal
    assert_same_training(saved(tmp_path / "c"), saved(tmp_path / "p"))
    row = with_curve.to_row()
    assert row["curve_step"] == [2, 4, 6] and len(row["curve_holdout_score"]) == 3
    assert row["curve_val_mean_iou"][-1] == row["mean_iou"]
    assert all(without.to_row()[c] is None for c in COLUMNS)   # no curve: null columns


def test_each_member_of_a_pack_draws_its_own_curve_and_trains_as_without(root, tmp_path):
    members = [tiny(root, curve_every=2), tiny(root, mode="unpaired", paired_budget=0,
                                                curve_every=3, seed=1)]
    curved = train_pack(members, [tmp_path / "c0", tmp_path / "c1"])
    plain = train_pack([m.replace(curve_every=0) for m in members],
                       [tmp_path / "p0", tmp_path / "p1"])
    for k, (c, p) in enumerate(zip(curved, plain)):
        assert same(c.result.metrics, p.result.metrics)
        assert_same_training(saved(tmp_path / f"c{k}"), saved(tmp_path / f"p{k}"))
    rows = [o.result.to_row() for o in curved]
    assert [r["curve_step"] for r in rows] == [[2, 4, 6], [3, 6]]
    assert [r["curve_val_pixel_acc"][-1] for r in rows] == [r["pixel_acc"] for r in rows]
    assert rows[0]["curve_holdout_score"][-1] != rows[1]["curve_holdout_score"][-1]


def test_a_resumed_trial_keeps_the_points_from_before_its_interrupt(root, tmp_path):
    cfg = tiny(root, curve_every=2, report_every=1)

    def sigterm_at_step_3(metrics: dict, folder) -> None:
        if metrics.get("step") == 3 and "interrupted" not in metrics:
            signal.raise_signal(signal.SIGTERM)   # trainer.run.interrupt: checkpoint, then stop

    with pytest.raises(Interrupted):
        train(cfg, tmp_path / "cut", report=sigterm_at_step_3)
    checkpoint = saved(tmp_path / "cut")
    assert checkpoint["step"] == 3 and checkpoint["extra"]["curve"]["step"] == [2]
    resumed = train(cfg, tmp_path / "cut").to_row()
    straight = train(cfg, tmp_path / "straight").to_row()
    assert resumed["curve_step"] == [2, 4, 6]
    assert {c: resumed[c] for c in COLUMNS} == {c: straight[c] for c in COLUMNS}


@pytest.mark.parametrize("changes, message", [
    ({"curve_every": -1}, "curve_every=-1 must be >= 0"),
    ({"curve_every": 7}, "curve_every=7 is more than steps=6"),
])
def test_bad_curve_every_is_a_config_error_naming_the_field(root, changes, message):
    with pytest.raises(ConfigError, match=f"^{message}$"):
        tiny(root, **changes)


def argv(root: str, workdir, *extra: str) -> list[str]:
    return ["--dataset", "toy-streets", "--data-root", root, "--unpaired", "8",
            "--paired-budget", "1", "--image-size", "32", "--ngf", "8", "--ndf", "8",
            "--n-blocks", "2", "--eval-limit", "4", "--workdir", str(workdir), *extra]


@pytest.mark.parametrize("extra, message", [
    (("--steps", "4", "--curve-every", "5"), "curve_every=5 is more than steps=4"),
    (("--curve-every", "99999"), "curve_every=99999 is more than the trial's 3200 steps"),
    (("--curve-every", "2", "--steps", "4", "--unpaired", "40"),
     "curve_every=2: eval_split='holdout': the unpaired pool (unpaired=40) holds all 40 "
     "training images of toy-streets; none is left to validate on"),
    (("--curve-every", "2", "--steps", "4", "--unpaired", "-1"),
     "curve_every=2 needs holdout images (training images outside the unpaired pool), but "
     "unpaired=-1 leaves none"),
])
def test_the_cli_answers_a_curve_it_cannot_draw_in_one_line(root, tmp_path, capsys, extra,
                                                            message):
    assert main(argv(root, tmp_path, *extra)) == 2
    assert capsys.readouterr().err == f"error: {message}\n"
    assert not (tmp_path / "checkpoint").exists()          # it failed before training


def test_the_cli_prints_the_curve_in_its_json(root, tmp_path, capsys):
    assert main(argv(root, tmp_path, "--steps", "4", "--curve-every", "2", "--json")) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["curve_every"] == 2 and out["curve_step"] == [2, 4]
    assert out["curve_val_pixel_acc"][-1] == out["pixel_acc"]
    assert len(out["curve_holdout_score"]) == 2 and out["curve_val_maps_pixel_acc"] is None


@pytest.mark.slow
def test_set_curve_every_gives_every_row_of_a_packed_sweep_its_curve(ray_session, root,
                                                                     tmp_path, capsys):
    import pandas as pd
    from sweeps import run_grid
    from sweeps.store import results
    assert run_grid.main(["--grid", "smoke", "--data-root", root, "--storage", str(tmp_path),
                          "--pack", "3", "--gpus-per-trial", "0", "--set", "curve_every=2"]) == 0
    assert "in packs (--pack 3)" in capsys.readouterr().out
    rows = results.read_rows(str(tmp_path), "smoke")
    assert len(rows) == 3 and set(rows["status"]) == {"ok"} and set(rows["pack_size"]) == {3}
    for _, row in rows.iterrows():
        assert row["curve_every"] == 2 and list(row["curve_step"]) == [2, 4]   # smoke: 4 steps
        assert list(row["curve_val_pixel_acc"])[-1] == row["pixel_acc"]
        assert len(row["curve_holdout_score"]) == 2 and pd.isna(row["curve_val_maps_pixel_acc"])


def test_a_maps_trial_fills_the_maps_column_and_leaves_the_segmentation_ones_null(tmp_path):
    cfg = TrialConfig(**(TINY | {"dataset": "toy-maps", "curve_every": 3,
                                 "data_root": str(toy_root("toy-maps", "small"))}))
    row = train(cfg, tmp_path).to_row()
    assert row["protocol"] == "maps" and row["curve_step"] == [3, 6]
    assert row["curve_val_maps_pixel_acc"][-1] == row["maps_pixel_acc"]
    assert len(row["curve_holdout_score"]) == 2 and 0 <= min(row["curve_holdout_score"]) <= 1
    assert all(row[f"curve_val_{m}"] is None for m in VAL)
