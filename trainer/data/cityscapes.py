"""Reader for the official Cityscapes layout (also what `toy-streets` is written in).

    <root>/leftImg8bit/<split>/<city>/<stem>_leftImg8bit.png      photo (A)
    <root>/gtFine/<split>/<city>/<stem>_gtFine_labelIds.png       label ids 0..33
    <root>/gtFine/<split>/<city>/<stem>_gtFine_color.png          (written by the toy; not read)
    <root>/gtFine/<split>/<city>/<stem>_gtFine_instanceIds.png    (written by the toy; not read)

Photos and labels are paired by stem (`<city>_<seq>_<frame>`). Label ids map to the 19 train ids
(everything else 255); B is `palette.colorize(mask)`, so non-evaluated classes are black rather than
Cityscapes' own colours for e.g. "parking" -- B carries exactly the 19 colours the translator learns.
"""
from __future__ import annotations

from pathlib import Path

from .errors import DataError
from .imageio import image_size, read_label_ids, read_rgb
from .palette import colorize, label_ids_to_train_ids
from .reader import Sample, SplitReader
from .registry import register_reader

PHOTO_SUFFIX = "_leftImg8bit.png"
LABEL_SUFFIX = "_gtFine_labelIds.png"
COLOR_SUFFIX = "_gtFine_color.png"
INSTANCE_SUFFIX = "_gtFine_instanceIds.png"   # not read; the official evaluator needs it


def photo_path(root: Path, split: str, stem: str) -> Path:
    city = stem.split("_")[0]
    return root / "leftImg8bit" / split / city / f"{stem}{PHOTO_SUFFIX}"


def label_path(root: Path, split: str, stem: str, suffix: str = LABEL_SUFFIX) -> Path:
    city = stem.split("_")[0]
    return root / "gtFine" / split / city / f"{stem}{suffix}"


class CityscapesReader(SplitReader):
    def __init__(self, root: Path, split: str):
        photos = root / "leftImg8bit" / split
        if not photos.is_dir():
            raise DataError(f"split {split!r} missing: {photos} is not a folder")
        files = sorted(photos.glob(f"*/*{PHOTO_SUFFIX}"))
        stems = [f.name[: -len(PHOTO_SUFFIX)] for f in files]
        for stem in stems:
            if not label_path(root, split, stem).is_file():
                raise DataError(f"photo {photo_path(root, split, stem)} has no label: "
                                f"{label_path(root, split, stem)} is missing")
        super().__init__(root, split, stems)

    @property
    def original_size(self) -> tuple[int, int]:
        return image_size(photo_path(self.root, self.split, self.stems[0]))

    def _load(self, i: int) -> Sample:
        stem = self.stems[i]
        photo = read_rgb(photo_path(self.root, self.split, stem))
        ids_file = label_path(self.root, self.split, stem)
        mask = label_ids_to_train_ids(read_label_ids(ids_file))
        if mask.shape != photo.shape[:2]:
            raise DataError(f"{ids_file}: size {mask.shape} differs from its photo's {photo.shape[:2]}")
        return Sample(stem, photo, colorize(mask), mask, self.archetypes[i])


@register_reader("cityscapes", kind="segmentation", splits=("train", "val", "test"),
                 train_size=2975, classes="cityscapes-19",   # the published train split
                 synthetic_labels={"far": "gta5", "close": "synscapes"})
def _open_cityscapes(root: Path, split: str, direction: str) -> SplitReader:
    return CityscapesReader(root, split)
