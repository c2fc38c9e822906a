"""The real-format readers against tiny dataset trees written by hand (a few PNG / JPEG files):
Cityscapes train ids and pairing by stem, pix2pix AB halves and direction, GTA5 / Synscapes."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from trainer.data import dataset_info, open_split
from trainer.data.palette import PALETTE

H, W = 8, 16


def _ids(value_rows: list[int]) -> np.ndarray:
    """[H, W] uint8 label ids, one value per block of rows."""
    return np.repeat(np.array(value_rows, np.uint8), H // len(value_rows))[:, None].repeat(W, 1)


def _write_cityscapes(root, split="val"):
    """Two cities; stems sort as aachen_000000 < aachen_000001 < bonn_000000."""
    stems = {"aachen_000001_000019": [7, 26], "aachen_000000_000019": [23, 8],
             "bonn_000000_000019": [0, 33]}
    for i, (stem, rows) in enumerate(stems.items()):
        city = stem.split("_")[0]
        (root / "leftImg8bit" / split / city).mkdir(parents=True, exist_ok=True)
        (root / "gtFine" / split / city).mkdir(parents=True, exist_ok=True)
        photo = np.full((H, W, 3), 10 * (i + 1), np.uint8)  # photo i is grey 10 (i + 1)
        Image.fromarray(photo).save(root / "leftImg8bit" / split / city / f"{stem}_leftImg8bit.png")
        Image.fromarray(_ids(rows)).save(root / "gtFine" / split / city / f"{stem}_gtFine_labelIds.png")


def test_cityscapes_train_ids_pairing_and_shapes(tmp_path):
    _write_cityscapes(tmp_path)
    reader = open_split("cityscapes", "val", root=tmp_path)
    assert reader.stems == ["aachen_000000_000019", "aachen_000001_000019", "bonn_000000_000019"]
    assert reader.original_size == (H, W) and reader.kind == "segmentation"
    assert reader.archetypes == [None, None, None]
    s = reader[0]  # aachen_000000: label ids 23 (sky) over 8 (sidewalk); written second, grey 20
    assert s.a.shape == (H, W, 3) and s.a.dtype == np.uint8 and int(s.a[0, 0, 0]) == 20
    assert s.mask.dtype == np.uint8 and s.mask.shape == (H, W)
    assert set(s.mask[: H // 2].ravel()) == {10} and set(s.mask[H // 2:].ravel()) == {1}
    assert (s.b[0, 0] == PALETTE[10]).all() and (s.b[-1, 0] == PALETTE[1]).all()
    road_car = reader[1].mask  # label ids 7 (road), 26 (car) -> train ids 0, 13
    assert road_car[0, 0] == 0 and road_car[-1, 0] == 13
    unlabeled_bicycle = reader[2]  # 0 (unlabeled) -> 255 ignore, black; 33 (bicycle) -> 18
    assert unlabeled_bicycle.mask[0, 0] == 255 and (unlabeled_bicycle.b[0, 0] == 0).all()
    assert unlabeled_bicycle.mask[-1, 0] == 18
    assert reader[-1].stem == "bonn_000000_000019"


def _write_ab(root, split="train", ext="jpg"):
    """AB files: left half red-ish (A), right half blue-ish (B), brightness by index."""
    (root / split).mkdir(parents=True)
    for i in range(2):
        ab = np.zeros((H, 2 * W, 3), np.uint8)
        ab[:, :W] = (200, 20 * i, 0)
        ab[:, W:] = (0, 20 * i, 200)
        Image.fromarray(ab).save(root / split / f"{i + 1}.{ext}")


@pytest.mark.parametrize("ext", ["jpg", "png"])
def test_pix2pix_halves_and_direction(tmp_path, ext):
    _write_ab(tmp_path, ext=ext)
    ab = open_split("pix2pix", "train", root=tmp_path)
    ba = open_split("pix2pix", "train", root=tmp_path, direction="BtoA")
    assert ab.stems == ["1", "2"] and ab.original_size == (H, W) and ab.kind == "maps"
    s, t = ab[1], ba[1]
    assert s.a.shape == s.b.shape == (H, W, 3) and s.mask is None
    tol = 8 if ext == "jpg" else 0  # JPEG is lossy, and bleeds across the A|B seam
    inner = slice(2, W - 2)
    assert np.abs(s.a[:, inner].astype(int) - (200, 20, 0)).max() <= tol
    assert np.abs(s.b[:, inner].astype(int) - (0, 20, 200)).max() <= tol
    assert np.array_equal(t.a, s.b) and np.array_equal(t.b, s.a)


@pytest.mark.parametrize("name,folder", [("gta5", ("labels",)), ("synscapes", ("img", "class"))])
def test_label_only_readers(tmp_path, name, folder):
    labels = tmp_path.joinpath(*folder)
    labels.mkdir(parents=True)
    Image.fromarray(_ids([24, 21])).save(labels / "00002.png")  # person over vegetation
    Image.fromarray(_ids([11, 13])).save(labels / "00001.png")  # building over fence
    reader = open_split(name, "train", root=tmp_path)
    assert reader.stems == ["00001", "00002"] and reader.kind == "labels-only"
    s = reader[1]
    assert s.a is None and s.mask[0, 0] == 11 and s.mask[-1, 0] == 8
    assert (s.b[0, 0] == PALETTE[11]).all()
    assert dataset_info(name).splits == ("train",)


def test_gta5_palette_png_reads_indices(tmp_path):
    """GTA5 ships its labels as palette ("P") PNGs: the index is the label id, not the colour."""
    (tmp_path / "labels").mkdir()
    image = Image.fromarray(_ids([7, 26]), mode="P")
    image.putpalette([255 - v for v in range(256) for _ in range(3)])
    image.save(tmp_path / "labels" / "x.png")
    mask = open_split("gta5", "train", root=tmp_path)[0].mask
    assert mask[0, 0] == 0 and mask[-1, 0] == 13
