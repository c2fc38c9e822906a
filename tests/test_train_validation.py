"""What tuning needs from the trainer, on the real small toy-streets files: the "holdout"
evaluation split (training images outside the unpaired pool) and intermediate validation passes
(`eval_every`) whose `val_score` rides on train()'s reports without changing the training."""
from __future__ import annotations

import pytest
import torch

from eval_helpers import ROAD_RGB, all_road_scores, constant_translate
from trainer.run.cli import main
from trainer.core.config import ConfigError, TrialConfig
from trainer.data import open_split, toy_root
from trainer.step.checkpoint import CHECKPOINT_FILE
from trainer.eval.evaluate import PROTOCOLS, EvaluationError, eval_samples, evaluate, main_metric
from trainer.selection import manifest_for
from trainer.run.loop import train

# 32^2 crops, ngf/ndf 8, 2 blocks; a pool of 8 of the small set's 40 training images, 1 pair.
TINY = dict(dataset="toy-streets", image_size=32, load_size=36, ngf=8, ndf=8, n_blocks=2,
            unpaired=8, paired_budget=1, eval_limit=4, eval_split="holdout", device="cpu",
            steps=6, image_pool=4)


pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


@pytest.fixture(scope="module")
def small_root(fewpair_cache) -> str:
    return str(toy_root("toy-streets", "small"))


def tiny(root: str, **changes) -> TrialConfig:
    return TrialConfig(**(TINY | {"data_root": root} | changes))


def test_holdout_is_the_training_images_outside_the_pool_in_split_order(small_root):
    cfg = tiny(small_root)
    kind, samples = eval_samples(cfg)
    pool = manifest_for(cfg).unpaired
    train_split = open_split("toy-streets", "train", small_root)
    expected = [i for i in range(len(train_split)) if i not in set(pool)]
    assert kind == "segmentation" and len(pool) == 8 and len(samples) == 40 - 8
    assert [s.stem for s in samples] == [train_split.stems[i] for i in expected]
    assert not {s.stem for s in samples} & set(manifest_for(cfg).unpaired_stems)
    # evaluate() scores exactly the first eval_limit of them: an all-road prediction's scores
    # worked out by hand from those four masks.
    scores = evaluate(constant_translate(ROAD_RGB), cfg, "cpu")
    masks = [train_split[i].mask for i in expected[:4]]
    for name, value in all_road_scores(masks).items():
        assert scores[name] == pytest.approx(value, abs=1e-9), name


def test_a_holdout_needs_images_outside_the_pool(small_root, tmp_path, capsys):
    with pytest.raises(ConfigError, match="eval_split='holdout' needs training samples outside "
                                          "the unpaired pool, but unpaired=-1"):
        tiny(small_root, unpaired=-1)
    with pytest.raises(EvaluationError, match=r"unpaired=40\) holds all 40 training images"):
        eval_samples(tiny(small_root, unpaired=40))
    argv = ["--dataset", "toy-streets", "--data-root", small_root, "--unpaired", "40",
            "--paired-budget", "1", "--eval-split", "holdout", "--image-size", "32", "--ngf", "8",
            "--ndf", "8", "--n-blocks", "2", "--steps", "2", "--workdir", str(tmp_path)]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: eval_split='holdout': unpaired=") and err.count("\n") == 1
    assert not (tmp_path / "checkpoint").exists()          # it failed before training


def test_every_protocol_has_a_main_score():
    assert {name: main_metric(name) for name in PROTOCOLS} == {
        "segmentation": "mean_iou", "fcn-score": "mean_iou", "maps": "maps_pixel_acc"}


def test_validation_passes_report_val_score_and_leave_training_unchanged(small_root, tmp_path):
    plain = tiny(small_root, report_every=0, checkpoint_every=0)
    checked = plain.replace(eval_every=2)
    assert checked.key() == plain.key()                   # not result-affecting: same trial
    calls: list[tuple[dict, str | None]] = []
    with_val = train(checked, tmp_path / "val", report=lambda m, c: calls.append((m, c)))
    without = train(plain, tmp_path / "plain")
    # a pass at steps 2, 4 and the last (6), each on its step's report; the final metrics are
    # the last pass (no second evaluation) with val_score = mean_iou
    assert [(m["step"], "val_score" in m, c is not None) for m, c in calls] == \
        [(2, True, False), (4, True, False), (6, True, True), (6, True, False)]
    assert calls[2][0]["val_score"] == calls[3][0]["mean_iou"] == with_val.metrics["val_score"]
    assert with_val.metrics["val_score"] == with_val.metrics["mean_iou"]
    assert "val_score" not in without.metrics
    same = {k: v for k, v in with_val.metrics.items() if k != "val_score"}
    assert same == pytest.approx(without.metrics, rel=0, abs=0, nan_ok=True)   # exactly equal
    assert with_val.samples_png and (tmp_path / "val" / "samples.png").is_file()
    a = torch.load(tmp_path / "val" / "checkpoint" / CHECKPOINT_FILE, weights_only=True)
    b = torch.load(tmp_path / "plain" / "checkpoint" / CHECKPOINT_FILE, weights_only=True)
    for net in ("g", "f", "d_y", "d_x"):
        for name, tensor in a["nets"][net].items():
            assert torch.equal(tensor, b["nets"][net][name]), (net, name)
    assert torch.equal(a["rng"], b["rng"])
