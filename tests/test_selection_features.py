"""Feature extractors and the feature cache, on a hand-written Cityscapes tree of flat colours.

`thumbnails-offline` values are known exactly (a flat image's thumbnail is its colour);
`resnet50-imagenet` runs a randomly initialised ResNet50 given through FEWPAIR_RESNET50_WEIGHTS
(ImageNet weights cannot be downloaded here) and is compared with torchvision's own feature
extractor; missing or broken weights are one-line errors.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from torchvision.models import ResNet50_Weights, resnet50
from torchvision.models.feature_extraction import create_feature_extractor

from trainer.data import cache_dir, open_split
from trainer.selection import EXTRACTORS, SelectionError, features_for
from trainer.selection.features import cache_path, feature_device
from trainer.selection.resnet import WEIGHTS_ENV, full_fp32
from trainer.selection.strategies import select

H, W = 32, 64
COLOURS = [(0, 0, 0), (255, 0, 0), (0, 128, 255), (255, 0, 0)]  # rows 1 and 3 look the same


def write_tree(root, colours=COLOURS, split="train"):
    """A Cityscapes tree with one flat-colour photo per colour (stems city_00000i_000019)."""
    for i, rgb in enumerate(colours):
        stem = f"city_{i:06d}_000019"
        for folder in ("leftImg8bit", "gtFine"):
            (root / folder / split / "city").mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.full((H, W, 3), rgb, np.uint8)).save(
            root / "leftImg8bit" / split / "city" / f"{stem}_leftImg8bit.png")
        Image.fromarray(np.full((H, W), 7, np.uint8)).save(           # label id 7: road
            root / "gtFine" / split / "city" / f"{stem}_gtFine_labelIds.png")
    return root


def test_thumbnails_of_flat_images_are_their_colours(tmp_path):
    x = features_for("cityscapes", "train", "thumbnails-offline", root=write_tree(tmp_path))
    assert x.shape == (4, 384) and x.dtype == np.float32
    expected = np.repeat(np.array(COLOURS, np.float32) / 255, 8 * 16, axis=1)   # channel-major
    np.testing.assert_allclose(x, expected, atol=1e-6)


def test_features_are_cached_and_recomputed_when_the_split_changes(tmp_path):
    root = write_tree(tmp_path)
    first = features_for("cityscapes", "train", "thumbnails-offline", root=root)
    path = cache_path(open_split("cityscapes", "train", root), "thumbnails-offline",
                      EXTRACTORS["thumbnails-offline"].fingerprint())
    assert path.parent == cache_dir() / "features" / "cityscapes" and path.is_file()
    stamp = path.stat().st_mtime_ns
    again = features_for("cityscapes", "train", "thumbnails-offline", root=root)
    assert np.array_equal(first, again) and path.stat().st_mtime_ns == stamp   # read, not rewritten
    write_tree(root, COLOURS + [(9, 9, 9)])                                   # a fifth image appears
    grown = features_for("cityscapes", "train", "thumbnails-offline", root=root)
    assert grown.shape == (5, 384) and np.array_equal(grown[:4], first)
    np.testing.assert_allclose(grown[4], 9 / 255, atol=1e-6)
    assert np.load(path)["features"].shape == (5, 384)                        # same entry, replaced
    assert not list(path.parent.glob(".*.tmp"))                               # no temporaries left


@pytest.fixture(scope="module")
def random_resnet_file(tmp_path_factory):
    """A randomly initialised torchvision ResNet50 state dict, as a user's weights file."""
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("weights") / "random-resnet50.pth"
    torch.save(resnet50().state_dict(), path)
    return path


def test_resnet50_features_match_torchvision_penultimate_layer(tmp_path, monkeypatch, random_resnet_file):
    monkeypatch.setenv(WEIGHTS_ENV, str(random_resnet_file))
    x = features_for("cityscapes", "train", "resnet50-imagenet", root=write_tree(tmp_path), device="cpu")
    assert x.shape == (4, 2048) and x.dtype == np.float32 and (x >= 0).all()  # pooled after ReLU
    model = resnet50()
    model.load_state_dict(torch.load(random_resnet_file, weights_only=True))
    reference = create_feature_extractor(model.eval(), {"flatten": "pooled"})
    images = torch.tensor(COLOURS, dtype=torch.uint8)[:, :, None, None].expand(4, 3, H, W)
    with torch.no_grad():   # an unknown file name gets the V2 weights' preprocessing
        expected = reference(ResNet50_Weights.IMAGENET1K_V2.transforms()(images))["pooled"]
    np.testing.assert_allclose(x, expected.numpy(), rtol=1e-4, atol=1e-5)
    assert np.array_equal(x[1], x[3]) and not np.allclose(x[0], x[1])
    assert EXTRACTORS["resnet50-imagenet"].fingerprint() == \
        f"resnet50-random-resnet50.pth-{random_resnet_file.stat().st_size}"


