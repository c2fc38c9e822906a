"""trainer.eval.judge / judge_nets: every registered judge network, a tiny judge trained on the toy
streets that must beat the majority-class baseline, the atomic cache, user TorchScript judges,
and the CLI's one-line errors."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from eval_helpers import AlwaysRoad, all_road_scores, save_scripted
from trainer.eval import judge as jd
from trainer.core.config import TrialConfig
from trainer.data import open_split, toy_root
from trainer.eval.judge_nets import build_judge_net, judge_net_names

# 32 px high (toy 256x128 -> 64x32), 32x32 crops, 40 steps of 4: a few seconds on 2 cores
TINY = jd.JudgeSpec(work_height=32, crop=32, steps=40, batch=4)


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def toy() -> str:
    return str(toy_root("toy-streets", "small"))


@pytest.fixture(scope="module")
def tiny_judge(toy) -> str:
    return str(jd.cached_judge("toy-streets", toy, TINY, torch.device("cpu")))


@pytest.mark.filterwarnings("ignore:`torch.jit:FutureWarning")
@pytest.mark.parametrize("name", judge_net_names())
def test_every_judge_net_gives_full_size_logits_and_scripts(name):
    torch.manual_seed(0)
    judge = jd.Judge(build_judge_net(name, 19), work_height=32).eval()
    photos = torch.rand(2, 3, 40, 80)                    # [B, 3, H, W] in [0, 1], not work size
    logits = judge(photos)
    assert logits.shape == (2, 19, 40, 80)
    scripted = torch.jit.script(judge)
    torch.testing.assert_close(scripted(photos), logits)


def test_unknown_judge_net_lists_the_valid_ones():
    with pytest.raises(ValueError, match="unknown judge network 'fcn8s' .*lraspp-mobilenetv3"):
        build_judge_net("fcn8s", 19)


def test_tiny_judge_beats_the_majority_class_on_toy_streets(toy, tiny_judge):
    cfg = TrialConfig(dataset="toy-streets", data_root=toy, direction="BtoA", judge=tiny_judge)
    row = jd.judge_ceiling(cfg, "cpu")
    reader = open_split("toy-streets", "val", toy)
    ids = np.concatenate([reader[i].mask.ravel() for i in range(len(reader))])
    counts = np.bincount(ids[ids != 255], minlength=19)
    majority = counts.max() / counts.sum()             # always answering "building": ~0.37
    assert row["pixel_acc"] > majority + 0.15
    assert row["mean_iou"] > majority / np.count_nonzero(counts) + 0.05
    assert 0.0 <= row["pixel_acc_archmean"] <= 1.0 and "mean_iou__night" in row


def test_judge_is_cached_once_atomically(toy, tiny_judge):
    path = jd.judge_path("toy-streets", toy, TINY)
    assert str(path) == tiny_judge and path.parent.name == "judges"
    stamp = path.stat().st_mtime_ns
    again = jd.cached_judge("toy-streets", toy, TINY, torch.device("cpu"))   # no retraining
    assert again == path and path.stat().st_mtime_ns == stamp
    assert not [p for p in path.parent.iterdir() if p.name.startswith(".")]  # no temporaries
    other = jd.judge_path("toy-streets", toy, jd.JudgeSpec(work_height=32, crop=32, steps=41))
    assert other != path


def test_auto_judge_is_the_cached_one(toy, tiny_judge):
    cfg = TrialConfig(dataset="toy-streets", data_root=toy, direction="BtoA", eval_limit=2)
    auto = jd.judge_ceiling(cfg, "cpu", spec=TINY)
    explicit = jd.judge_ceiling(cfg.replace(judge=tiny_judge), "cpu")
    assert auto["pixel_acc"] == explicit["pixel_acc"] and auto["mean_iou"] == explicit["mean_iou"]


def test_ceiling_with_a_user_judge_matches_hand_scores(toy, tmp_path):
    path = save_scripted(AlwaysRoad(), tmp_path / "road.pt")
    cfg = TrialConfig(dataset="toy-streets", data_root=toy, direction="BtoA", judge=str(path),
                      eval_limit=3)
    row = jd.judge_ceiling(cfg, "cpu")
    reader = open_split("toy-streets", "val", toy)
    expected = all_road_scores([reader[i].mask for i in range(3)])
    for name, value in expected.items():
        assert row[name] == pytest.approx(value, abs=1e-12), name


@pytest.mark.filterwarnings("ignore:`torch.jit:FutureWarning")
def test_segment_upsamples_low_resolution_logits(tmp_path):
    judge = torch.jit.load(str(save_scripted(AlwaysRoad(), tmp_path / "road.pt")))
    ids = jd.segment(judge, torch.zeros(2, 10, 14, 3, dtype=torch.uint8))
    assert ids.shape == (2, 10, 14) and (ids == 0).all()


def test_cli_prints_one_line_errors_and_exits_2(capsys, tmp_path):
    assert jd.main(["--dataset", "no-such-set"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: unknown dataset 'no-such-set' (valid: ") and err.count("\n") == 1
    assert jd.main(["--judge", str(tmp_path / "nope.pt")]) == 2
    assert "nope.pt" in capsys.readouterr().err
    assert jd.main(["--limit", "-1"]) == 2
    assert "eval_limit=-1" in capsys.readouterr().err
    assert jd.main(["--device", "gpu0"]) == 2
    assert capsys.readouterr().err.startswith("error: --device 'gpu0' is not a torch device")


def test_cli_prints_the_ceiling(capsys, toy, tmp_path):
    path = save_scripted(AlwaysRoad(), tmp_path / "road.pt")
    assert jd.main(["--root", toy, "--judge", str(path), "--limit", "2"]) == 0
    out = capsys.readouterr().out
    assert "pixel_acc" in out and "mean_iou" in out
