"""Features of a dataset split, computed in batches by a registered extractor and cached on disk.

Cache: `cache_dir()/features/<dataset>/<split>-<extractor>-<hash>.npz` holding `features`
[N, D] float32 and the split's `stems`; the hash covers the resolved dataset root and the
extractor's fingerprint (e.g. which weights file). A cached file whose stems differ from the
split's (files added or removed) is recomputed. Features are taken from the photos (domain A);
label-only sets have none, so theirs come from the label colours (domain B).

Device: "auto" computes features on the CPU, so that a manifest's picks never depend on which
machine computed it (on a GPU, TF32 convolutions moved 62 of 8,192 ResNet50 values by more than
1%); an explicit "cuda" runs with TF32 off. The CPU cost is paid once per split (cached):
bench/feature_device.py.
"""
from __future__ import annotations

import hashlib
import typing
from pathlib import Path

import numpy as np
from tqdm import tqdm

from trainer.data import SplitReader, cache_dir, open_split

from .registry import EXTRACTORS, SelectionError
from .store import publish


class Extractor(typing.Protocol):
    """What an `EXTRACTORS` entry builds: `Extractor(device)(images) -> [B, dim] float32`."""

    dim: int
    batch_size: int

    @classmethod
    def fingerprint(cls) -> str: ...

    def __call__(self, images: list[np.ndarray]) -> np.ndarray: ...


def feature_device(device: str) -> str:
    """Where features are computed: "auto" -> "cpu" (picks independent of the machine, see the
    module doc); anything else as given."""
    return "cpu" if device == "auto" else device


def features_for(dataset: str, split: str = "train", extractor: str = "thumbnails-offline",
                 root: str | Path | None = None, device: str = "auto") -> np.ndarray:
    """[N, D] float32 features of `dataset`/`split`, row i = reader[i]; cached (see module doc)."""
    return reader_features(open_split(dataset, split, root), extractor, device)


def reader_features(reader: SplitReader, extractor: str, device: str = "auto") -> np.ndarray:
    """Features of an open split: from the cache, or computed, cached and read back."""
    factory = EXTRACTORS[extractor]
    path = cache_path(reader, extractor, factory.fingerprint())
    cached = _load(path, reader.stems)
    if cached is not None:
        return cached
    stale = path.exists()          # lists other stems: overwrite; else the first writer wins
    x = compute(reader, factory(feature_device(device)),
                f"{extractor} {reader.dataset}/{reader.split}")
    publish(path, lambda f: np.savez(f, features=x, stems=np.array(reader.stems)), replace=stale)
    return _load(path, reader.stems)   # the published file: the same bytes for every racer


def cache_path(reader: SplitReader, extractor: str, fingerprint: str) -> Path:
    root = str(Path(reader.root).expanduser().resolve())
    digest = hashlib.sha1(f"{root}|{fingerprint}".encode()).hexdigest()[:12]
    return cache_dir() / "features" / reader.dataset / f"{reader.split}-{extractor}-{digest}.npz"


def compute(reader: SplitReader, extract: Extractor, desc: str = "features") -> np.ndarray:
    """Run `extract` over the split in batches with a progress bar: [N, dim] float32."""
    out = np.empty((len(reader), extract.dim), dtype=np.float32)
    starts = range(0, len(reader), extract.batch_size)
    for start in tqdm(starts, desc=desc, unit="batch", mininterval=2.0):
        stop = min(start + extract.batch_size, len(reader))
        images = [_image(reader[i]) for i in range(start, stop)]
        out[start:stop] = extract(images)
    if not np.isfinite(out).all():
        raise SelectionError(f"{desc}: the extractor produced non-finite features")
    return out


def _image(sample) -> np.ndarray:
    return sample.a if sample.a is not None else sample.b   # [H, W, 3] uint8


def _load(path: Path, stems: list[str]) -> np.ndarray | None:
    """The cached features if the file exists and lists exactly these stems, else None."""
    if not path.is_file():
        return None
    with np.load(path) as f:
        if f["stems"].tolist() != list(stems):
            return None
        return f["features"]