def textures(count: int = 48, size: int = 64) -> list[np.ndarray]:
    """Smooth random colour fields ([size, size, 3] uint8): varied, no two alike, no ties."""
    rng = np.random.default_rng(0)
    coarse = rng.integers(0, 256, (count, 3, 8, 8)).astype(np.float32)
    fine = torch.nn.functional.interpolate(torch.from_numpy(coarse), size=(size, size),
                                           mode="bilinear", align_corners=False)
    return [np.ascontiguousarray(im.permute(1, 2, 0).numpy().astype(np.uint8)) for im in fine]


def test_features_default_to_the_cpu_and_leave_tf32_as_it_was():
    assert feature_device("auto") == "cpu" and feature_device("cuda:1") == "cuda:1"
    before = torch.backends.cudnn.allow_tf32
    with full_fp32():
        assert not torch.backends.cudnn.allow_tf32 and not torch.backends.cuda.matmul.allow_tf32
    assert torch.backends.cudnn.allow_tf32 == before


@pytest.mark.gpu
def test_resnet50_features_on_cuda_match_the_cpu(monkeypatch, random_resnet_file):
    """With TF32 off the GPU's features are the CPU's up to float32 rounding (with it on, 62 of
    8,192 values of this test differed by more than 1% on an H200)."""
    monkeypatch.setenv(WEIGHTS_ENV, str(random_resnet_file))
    images = [np.full((H, W, 3), rgb, np.uint8) for rgb in COLOURS]
    cpu = EXTRACTORS["resnet50-imagenet"]("cpu")(images)
    cuda = EXTRACTORS["resnet50-imagenet"]("cuda")(images)
    np.testing.assert_allclose(cuda, cpu, rtol=1e-3, atol=1e-4)
    assert np.array_equal(cuda[1], cuda[3])   # same image, same features on the GPU too


@pytest.mark.gpu
def test_kmedoids_picks_from_cpu_and_cuda_features_are_identical(monkeypatch, random_resnet_file):
    """What matters downstream: the samples k-medoids picks, the pool and the pairs inside it."""
    monkeypatch.setenv(WEIGHTS_ENV, str(random_resnet_file))
    images = textures()
    cpu = EXTRACTORS["resnet50-imagenet"]("cpu")(images)
    cuda = EXTRACTORS["resnet50-imagenet"]("cuda")(images)
    for budget in (1, 5, 10, 20):
        assert select(cpu, "kmedoids", budget) == select(cuda, "kmedoids", budget), budget
    pool = select(cpu, "kmedoids", 20)
    assert select(cpu[pool], "kmedoids", 5) == select(cuda[pool], "kmedoids", 5)


def test_missing_weights_say_how_to_provide_them(tmp_path, monkeypatch):
    monkeypatch.delenv(WEIGHTS_ENV, raising=False)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))   # an empty torchvision cache
    with pytest.raises(SelectionError) as err:
        features_for("cityscapes", "train", "resnet50-imagenet", root=write_tree(tmp_path / "ds"))
    message = str(err.value)
    assert "\n" not in message and message.startswith("resnet50-imagenet needs ImageNet ResNet50 weights")
    assert str(tmp_path / "torch-home" / "hub" / "checkpoints") in message
    assert "IMAGENET1K_V2" in message and f"{WEIGHTS_ENV}=<file.pth>" in message


def test_bad_weights_files_are_one_line_errors(tmp_path, monkeypatch):
    monkeypatch.setenv(WEIGHTS_ENV, str(tmp_path / "absent.pth"))
    with pytest.raises(SelectionError, match=f"^{WEIGHTS_ENV}=.*absent.pth: no such file$"):
        EXTRACTORS["resnet50-imagenet"]("cpu")
    garbage = tmp_path / "garbage.pth"
    garbage.write_bytes(b"not a checkpoint")
    monkeypatch.setenv(WEIGHTS_ENV, str(garbage))
    with pytest.raises(SelectionError, match=r"garbage.pth: not a loadable ResNet50 state dict"):
        EXTRACTORS["resnet50-imagenet"]("cpu")
    wrong = tmp_path / "wrong.pth"
    torch.save({"conv1.weight": torch.zeros(1)}, wrong)
    monkeypatch.setenv(WEIGHTS_ENV, str(wrong))
    with pytest.raises(SelectionError, match=r"wrong.pth: not a torchvision ResNet50 state dict"):
        EXTRACTORS["resnet50-imagenet"]("cpu")


def test_unknown_extractor_lists_the_valid_ones(tmp_path):
    with pytest.raises(SelectionError) as err:
        features_for("cityscapes", "train", "vgg16", root=write_tree(tmp_path))
    assert str(err.value) == ("unknown feature extractor 'vgg16' "
                              "(valid: resnet50-imagenet, thumbnails-offline)")
