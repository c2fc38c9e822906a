"""Manifests on the real toy data: nested pool -> pairs, caching, concurrency, errors, and the
archetype coverage k-medoids buys over random on toy-streets."""
from __future__ import annotations

import json
import multiprocessing
import shutil
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from trainer.core.config import TrialConfig
from trainer.data import cache_dir, open_split, toy_root
from trainer.selection import SelectionError, build_manifest, features_for, manifest_for, select
from trainer.selection import manifest as manifest_module
from trainer.selection.resnet import WEIGHTS_ENV


@pytest.fixture(scope="module")
def small_root():
    """toy-streets' small variant: 40 training images, every archetype present."""
    return str(toy_root("toy-streets", "small"))


def trial(small_root, **changes) -> TrialConfig:
    base = dict(dataset="toy-streets", data_root=small_root, unpaired=20, paired_budget=3)
    return TrialConfig(**{**base, **changes})


def test_pairs_are_chosen_inside_the_pool_as_the_paper_nests_them(small_root):
    m = manifest_for(trial(small_root))
    x = features_for("toy-streets", "train", "thumbnails-offline", root=small_root)
    pool = select(x, "kmedoids", 20, seed=0)                      # 20 of the 40 by k-medoids
    inside = select(x[pool], "kmedoids", 3, seed=0)               # then 3 of those 20
    assert m.unpaired == pool and m.paired == sorted(pool[i] for i in inside)
    stems = open_split("toy-streets", "train", small_root).stems
    assert m.unpaired_stems == [stems[i] for i in pool] and m.paired_stems == [stems[i] for i in m.paired]
    assert m.features == "thumbnails-offline" and m.seed is None and m.split_size == 40
    assert m.path == str(cache_dir() / "manifests" / "toy-streets" / f"{m.key}.json")


def _no_recomputing(*args):
    raise AssertionError("the manifest was recomputed instead of read")


def test_a_manifest_is_read_back_not_recomputed(small_root, monkeypatch):
    first = manifest_for(trial(small_root, unpaired=10, paired_budget=2))
    path = Path(first.path)
    stamp = path.stat().st_mtime_ns
    monkeypatch.setattr(manifest_module, "_compute", _no_recomputing)
    # mode and seed do not change a k-medoids selection: the same manifest serves both trials
    again = manifest_for(trial(small_root, unpaired=10, paired_budget=2, mode="paired", seed=7))
    assert again == first and path.stat().st_mtime_ns == stamp
    assert json.loads(path.read_text())["paired"] == first.paired


def test_whole_split_whole_pool_and_no_pairs(small_root):
    everything = manifest_for(trial(small_root, unpaired=-1, paired_budget=-1, features="resnet50-imagenet"))
    assert everything.unpaired == everything.paired == list(range(40))
    assert everything.features is None and everything.strategy is None     # nothing was selected
    unpaired_only = manifest_for(trial(small_root, mode="unpaired", paired_budget=0))
    assert unpaired_only.paired == [] and len(unpaired_only.unpaired) == 20
    whole_pool = manifest_for(trial(small_root, paired_budget=-1))
    assert whole_pool.paired == whole_pool.unpaired == unpaired_only.unpaired


def test_random_needs_no_features_and_varies_with_the_seed(small_root, monkeypatch, tmp_path):
    monkeypatch.delenv(WEIGHTS_ENV, raising=False)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))                 # no ResNet50 weights anywhere
    picks = [manifest_for(trial(small_root, selection="random", pool_selection="random",
                                features="resnet50-imagenet", seed=s)) for s in range(3)]
    assert all(m.features is None and m.seed == s for s, m in enumerate(picks))
    assert len({tuple(m.paired) for m in picks}) == 3
    assert picks[1].unpaired == select(np.empty((40, 0)), "random", 20, seed=1)


def _manifest_in_child(small_root: str) -> str:
    return open(build_manifest("toy-streets", root=small_root, pool_size=12, budget=4).path).read()


@pytest.mark.slow   # two fresh interpreters import torch and scikit-learn: ~10 s on 2 idle cores
def test_concurrent_processes_publish_one_identical_manifest(small_root, monkeypatch, tmp_path):
    monkeypatch.setenv("FEWPAIR_CACHE", str(tmp_path))             # a fresh cache: all compute
    shutil.copytree(small_root, tmp_path / "toy")
    with ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn")) as pool:
        texts = list(pool.map(_manifest_in_child, [str(tmp_path / "toy")] * 2))
    assert texts[0] == texts[1] and len(json.loads(texts[0])["paired"]) == 4
    assert len(list((tmp_path / "manifests" / "toy-streets").iterdir())) == 1   # no temporaries
    assert len(list((tmp_path / "features" / "toy-streets").iterdir())) == 1


def test_a_changed_split_gets_a_fresh_manifest(small_root, tmp_path):
    root = shutil.copytree(small_root, tmp_path / "toy")
    before = build_manifest("toy-streets", root=str(root), pool_size=-1, strategy="kcenter", budget=3)
    first = before.paired_stems[0]
    for photo in root.glob(f"leftImg8bit/train/*/{first}_leftImg8bit.png"):
        photo.unlink()                                             # the first chosen image leaves
    after = build_manifest("toy-streets", root=str(root), pool_size=-1, strategy="kcenter", budget=3)
    assert after.path == before.path and after.split_size == 39 and first not in after.paired_stems


@pytest.mark.parametrize("changes, message", [
    (dict(unpaired=41, paired_budget=3), "unpaired=41 is larger than toy-streets train's 40 samples"),
    (dict(unpaired=-1, paired_budget=41), "budget=41 is larger than the pool of 40 samples"),
    (dict(selection="coreset"), "unknown selection strategy 'coreset' (valid: kcenter, kmedoids, "
                                "random, typiclust)"),
    (dict(pool_selection="kmeans", unpaired=-1), "unknown selection strategy 'kmeans'"),
    (dict(features="offline"), "unknown feature extractor 'offline' "
                               "(valid: resnet50-imagenet, thumbnails-offline)"),
])
def test_bad_selections_are_one_line_errors(small_root, changes, message):
    with pytest.raises(SelectionError) as err:
        manifest_for(trial(small_root, **changes))
    assert str(err.value).startswith(message) and "\n" not in str(err.value)


def test_budget_below_one_is_an_error_below_the_config():
    with pytest.raises(SelectionError, match=r"^paired budget=-2 must be -1 \(whole pool\), 0 or >= 1$"):
        build_manifest("toy-streets", pool_size=-1, budget=-2)
    with pytest.raises(SelectionError, match=r"^pool size unpaired=0 must be -1"):
        build_manifest("toy-streets", pool_size=0, budget=1)


def test_kmedoids_covers_more_toy_archetypes_than_random():
    """toy-streets (300 images, 5 archetypes at 50/25/13/8/4 %), k = 5 on the offline features."""
    reader = open_split("toy-streets", "train")
    archetypes = np.array(reader.archetypes)
    kmedoids = manifest_for(TrialConfig(dataset="toy-streets", unpaired=-1, paired_budget=5))
    covered = len(set(archetypes[kmedoids.paired]))
    x = features_for("toy-streets", "train", "thumbnails-offline")
    random = [len(set(archetypes[select(x, "random", 5, seed=s)])) for s in range(20)]
    assert covered >= 4                                 # measured: 4 (all but the parks)
    assert covered >= np.mean(random) + 1.0             # measured: random covers 2.65 on average
