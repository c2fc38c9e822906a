"""Readers for label-only sets, the unpaired label domain of the paper's synthetic-labels
experiment (Table 3). Both store Cityscapes *label ids* in one-channel PNGs:

    gta5:       <root>/labels/<stem>.png          (GTA5 "Playing for Data"; images/ not read)
    synscapes:  <root>/img/class/<stem>.png       (Synscapes; img/rgb/ not read)

Neither has official splits here: the whole folder is split "train". Samples have a=None.
"""
from __future__ import annotations

from pathlib import Path

from .errors import DataError
from .imageio import image_size, read_label_ids
from .palette import colorize, label_ids_to_train_ids
from .reader import Sample, SplitReader
from .registry import register_reader

LAYOUTS = {"gta5": ("labels",), "synscapes": ("img", "class")}  # label folder under the root


class LabelOnlyReader(SplitReader):
    def __init__(self, root: Path, split: str, layout: str):
        folder = root.joinpath(*LAYOUTS[layout])
        if not folder.is_dir():
            raise DataError(f"{layout} labels missing: {folder} is not a folder")
        self.files = sorted(folder.glob("*.png"))
        super().__init__(root, split, [f.stem for f in self.files])

    @property
    def original_size(self) -> tuple[int, int]:
        return image_size(self.files[0])

    def _load(self, i: int) -> Sample:
        mask = label_ids_to_train_ids(read_label_ids(self.files[i]))
        return Sample(self.stems[i], None, colorize(mask), mask, self.archetypes[i])


@register_reader("gta5", kind="labels-only", splits=("train",), classes="cityscapes-19")
def _open_gta5(root: Path, split: str, direction: str) -> SplitReader:
    return LabelOnlyReader(root, split, "gta5")


@register_reader("synscapes", kind="labels-only", splits=("train",), classes="cityscapes-19")
def _open_synscapes(root: Path, split: str, direction: str) -> SplitReader:
    return LabelOnlyReader(root, split, "synscapes")
