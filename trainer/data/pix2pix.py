"""Reader for pix2pix "AB" folders: each file holds A and B side by side, A|B.

    <root>/<split>/<stem>.jpg|png     (Maps: 1200x600, halves 600x600; pix2pix Cityscapes: 512x256)

`direction` says which half is fewpair's domain A (photo / aerial): "AtoB" = the left half (how the
released Maps and Cityscapes sets are stored), "BtoA" = the right half, for folders stored the other
way round. It is about the files, not the evaluated translation: Sample.a is always domain A, and
TrialConfig.direction (which translation is scored) is the trainer's business.
"""
from __future__ import annotations

from pathlib import Path

from .errors import DataError
from .imageio import image_size, read_rgb
from .reader import Sample, SplitReader
from .registry import register_reader

EXTENSIONS = (".jpg", ".jpeg", ".png")


class Pix2PixReader(SplitReader):
    def __init__(self, root: Path, split: str, direction: str):
        folder = root / split
        if not folder.is_dir():
            raise DataError(f"split {split!r} missing: {folder} is not a folder")
        self.files = sorted(f for f in folder.iterdir() if f.suffix.lower() in EXTENSIONS)
        self.a_is_left = direction == "AtoB"
        super().__init__(root, split, [f.stem for f in self.files])

    @property
    def original_size(self) -> tuple[int, int]:
        h, w = image_size(self.files[0])
        return h, w // 2

    def _load(self, i: int) -> Sample:
        ab = read_rgb(self.files[i])  # [H, 2W, 3]
        if ab.shape[1] % 2:
            raise DataError(f"{self.files[i]}: AB image width {ab.shape[1]} is odd; "
                            "expected A|B halves side by side")
        half = ab.shape[1] // 2
        left, right = ab[:, :half], ab[:, half:]
        a, b = (left, right) if self.a_is_left else (right, left)
        return Sample(self.stems[i], a.copy(), b.copy(), None, self.archetypes[i])


@register_reader("pix2pix", kind="maps", splits=("train", "val", "test"),
                 train_size=1096)   # the released maps train split
def _open_pix2pix(root: Path, split: str, direction: str) -> SplitReader:
    return Pix2PixReader(root, split, direction)
