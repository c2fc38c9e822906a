"""trainer.eval.evaluate on real files: the toy streets in the Cityscapes layout and hand-made pix2pix
AB folders, with translators whose scores can be worked out by hand."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from eval_helpers import (ROAD_RGB, AlwaysRoad, ThreeChannels, all_road_scores,
                          constant_translate, save_scripted, write_ab)
from trainer.eval import evaluate as ev
from trainer.core.config import TrialConfig
from trainer.data import open_split, toy_root
from trainer.data.palette import PALETTE, TRAIN_ID
from trainer.eval.judge import JudgeError

LIMIT = 5  # val images scored per test: enough for several archetypes, quick on 2 cores


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def toy() -> str:
    return str(toy_root("toy-streets", "small"))


@pytest.fixture(scope="module")
def val_samples(toy):
    reader = open_split("toy-streets", "val", toy)
    return [reader[i] for i in range(LIMIT)]


def cfg_for(root: str, **changes) -> TrialConfig:
    base = dict(dataset="toy-streets", data_root=root, image_size=32, load_size=32, ngf=8,
                n_blocks=2, eval_limit=LIMIT)
    return TrialConfig(**{**base, **changes})


def test_all_road_prediction_scores_as_worked_out_by_hand(toy, val_samples):
    row = ev.evaluate(constant_translate(ROAD_RGB), cfg_for(toy), "cpu")
    expected = all_road_scores([s.mask for s in val_samples])
    for name, value in expected.items():
        assert row[name] == pytest.approx(value, abs=1e-12), name
    assert row["iou_road"] == pytest.approx(expected["pixel_acc"], abs=1e-12)
    assert row["iou_car"] == 0.0 and math.isnan(row["iou_wall"])   # in truth / absent from both
    assert len([k for k in row if k.startswith("iou_")]) == 19


def test_archetype_columns_and_their_mean(toy, val_samples):
    row = ev.evaluate(constant_translate(ROAD_RGB), cfg_for(toy), "cpu")
    names = sorted({s.archetype for s in val_samples})
    assert len(names) >= 2
    per = {a: all_road_scores([s.mask for s in val_samples if s.archetype == a]) for a in names}
    for a in names:
        assert row[f"pixel_acc__{a}"] == pytest.approx(per[a]["pixel_acc"], abs=1e-12)
        assert row[f"mean_iou__{a}"] == pytest.approx(per[a]["mean_iou"], abs=1e-12)
    assert row["pixel_acc_archmean"] == pytest.approx(np.mean([per[a]["pixel_acc"] for a in names]))
    assert row["mean_iou_archmean"] == pytest.approx(np.mean([per[a]["mean_iou"] for a in names]))
    assert not any(k.startswith("mean_class_acc__") for k in row)


def test_output_is_resized_before_colour_matching(toy, val_samples):
    """A 8x8 sky/road checkerboard: upsampled bilinearly to 256x128, its blended edges pass
    through (99, 97, 154), nearest to *wall* -- a class matching at 8x8 first can never give."""
    sky, road = PALETTE[TRAIN_ID["sky"]], PALETTE[TRAIN_ID["road"]]
    board = np.where((np.add.outer(np.arange(8), np.arange(8)) % 2)[..., None] == 0, sky, road)
    low = torch.from_numpy(board).permute(2, 0, 1).float()[None] / 127.5 - 1   # [1, 3, 8, 8]
    cfg = cfg_for(toy, image_size=8, load_size=8)
    row = ev.evaluate(lambda x: low.expand_as(x).clone(), cfg, "cpu")
    assert row["iou_wall"] == 0.0            # wall predicted on the blends, absent from the truth
    # the same score computed independently: bilinear upsampling, brute-force nearest colour
    h, w = val_samples[0].mask.shape
    big = F.interpolate(low, size=(h, w), mode="bilinear", align_corners=False)
    rgb = ((big[0] + 1) * 127.5).round().clamp(0, 255).permute(1, 2, 0).numpy()
    dist = ((rgb[:, :, None, :] - PALETTE[None, None].astype(np.float32)) ** 2).sum(-1)
    pred = dist.argmin(-1)
    assert (pred == TRAIN_ID["wall"]).any()
    masks = np.stack([s.mask for s in val_samples])
    valid = masks != 255
    assert row["pixel_acc"] == pytest.approx((pred[None] == masks)[valid].mean(), abs=1e-3)
    # matching first (at 8x8) sees only pure sky and road, so it could never predict wall
    assert {tuple(c) for c in board.reshape(-1, 3)} == {tuple(sky), tuple(road)}


def test_samples_png_holds_input_output_truth_triplets(toy, val_samples, tmp_path):
    path = tmp_path / "samples.png"
    ev.evaluate(constant_translate(ROAD_RGB), cfg_for(toy), "cpu", samples_png=path)
    grid = np.asarray(Image.open(path).convert("RGB"))
    h, w = val_samples[0].mask.shape
    ph, pw = ev.SAMPLE_HEIGHT, round(w * ev.SAMPLE_HEIGHT / h)
    head = ev.SAMPLE_LABEL_HEIGHT
    assert grid.shape == (head + ev.SAMPLE_ROWS * (ph + 2) + 2, 3 * (pw + 2) + 2, 3)
    for column in range(3):   # each column's label: dark text on the white strip above it
        strip = grid[:head, 2 + column * (pw + 2):2 + column * (pw + 2) + pw]
        assert (strip.min(axis=2) < 128).sum() > 10
    assert (grid[:head, :2] == 255).all()   # nothing outside the columns
    for row in range(ev.SAMPLE_ROWS):
        top = head + 2 + row * (ph + 2)
        output = grid[top:top + ph, 2 + pw + 2:2 + 2 * pw + 2]
        assert (output == ROAD_RGB).all()                  # the middle panel is the output
        truth = grid[top:top + ph, 2 + 2 * (pw + 2):2 + 2 * (pw + 2) + pw]
        assert len(np.unique(truth.reshape(-1, 3), axis=0)) > 3  # a label image, not a constant
    assert [p.name for p in tmp_path.iterdir()] == ["samples.png"]  # no temporary left behind


def test_fcn_score_with_a_user_torchscript_judge(toy, val_samples, tmp_path):
    judge = save_scripted(AlwaysRoad(), tmp_path / "always_road.pt")
    cfg = cfg_for(toy, direction="BtoA", judge=str(judge))
    row = ev.evaluate(constant_translate((90, 90, 90)), cfg, "cpu")
    expected = all_road_scores([s.mask for s in val_samples])
    for name, value in expected.items():
        assert row[name] == pytest.approx(value, abs=1e-12), name


def test_bad_judge_files_are_one_line_errors(toy, tmp_path):
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"not a model")
    wrong = save_scripted(ThreeChannels(), tmp_path / "three.pt")
    cases = [(garbage, "not a loadable TorchScript module"), (wrong, r"expected \[B, 19"),
             (tmp_path / "missing.pt", "file not found")]
    for path, message in cases:
        cfg = cfg_for(toy, direction="BtoA", judge=str(path), eval_limit=1)
        with pytest.raises(JudgeError, match=message) as err:
            ev.evaluate(constant_translate(ROAD_RGB), cfg, "cpu")
        assert "\n" not in str(err.value)


def test_maps_accuracy_on_a_pix2pix_folder(tmp_path):
    grey = np.full((16, 16, 3), 100, dtype=np.uint8)
    b0 = grey.copy()
    b0[:, :8] = (110, 90, 119)     # max diff 19 from grey 100: right
    b0[:, 8:] = (120, 100, 100)    # max diff 20: wrong -> image 0 scores 0.5
    a1 = np.zeros_like(grey)       # BtoA truth of image 1: every pixel 100 away: 0.0
    root = write_ab(tmp_path / "maps", "val", [(grey, b0), (a1, grey)])
    cfg = TrialConfig(dataset="pix2pix", data_root=str(root), image_size=8, load_size=8)
    row = ev.evaluate(constant_translate((100, 100, 100)), cfg, "cpu")
    assert row == {"maps_pixel_acc": pytest.approx((0.5 + 1.0) / 2)}   # mean over images
    back = ev.evaluate(constant_translate((100, 100, 100)), cfg.replace(direction="BtoA"), "cpu")
    assert back["maps_pixel_acc"] == pytest.approx((1.0 + 0.0) / 2)


def test_protocol_names_and_unknown_kinds():
    assert ev.protocol_for("segmentation", "AtoB") == "segmentation"
    assert ev.protocol_for("segmentation", "BtoA") == "fcn-score"
    assert ev.protocol_for("maps", "BtoA") == "maps"
    with pytest.raises(ev.EvaluationError, match="'labels-only' has no evaluation protocol"):
        ev.protocol_for("labels-only", "AtoB")
    assert ev.protocol_for("segmentation", "AtoB", "cityscapes-19") == "segmentation"
    with pytest.raises(ev.EvaluationError, match="scores the cityscapes-19 label set, not 'ade-150'"):
        ev.protocol_for("segmentation", "BtoA", "ade-150")   # palette, metrics, judge: 19 ids
    with pytest.raises(ev.EvaluationError, match="valid: fcn-score, maps, segmentation"):
        ev.make_protocol("psnr", TrialConfig(), torch.device("cpu"))


def test_every_protocol_spec_has_its_implementation_with_the_same_attributes():
    """trainer.eval.protocols (no torch) is the one table; evaluate implements each entry."""
    from trainer.eval.protocols import SPECS
    assert ev.PROTOCOLS.unfilled() == [] and ev.PROTOCOLS.names() == SPECS.names()
    for name in SPECS:
        impl, spec = ev.PROTOCOLS[name], SPECS[name]
        assert (impl.kind, impl.directions, impl.main_metric, impl.classes) == \
            (spec.kind, spec.directions, spec.main_metric, spec.classes), name


def test_translate_must_keep_the_shape(toy):
    with pytest.raises(ev.EvaluationError, match=r"translate returned shape \(1, 3, 16, 16\)"):
        ev.evaluate(lambda x: x[:1, :, :16, :16], cfg_for(toy, eval_limit=1), "cpu")


def test_maps_archetype_columns_on_toy_maps():
    root = str(toy_root("toy-maps", "small"))
    reader = open_split("toy-maps", "val", root)
    maps = [reader[i].b for i in range(6)]
    colours, counts = np.unique(maps[0].reshape(-1, 3), axis=0, return_counts=True)
    c = tuple(int(v) for v in colours[counts.argmax()])           # the first map's commonest colour
    per_image = [float((np.abs(m.astype(int) - c).max(-1) < 20).mean()) for m in maps]
    cfg = TrialConfig(dataset="toy-maps", data_root=root, image_size=32, load_size=32, eval_limit=6)
    row = ev.evaluate(constant_translate(c), cfg, "cpu")
    assert row["maps_pixel_acc"] == pytest.approx(np.mean(per_image), abs=1e-12)
    names = sorted({reader[i].archetype for i in range(6)})
    means = []
    for a in names:
        mine = [p for i, p in enumerate(per_image) if reader[i].archetype == a]
        means.append(np.mean(mine))
        assert row[f"maps_pixel_acc__{a}"] == pytest.approx(means[-1], abs=1e-12)
    assert row["maps_pixel_acc_archmean"] == pytest.approx(np.mean(means), abs=1e-12)
    assert 0 < row["maps_pixel_acc"] < 1


@pytest.mark.gpu
def test_cuda_evaluation_equals_cpu(toy):
    cfg = cfg_for(toy)
    cpu = ev.evaluate(constant_translate(ROAD_RGB), cfg, "cpu")
    cuda = ev.evaluate(constant_translate(ROAD_RGB), cfg, "cuda")
    assert cuda.keys() == cpu.keys()
    for k, v in cpu.items():
        assert cuda[k] == pytest.approx(v, nan_ok=True), k
