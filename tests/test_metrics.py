"""trainer.eval.metrics: hand-worked 4x4 cases, the ignore label, absent classes, colour ties, and
cross-checks against scikit-learn and torchmetrics on random predictions."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from sklearn.metrics import balanced_accuracy_score, confusion_matrix as sk_confusion
from sklearn.metrics import jaccard_score
from torchmetrics.classification import MulticlassJaccardIndex

from trainer.eval import metrics
from trainer.data.palette import CLASS_NAMES, IGNORE, NUM_CLASSES, PALETTE, TRAIN_ID

X = IGNORE
# 4x4 case worked by hand. truth: 4 road, 4 sidewalk, 5 building, 3 ignored pixels.
TRUTH = np.array([[0, 0, 1, 1],
                  [0, 0, 1, 1],
                  [2, 2, 2, X],
                  [2, 2, X, X]], dtype=np.uint8)
PRED = np.array([[0, 0, 0, 1],
                 [0, 1, 1, 1],
                 [2, 2, 0, 5],     # the 5 (pole) sits on an ignored pixel: pole is absent from both
                 [2, 2, 2, 2]], dtype=np.uint8)


def brute_nearest(rgb: np.ndarray) -> np.ndarray:
    """Per-pixel squared distance to all 19 colours, argmin (first minimum on ties)."""
    d = ((rgb.reshape(-1, 1, 3).astype(np.int64) - PALETTE[None].astype(np.int64)) ** 2).sum(-1)
    return d.argmin(1).astype(np.uint8).reshape(rgb.shape[:-1])


def test_hand_worked_4x4():
    hist = metrics.confusion_matrix(TRUTH, PRED)
    assert hist.shape == (19, 19) and hist.sum() == 13          # 16 pixels, 3 ignored
    assert hist[0, 0] == 3 and hist[0, 1] == 1
    assert hist[1, 0] == 1 and hist[1, 1] == 3
    assert hist[2, 2] == 4 and hist[2, 0] == 1
    s = metrics.scores(hist)
    assert s["pixel_acc"] == pytest.approx(10 / 13)
    assert s["mean_class_acc"] == pytest.approx((3 / 4 + 3 / 4 + 4 / 5) / 3)
    # IoU: road 3/(4+5-3), sidewalk 3/(4+4-3), building 4/(5+4-4); the other 16 classes are nan
    assert s["iou"][:3] == pytest.approx([3 / 6, 3 / 5, 4 / 5])
    assert np.isnan(s["iou"][3:]).all()
    assert s["mean_iou"] == pytest.approx((0.5 + 0.6 + 0.8) / 3)


def test_class_predicted_but_absent_from_truth_counts_in_iou_not_class_acc():
    pred = PRED.copy()
    pred[1, 0] = 3  # one road pixel predicted as wall; wall is not in the truth
    s = metrics.scores(metrics.confusion_matrix(TRUTH, pred))
    assert s["iou"][3] == 0.0                                   # 0 / (0 + 1 - 0): counted
    assert s["mean_iou"] == pytest.approx((2 / 6 + 3 / 5 + 4 / 5 + 0) / 4)
    assert s["mean_class_acc"] == pytest.approx((2 / 4 + 3 / 4 + 4 / 5) / 3)  # wall acc is nan
    assert s["pixel_acc"] == pytest.approx(9 / 13)


def test_torch_matches_numpy_on_the_hand_case():
    hist = metrics.confusion_matrix(torch.from_numpy(TRUTH), torch.from_numpy(PRED))
    assert isinstance(hist, torch.Tensor)
    np.testing.assert_array_equal(hist.numpy(), metrics.confusion_matrix(TRUTH, PRED))
    wide = metrics.confusion_matrix(TRUTH.astype(np.int64), PRED.astype(np.int32))  # generic path
    np.testing.assert_array_equal(wide, metrics.confusion_matrix(TRUTH, PRED))


def test_ignore_label_is_skipped_whatever_is_predicted():
    truth = np.full((4, 4), IGNORE, dtype=np.uint8)
    truth[0, 0] = 7
    for guess in (0, 7, 18):
        hist = metrics.confusion_matrix(truth, np.full((4, 4), guess, dtype=np.uint8))
        assert hist.sum() == 1 and hist[7, guess] == 1
    empty = metrics.scores(metrics.confusion_matrix(np.full((2, 2), IGNORE, np.uint8),
                                                    np.zeros((2, 2), np.uint8)))
    assert math.isnan(empty["pixel_acc"]) and math.isnan(empty["mean_iou"])


def test_prediction_ids_out_of_range_are_an_error():
    with pytest.raises(ValueError, match="class id 19"):
        metrics.confusion_matrix(TRUTH, np.full((4, 4), 19, dtype=np.uint8))
    with pytest.raises(ValueError, match=r"\(4, 4\) != prediction shape \(2, 2\)"):
        metrics.confusion_matrix(TRUTH, PRED[:2, :2])


def test_palette_colours_map_to_their_own_ids():
    ids = metrics.nearest_class(PALETTE.reshape(1, 19, 3))
    np.testing.assert_array_equal(ids[0], np.arange(19))


def test_colour_tie_goes_to_the_lower_train_id():
    # (0, 0, 186) is 44 from car (0, 0, 142) and 44 from motorcycle (0, 0, 230); every other
    # colour is farther (truck (0, 0, 70) is 116 away).
    tie = np.array([[[0, 0, 186]]], dtype=np.uint8)
    d = ((PALETTE.astype(int) - [0, 0, 186]) ** 2).sum(1)
    assert d[TRAIN_ID["car"]] == d[TRAIN_ID["motorcycle"]] == 44 ** 2 == d.min()
    assert metrics.nearest_class(tie)[0, 0] == TRAIN_ID["car"] == 13
    assert metrics.nearest_class(torch.from_numpy(tie))[0, 0].item() == 13
    # one step towards motorcycle breaks the tie
    assert metrics.nearest_class(np.array([[[0, 0, 187]]], np.uint8))[0, 0] == TRAIN_ID["motorcycle"]


def test_lookup_table_equals_brute_force_distance():
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (200, 500, 3), dtype=np.uint8)   # 100k random colours
    near = np.clip(PALETTE[rng.integers(0, 19, 20000)].astype(int)
                   + rng.integers(-30, 31, (20000, 3)), 0, 255).astype(np.uint8).reshape(100, 200, 3)
    for img in (rgb, near, rgb[:1, :1]):
        np.testing.assert_array_equal(metrics.nearest_class(img), brute_nearest(img))
    np.testing.assert_array_equal(metrics.nearest_class(torch.from_numpy(rgb)).numpy(),
                                  brute_nearest(rgb))
    odd = rgb[:, ::2]                                           # non-contiguous input
    np.testing.assert_array_equal(metrics.nearest_class(odd), brute_nearest(odd))


def test_colour_confusion_equals_confusion_of_brute_force_ids():
    rng = np.random.default_rng(1)
    truth = rng.integers(0, 19, (64, 32)).astype(np.uint8)
    truth[rng.random((64, 32)) < 0.1] = IGNORE
    rgb = rng.integers(0, 256, (64, 32, 3), dtype=np.uint8)
    expected = metrics.confusion_matrix(truth, brute_nearest(rgb))
    np.testing.assert_array_equal(metrics.colour_confusion(rgb, truth), expected)
    got = metrics.colour_confusion(torch.from_numpy(rgb), torch.from_numpy(truth))
    np.testing.assert_array_equal(got.numpy(), expected)
    with pytest.raises(ValueError, match="does not match truth"):
        metrics.colour_confusion(rgb, truth[:10])
    with pytest.raises(ValueError, match="expected uint8"):
        metrics.nearest_class(rgb.astype(np.float32))


def _random_case(seed: int, n: int = 20000, absent: tuple[int, ...] = ()):
    rng = np.random.default_rng(seed)
    classes = np.setdiff1d(np.arange(19), absent)
    truth = rng.choice(classes, n).astype(np.uint8)
    pred = np.where(rng.random(n) < 0.4, truth, rng.choice(classes, n)).astype(np.uint8)
    truth[rng.random(n) < 0.05] = IGNORE
    return truth, pred


@pytest.mark.parametrize("absent", [(), (4, 9, 16)])
def test_random_predictions_match_scikit_learn(absent):
    truth, pred = _random_case(2, absent=absent)
    keep = truth != IGNORE
    t, p = truth[keep], pred[keep]
    labels = np.arange(19)
    hist = metrics.confusion_matrix(truth, pred)
    np.testing.assert_array_equal(hist, sk_confusion(t, p, labels=labels))
    s = metrics.scores(hist)
    assert s["pixel_acc"] == pytest.approx(float(np.mean(t == p)), abs=1e-6)
    assert s["mean_class_acc"] == pytest.approx(balanced_accuracy_score(t, p), abs=1e-6)
    sk_iou = jaccard_score(t, p, labels=labels, average=None, zero_division=0)
    present = np.isin(labels, np.union1d(t, p))
    np.testing.assert_allclose(s["iou"][present], sk_iou[present], atol=1e-6)
    assert np.isnan(s["iou"][~present]).all() and (~present).sum() == len(absent)
    assert s["mean_iou"] == pytest.approx(float(sk_iou[present].mean()), abs=1e-6)


def test_random_predictions_match_torchmetrics():
    truth, pred = _random_case(3)
    t, p = torch.from_numpy(truth).long(), torch.from_numpy(pred).long()
    s = metrics.scores(metrics.confusion_matrix(t, p))
    per_class = MulticlassJaccardIndex(19, average="none", ignore_index=IGNORE)(p, t)
    np.testing.assert_allclose(s["iou"], per_class.double().numpy(), atol=1e-6)
    mean = MulticlassJaccardIndex(19, average="macro", ignore_index=IGNORE)(p, t)
    assert s["mean_iou"] == pytest.approx(mean.item(), abs=1e-6)


def test_score_row_names_every_class_column():
    row = metrics.score_row(metrics.confusion_matrix(TRUTH, PRED))
    assert len([k for k in row if k.startswith("iou_")]) == NUM_CLASSES
    assert row["iou_road"] == pytest.approx(0.5) and math.isnan(row["iou_traffic_light"])
    assert metrics.iou_column(CLASS_NAMES[6]) == "iou_traffic_light"
    assert row["pixel_acc"] == pytest.approx(10 / 13)


def test_maps_threshold_is_strict_on_the_largest_channel_difference():
    truth = np.full((2, 2, 3), 100, dtype=np.uint8)
    pred = truth.copy()
    pred[0, 0] = (119, 100, 81)        # max diff 19 -> right
    pred[0, 1] = (100, 120, 100)       # max diff 20 -> wrong (must be < 20)
    pred[1, 0] = (90, 115, 81)         # max diff 19 -> right
    pred[1, 1] = (255, 100, 100)       # wrong
    assert metrics.maps_correct(pred, truth) == (2, 4)
    assert metrics.maps_pixel_acc(pred, truth) == 0.5
    assert metrics.maps_pixel_acc(torch.from_numpy(pred), torch.from_numpy(truth)) == 0.5
    with pytest.raises(ValueError, match="map shapes differ"):
        metrics.maps_pixel_acc(pred[:1], truth)


@pytest.mark.gpu
def test_cuda_path_equals_the_cpu_lookup_table():
    rng = np.random.default_rng(4)
    truth = rng.integers(0, 19, (128, 256)).astype(np.uint8)
    truth[:8] = IGNORE
    rgb = rng.integers(0, 256, (128, 256, 3), dtype=np.uint8)
    got = metrics.colour_confusion(torch.from_numpy(rgb).cuda(), torch.from_numpy(truth).cuda())
    assert got.device.type == "cuda"
    np.testing.assert_array_equal(got.cpu().numpy(), metrics.colour_confusion(rgb, truth))
    assert metrics.maps_correct(torch.from_numpy(rgb).cuda(), torch.from_numpy(rgb).cuda()) == \
        (128 * 256, 128 * 256)
