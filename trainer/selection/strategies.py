"""Selection strategies: which `budget` of N feature vectors get annotated (or enter the pool).

Every strategy is `fn(x [N, D] float32, budget, seed) -> indices` and is registered in
`STRATEGIES`; `select()` validates the input and returns the chosen indices sorted ascending.

- `random`    uniform without replacement; the only strategy the seed changes (the paper's
              baseline is averaged over 10 seeds).
- `kmedoids`  the paper (Sec. 3.2): k-means with k = budget on the features, then in each cluster
              the medoid, the member with the least mean distance to the other members.
- `kcenter`   greedy core-set (Sener & Savarese 2018): repeatedly take the point farthest from
              everything taken so far, starting from the point nearest the mean.
- `typiclust` TypiClust (Hacohen et al. 2022): k-means into `budget` clusters, then in each cluster
              the most typical point, typicality = 1 / mean distance to its K nearest neighbours.

The paper's k-medoids is one fixed choice per dataset, so the clustering strategies do not use the
seed: k-means always starts from `KMEANS_SEED` and a 10-seed sweep varies only training for them.
"""
from __future__ import annotations

import numpy as np
from sklearn.cluster import KMeans
from sklearn.metrics import pairwise_distances_chunked
from sklearn.metrics.pairwise import euclidean_distances
from sklearn.neighbors import NearestNeighbors
from threadpoolctl import threadpool_limits

from .registry import STRATEGIES, SelectionError

KMEANS_SEED = 0            # fixed k-means++ seed: clustering strategies are seed-independent
KMEANS_INITS = 3           # k-means++ restarts, lowest inertia kept; 3 keeps 5-of-3,000x2,048 well under 2 s
TYPICLUST_NEIGHBOURS = 20  # K of TypiClust's typicality (the TypiClust paper's value)
# BLAS / OpenMP threads while selecting. One: results do not depend on a machine's core count
# (float summation order), and busy-waiting thread pools slowed k-means 10x on a shared 2-core box.
SELECT_THREADS = 1


def select(features: np.ndarray, strategy: str, budget: int, seed: int = 0) -> list[int]:
    """Choose `budget` rows of `features` [N, D] with `strategy`; sorted indices into the rows."""
    fn = STRATEGIES[strategy]
    x = _check_features(features, fn.uses_features)
    n = len(x)
    if isinstance(budget, bool) or not isinstance(budget, (int, np.integer)):
        raise SelectionError(f"budget={budget!r} must be an integer")
    if budget < 1:
        raise SelectionError(f"budget={budget} must be >= 1")
    if budget > n:
        raise SelectionError(f"budget={budget} is larger than the pool of {n} samples")
    if budget == n:
        return list(range(n))
    with threadpool_limits(limits=SELECT_THREADS):
        picks = [int(i) for i in fn(x, int(budget), int(seed))]
    assert len(set(picks)) == budget, f"{strategy} chose {len(set(picks))} of {budget}"
    return sorted(picks)


def _check_features(features: np.ndarray, uses_features: bool) -> np.ndarray:
    x = np.asarray(features)
    if x.ndim != 2:
        raise SelectionError(f"features must be a 2-D array [N, D], got shape {x.shape}")
    if uses_features and not np.isfinite(x).all():
        raise SelectionError("features contain NaN or infinite values")
    return x.astype(np.float32, copy=False)


# ------------------------------------------------------------------------------------------------
@STRATEGIES.register("random", uses_features=False, uses_seed=True)
def random_strategy(x: np.ndarray, budget: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).choice(len(x), size=budget, replace=False)


@STRATEGIES.register("kmedoids", uses_features=True, uses_seed=False)
def kmedoids(x: np.ndarray, budget: int, seed: int) -> list[int]:
    """Paper Sec. 3.2: one medoid per k-means cluster (budget 1: the global medoid)."""
    return _one_per_cluster(x, budget, _medoid)


@STRATEGIES.register("typiclust", uses_features=True, uses_seed=False)
def typiclust(x: np.ndarray, budget: int, seed: int) -> list[int]:
    return _one_per_cluster(x, budget, _most_typical)


@STRATEGIES.register("kcenter", uses_features=True, uses_seed=False)
def kcenter(x: np.ndarray, budget: int, seed: int) -> list[int]:
    """Greedy farthest-first traversal from the point nearest the mean."""
    first = int(np.argmin(euclidean_distances(x, x.mean(axis=0, keepdims=True)).ravel()))
    return _farthest_first(x, [first], budget)


# ------------------------------------------------------------------------------------------------
def _one_per_cluster(x: np.ndarray, budget: int, pick) -> list[int]:
    """k-means into `budget` clusters, then `pick(members [M, D]) -> row` in each cluster."""
    if budget == 1:
        labels = np.zeros(len(x), dtype=np.int64)
    else:
        labels = KMeans(n_clusters=budget, n_init=KMEANS_INITS, random_state=KMEANS_SEED).fit(x).labels_
    chosen = []
    for cluster in range(budget):
        members = np.flatnonzero(labels == cluster)   # k-means can leave a cluster empty on duplicates
        if len(members):
            chosen.append(int(members[pick(x[members])]))
    return _farthest_first(x, chosen, budget)         # tops up only when clusters came out empty


def _medoid(members: np.ndarray) -> int:
    """Row with the least summed (= mean) Euclidean distance to the others; memory-bounded."""
    sums = np.concatenate(list(pairwise_distances_chunked(
        members, reduce_func=lambda chunk, start: chunk.sum(axis=1))))
    return int(np.argmin(sums))


def _most_typical(members: np.ndarray) -> int:
    """Row with the highest typicality 1 / mean distance to its K nearest neighbours."""
    if len(members) <= 2:
        return 0
    k = min(TYPICLUST_NEIGHBOURS, len(members) - 1)
    dist, _ = NearestNeighbors(n_neighbors=k + 1).fit(members).kneighbors(members)
    mean_dist = dist[:, 1:].mean(axis=1)              # column 0 is the point itself
    return int(np.argmax(1.0 / (mean_dist + 1e-12)))


def _farthest_first(x: np.ndarray, chosen: list[int], budget: int) -> list[int]:
    """Extend `chosen` to `budget` points, each time taking the one farthest from all chosen."""
    chosen = list(chosen)
    if len(chosen) >= budget:
        return chosen
    nearest = euclidean_distances(x, x[chosen]).min(axis=1)   # [N] distance to the nearest chosen
    while len(chosen) < budget:
        nearest[chosen] = -np.inf                              # never retake a point
        nxt = int(np.argmax(nearest))
        chosen.append(nxt)
        nearest = np.minimum(nearest, euclidean_distances(x, x[[nxt]]).ravel())
    return chosen
