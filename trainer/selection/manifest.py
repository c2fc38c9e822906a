"""Selection manifests: which training samples a trial uses unpaired (the pool) and paired.

Nested as in the paper (Sec. 4.1.1): the pool of `pool_size` unpaired samples is chosen from the
whole training split with `pool_strategy` (the paper: k-medoids, k = 200), then the `budget` paired
samples are chosen inside the pool with `strategy`. One JSON file per selection in
`cache_dir()/manifests/<dataset>/<key>.json`, published atomically (first writer wins, see
store.py), so the sweep can compute manifests as parallel tasks before the trials and every trial
with the same selection reads the same file.

The key covers only what changes the result: the dataset and its resolved root, the split, the
extractor (and its fingerprint) when a strategy uses features, the strategies, sizes, and the seed
when a strategy uses it (only `random`). A manifest whose split no longer lists the same files is
recomputed.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from trainer.core.config import ALL, TrialConfig
from trainer.data import SplitReader, cache_dir, dataset_info, open_split

from .features import reader_features
from .registry import EXTRACTORS, STRATEGIES, SelectionError
from .store import publish
from .strategies import select

SPLIT = "train"  # selection always draws from the training split


@dataclass(frozen=True)
class Manifest:
    dataset: str
    root: str                    # resolved dataset folder
    split: str
    features: str | None         # extractor name; None when no strategy used features
    pool_strategy: str | None    # None when the pool is the whole split
    pool_size: int               # -1 = the whole split
    strategy: str | None         # None when every pool sample is paired (-1) or none is (0)
    budget: int                  # paired samples; -1 = the whole pool, 0 = none (mode unpaired)
    seed: int | None             # None when no strategy used it
    split_size: int              # samples in the split
    split_digest: str            # sha1 of the split's stems, to notice a changed dataset
    unpaired: list[int]          # sorted indices into the split: the pool
    paired: list[int]            # sorted indices into the split, a subset of `unpaired`
    unpaired_stems: list[str]
    paired_stems: list[str]
    key: str
    path: str = ""               # where it is stored (not part of the file)


def manifest_for(cfg: TrialConfig) -> Manifest:
    """The trial's manifest: loaded from the cache or computed and published (contracts.md)."""
    return build_manifest(**manifest_request(cfg))


def manifest_request(cfg: TrialConfig) -> dict:
    """The config fields a trial's manifest depends on, as build_manifest's arguments: two
    configs with equal requests share one manifest (the sweeps compute each once)."""
    return dict(dataset=cfg.dataset, root=cfg.data_root, features=cfg.features,
                pool_strategy=cfg.pool_selection, pool_size=cfg.unpaired,
                strategy=cfg.selection, budget=cfg.paired_budget, seed=cfg.seed)


def build_manifest(dataset: str, *, root: str | None = None, features: str = "auto",
                   pool_strategy: str = "kmedoids", pool_size: int = ALL, strategy: str = "kmedoids",
                   budget: int = 1, seed: int = 0, device: str = "auto") -> Manifest:
    """Load or compute the manifest of one nested selection (see module doc)."""
    extractor = resolve_extractor(features, dataset)
    for name in (pool_strategy, strategy):
        STRATEGIES[name]                                # unknown names raise, even when unused
    if pool_size == 0 or pool_size < ALL:
        raise SelectionError(f"pool size unpaired={pool_size} must be -1 (whole split) or >= 1")
    if budget < ALL:
        raise SelectionError(f"paired budget={budget} must be -1 (whole pool), 0 or >= 1")
    reader = open_split(dataset, SPLIT, root)
    spec = _spec(reader, extractor, pool_strategy, pool_size, strategy, budget, seed)
    path = cache_dir() / "manifests" / dataset / f"{spec['key']}.json"
    digest = _digest(reader.stems)
    found = _read(path)
    if found is not None and found.split_digest == digest:
        return found
    stale = path.exists()          # an old or incompatible file: overwrite; else first writer wins
    manifest = _compute(reader, spec, digest, device)
    stored = {k: v for k, v in dataclasses.asdict(manifest).items() if k != "path"}
    blob = json.dumps(stored, indent=1).encode()
    publish(path, lambda f: f.write(blob), replace=stale)
    return _read(path)


def resolve_extractor(features: str, dataset: str) -> str:
    """The extractor name for `features` ("auto" = the dataset's default); unknown names raise."""
    if features == "auto":
        features = dataset_info(dataset).default_features
    EXTRACTORS[features]
    return features


def _spec(reader: SplitReader, extractor: str, pool_strategy: str, pool_size: int,
          strategy: str, budget: int, seed: int) -> dict:
    """The result-affecting fields, with irrelevant ones set to None, and their hash `key`."""
    used = ([pool_strategy] if pool_size != ALL else []) + ([strategy] if budget > 0 else [])
    needs_features = any(STRATEGIES[s].uses_features for s in used)
    spec = {
        "dataset": reader.dataset, "root": str(Path(reader.root).expanduser().resolve()),
        "split": reader.split,
        "features": extractor if needs_features else None,
        "fingerprint": EXTRACTORS[extractor].fingerprint() if needs_features else None,
        "pool_strategy": pool_strategy if pool_size != ALL else None, "pool_size": pool_size,
        "strategy": strategy if budget > 0 else None, "budget": budget,
        "seed": seed if any(STRATEGIES[s].uses_seed for s in used) else None,
    }
    spec["key"] = hashlib.sha1(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:16]
    return spec


def _compute(reader: SplitReader, spec: dict, digest: str, device: str) -> Manifest:
    n = len(reader)
    if spec["pool_size"] > n:
        raise SelectionError(f"unpaired={spec['pool_size']} is larger than {reader.dataset} "
                             f"{reader.split}'s {n} samples")
    x = (reader_features(reader, spec["features"], device) if spec["features"]
         else np.empty((n, 0), dtype=np.float32))          # [N, D]; random needs no features
    seed = spec["seed"] or 0
    pool = list(range(n)) if spec["pool_size"] == ALL else select(
        x, spec["pool_strategy"], spec["pool_size"], seed)
    if spec["budget"] == ALL:
        paired = pool
    elif spec["budget"] == 0:
        paired = []
    else:
        inside = select(x[pool], spec["strategy"], spec["budget"], seed)   # positions in the pool
        paired = sorted(pool[i] for i in inside)
    return Manifest(
        dataset=reader.dataset, root=spec["root"], split=reader.split, features=spec["features"],
        pool_strategy=spec["pool_strategy"], pool_size=spec["pool_size"],
        strategy=spec["strategy"], budget=spec["budget"], seed=spec["seed"], split_size=n,
        split_digest=digest, unpaired=pool, paired=paired,
        unpaired_stems=[reader.stems[i] for i in pool], paired_stems=[reader.stems[i] for i in paired],
        key=spec["key"])


def _digest(stems: list[str]) -> str:
    return hashlib.sha1("\n".join(stems).encode()).hexdigest()


def _read(path: Path) -> Manifest | None:
    """The stored manifest, or None when absent or written by an incompatible version."""
    if not path.is_file():
        return None
    fields = json.loads(path.read_text())
    if set(fields) != {f.name for f in dataclasses.fields(Manifest)} - {"path"}:
        return None
    fields["path"] = str(path)
    return Manifest(**fields)
