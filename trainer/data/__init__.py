"""Datasets: readers for the real on-disk formats and toy generators that write those formats.

    reader = open_split("toy-streets", "train")      # generated into cache_dir() on first use
    sample = reader[0]                               # Sample(stem, a, b, mask, archetype)
    bank = ImageBank.from_reader(reader, load_size=286, device="cuda")

Importing this package registers every reader and toy generator. `ImageBank` (torch, torchvision)
is imported on first use, so the readers and the preview CLI start without loading torch.
"""
from .cache import cache_dir
from .errors import DataError
from .reader import Sample, SplitReader
from .registry import (DatasetInfo, dataset_info, dataset_names, open_split,
                       toy_root)
from . import cityscapes, labelonly, pix2pix  # noqa: F401  (register the readers)
from . import toy_maps, toy_streets, toy_synthlabels  # noqa: F401  (register the toy generators)

__all__ = ["DataError", "DatasetInfo", "ImageBank", "Sample", "SplitReader", "cache_dir",
           "dataset_info", "dataset_names", "open_split", "toy_root"]


def __getattr__(name: str):
    if name == "ImageBank":
        from .bank import ImageBank
        return ImageBank
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
