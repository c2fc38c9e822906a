"""Dataset registry: `open_split`, `dataset_info`, and the decorators that fill it.

Two kinds of entries, both registered by decorator in the module that implements them:
- readers of an on-disk format (`@register_reader("cityscapes", ...)`): factory(root, split,
  direction) -> SplitReader;
- toy generators (`@register_toy("toy-streets", layout="cityscapes", ...)`): write(out, sizes, seed)
  writes the dataset in a reader's layout; `open_split` generates it into the cache on first use and
  then reads it back through that very reader.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from .cache import cache_dir, materialise
from .errors import DataError
from .reader import SplitReader
from trainer.core.registry import Registry

KINDS = ("segmentation", "maps", "labels-only")
# Which half of a pix2pix AB file is domain A (a fact about the files, not the translation
# TrialConfig.direction scores): AtoB = the left half.
AB_HALVES = ("AtoB", "BtoA")
REAL_FEATURES = "resnet50-imagenet"  # ImageNet ResNet50 penultimate layer, as in the paper (section 3.2)
TOY_FEATURES = "thumbnails-offline"  # small offline extractor for toy data: no ImageNet download needed
TOY_SEED = 0                # toy datasets are generated deterministically from this seed


@dataclass(frozen=True)
class DatasetInfo:
    name: str
    kind: str                      # segmentation | maps | labels-only
    default_features: str          # feature extractor for selection when cfg.features == "auto"
    is_toy: bool
    splits: tuple[str, ...]
    layout: str                    # the on-disk format (a reader's name); toys are written in it
    variants: dict[str, dict[str, int]] = field(default_factory=dict)  # toy: variant -> split sizes
    version: int = 0               # toy: bump when the generator's output changes (new cache folder)
    train_size: int = 0            # images in the default train split (the published one for
                                   # real sets; sets the default step count); 0 = not known
    classes: str | None = None     # the label set of B / mask: "cityscapes-19" (train ids 0-18,
                                   # 255 = ignore); None for maps (B is a rendered map)
    synthetic_labels: dict[str, str] = field(default_factory=dict)  # Table 3: "far" / "close" ->
                                   # a label-only set to pair this dataset's photos with

    @property
    def is_maps(self) -> bool:
        return self.kind == "maps"


_READERS: dict[str, Callable[[Path, str, str], SplitReader]] = {}
_TOYS: dict[str, Callable[[Path, dict[str, int], int], None]] = {}
DATASETS = Registry("dataset", DataError)   # name -> DatasetInfo; TrialConfig.dataset picks one


def register_reader(name: str, *, kind: str, splits: tuple[str, ...], train_size: int = 0,
                    classes: str | None = None, synthetic_labels: dict[str, str] | None = None):
    """Register factory(root, split, direction) -> SplitReader for an on-disk format, with the
    dataset's facts (DatasetInfo's fields)."""
    assert kind in KINDS, kind

    def decorate(factory):
        DATASETS.register(name)(DatasetInfo(name, kind, REAL_FEATURES, False, splits, layout=name,
                                            train_size=train_size, classes=classes,
                                            synthetic_labels=dict(synthetic_labels or {})))
        _READERS[name] = factory
        return factory
    return decorate


def register_toy(name: str, *, layout: str, kind: str, variants: dict[str, dict[str, int]],
                 version: int, classes: str | None = None,
                 synthetic_labels: dict[str, str] | None = None):
    """Register write(out_dir, sizes {split: n}, seed) that writes a toy dataset in `layout`;
    its train size is the default variant's."""
    assert kind in KINDS and "default" in variants, (kind, variants)

    def decorate(write):
        splits = tuple(variants["default"])
        DATASETS.register(name)(DatasetInfo(name, kind, TOY_FEATURES, True, splits, layout,
                                            variants, version, variants["default"].get("train", 0),
                                            classes, dict(synthetic_labels or {})))
        _TOYS[name] = write
        return write
    return decorate


def unregister_dataset(name: str) -> None:
    """Drop a registered dataset (a test's toy entry); its cached files stay."""
    DATASETS.unregister(name)
    _READERS.pop(name, None)
    _TOYS.pop(name, None)


def dataset_names() -> list[str]:
    return DATASETS.names()


def dataset_info(name: str) -> DatasetInfo:
    """The registry entry for `name`; an unknown name raises DataError listing the valid ones."""
    return DATASETS[name]


def toy_root(name: str, variant: str = "default") -> Path:
    """Folder of toy dataset `name` in the cache, generated on first use (atomically).

    `variant="small"` is a few dozen images with every archetype present, for quick tests.
    """
    info = dataset_info(name)
    if not info.is_toy:
        raise DataError(f"dataset {name!r} is not a toy dataset; pass its root folder")
    if variant not in info.variants:
        raise DataError(f"unknown variant {variant!r} of {name} (valid: {', '.join(info.variants)})")
    final = cache_dir() / "datasets" / f"{name}-{variant}-v{info.version}-seed{TOY_SEED}"
    sizes = info.variants[variant]
    return materialise(final, lambda out: _TOYS[name](out, sizes, TOY_SEED))


def open_split(dataset: str, split: str, root: str | Path | None = None,
               direction: str = "AtoB") -> SplitReader:
    """Open one split of a dataset through its on-disk reader.

    root=None: toy datasets are generated into the cache on first use; real ones need a root.
    direction: only the pix2pix reader uses it -- which half of an AB file is domain A (see
    pix2pix.py); every other reader ignores it.
    """
    info = dataset_info(dataset)
    if direction not in AB_HALVES:
        raise DataError(f"direction {direction!r} is not one of {', '.join(AB_HALVES)}")
    if root is None:
        if not info.is_toy:
            raise DataError(f"dataset {dataset!r} needs a root folder (data_root)")
        root = toy_root(dataset)
    root = Path(root).expanduser()
    if not root.is_dir():
        raise DataError(f"dataset root {root} does not exist ({dataset})")
    if split not in info.splits:
        raise DataError(f"split {split!r} is not one of {dataset}'s splits "
                        f"({', '.join(info.splits)})")
    reader = _READERS[info.layout](root, split, direction)
    reader.dataset, reader.kind = dataset, info.kind
    return reader
