"""Named grids as plain data: one per paper table, plus `demo` (a laptop) and `smoke` (tests).

A grid is a base TrialConfig (fields every trial shares) and a few *arms*; an arm fixes some
fields and takes the product of its axes. `expand(grid)` turns that into the de-duplicated list
of TrialConfigs that Ray Tune runs, one trial per config:

    grid = get_grid("table1")                   # the paper's Table 1, on Cityscapes
    grid = get_grid("table1", "toy-streets")    # the same grid pointed at another dataset
    cfgs = expand(grid, data_root="data/cityscapes",
                  weights=parse_weights("cycle=5,identity=5,paired=150"))

Each grid factory takes the dataset, so dataset-specific choices (which label-only sets are
"far" and "close" in Table 3) live beside the grid. Sizes at paper scale: 256 crop of 286,
ngf/ndf 64, 9 residual blocks (lost from the paper's text: CycleGAN's and the released code's
defaults); 200 unpaired samples picked by k-medoids (100 for maps), 10 seeds per arm.
"""
from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from typing import Callable, Mapping, Sequence

from trainer.core.config import ALL, LAMBDA_FIELDS, VARIANTS, TrialConfig
from trainer.data import dataset_info, dataset_names
from trainer.core.registry import did_you_mean

SEEDS = tuple(range(10))      # the paper averages 10 runs per arm (Tables 1, 8)
BUDGETS = (1, 5, 10, 20, 40)  # paired samples, Tables 1, 2, 7, 8, 9
POOL = 200                    # unpaired samples chosen by k-medoids (Cityscapes, section 4.1.1)
MAPS_POOL = 100               # unpaired samples for maps (section 4.2.3)
SELECTORS = ("random", "kmedoids")
SCIENCE_SELECTORS = ("random", "kmedoids", "kcenter", "typiclust")   # all of trainer.selection
PAPER_SIZES = dict(image_size=256, load_size=286, ngf=64, ndf=64, n_blocks=9)  # CycleGAN's
# A paper-scale checkpoint is 418 MB (docs/real-data.md): one every 5,000 steps bounds what a
# reclaimed spot worker loses (the dry run's rates, sweeps/plan/costs.py: ~4 min of an H200 for
# a trial alone at 21.2 steps/s, ~16 with four sharing it, no sharing gain being measured)
PAPER_RUNTIME = dict(checkpoint_every=5000)
PAPER_BASE = {**PAPER_SIZES, **PAPER_RUNTIME}
TINY_SIZES = dict(image_size=32, load_size=36, ngf=8, ndf=8, n_blocks=2)   # 2 CPU cores
GPU_SIZES = dict(image_size=64, load_size=72, ngf=32, ndf=32, n_blocks=6)   # science-gpu: one GPU

WEIGHT_FIELDS = LAMBDA_FIELDS   # --weights NAME -> the λ field (trainer.core.config)
REQUIRED_WEIGHTS = ("cycle", "identity", "paired")


class GridError(ValueError):
    """An unknown grid, a grid that does not fit a dataset, or bad --weights; one line."""


@dataclass(frozen=True)
class Arm:
    """One block of a grid: `fixed` fields times the product of `axes` (field -> values)."""
    label: str
    fixed: Mapping[str, object] = field(default_factory=dict)
    axes: Mapping[str, Sequence[object]] = field(default_factory=dict)


@dataclass(frozen=True)
class Grid:
    name: str
    dataset: str
    description: str
    base: Mapping[str, object]   # TrialConfig fields shared by every trial (dataset excluded)
    arms: tuple[Arm, ...]
    note: str = ""               # printed after the grid's tables: what its size can show


_GRIDS: dict[str, Callable[[str], Grid]] = {}
_DEFAULT_DATASET: dict[str, str] = {}


def register(name: str, dataset: str):
    """Register factory(dataset) -> Grid under `name`, with its default dataset."""
    def decorate(factory: Callable[[str], Grid]) -> Callable[[str], Grid]:
        _GRIDS[name], _DEFAULT_DATASET[name] = factory, dataset
        return factory
    return decorate


def grid_names() -> list[str]:
    return list(_GRIDS)


def get_grid(name: str, dataset: str | None = None) -> Grid:
    """Grid `name` on `dataset` (default: the grid's own); unknown names list the valid ones."""
    if name not in _GRIDS:
        raise GridError(f"unknown grid {name!r}{did_you_mean(name, grid_names())} "
                        f"(valid: {', '.join(grid_names())})")
    return _GRIDS[name](dataset or _DEFAULT_DATASET[name])


# --- expansion --------------------------------------------------------------------------------
def arm_points(grid: Grid, arm: Arm) -> list[dict[str, object]]:
    names = list(arm.axes)
    combos = itertools.product(*(arm.axes[n] for n in names))
    return [{**grid.base, **arm.fixed, **dict(zip(names, combo)), "dataset": grid.dataset}
            for combo in combos]


def expand(grid: Grid, data_root: str | None = None,
           weights: Mapping[str, float] | None = None,
           labels_roots: Mapping[str, str] | None = None) -> list[TrialConfig]:
    """Every trial of the grid as a TrialConfig, duplicates (same key) dropped, order kept.

    `weights` (from --weights) replace the base λs; an arm that switches a term off (the
    ablation's λ_cyc = 0) keeps it off. `data_root` points every trial at real data;
    `labels_roots` (label-only dataset -> folder) the unpaired labels of Table 3's arms.
    """
    cfgs: dict[str, TrialConfig] = {}
    base_weights = {WEIGHT_FIELDS[k]: float(v) for k, v in (weights or {}).items()}
    for arm in grid.arms:
        for point in arm_points(grid, arm):
            point.update({k: v for k, v in base_weights.items() if arm.fixed.get(k) != 0})
            if data_root is not None:
                point["data_root"] = data_root
            labels = point.get("unpaired_labels", "same")
            if labels_roots and labels in labels_roots:
                point["unpaired_labels_root"] = labels_roots[labels]
            cfg = TrialConfig.from_dict(point)
            cfgs.setdefault(cfg.key(), cfg)
    return list(cfgs.values())


def parse_labels_roots(items: Sequence[str], grid: Grid) -> dict[str, str]:
    """`["gta5=PATH", "synscapes=PATH"]` -> {name: PATH}; each name must be one the grid uses."""
    used = {p.get("unpaired_labels", "same") for arm in grid.arms for p in arm_points(grid, arm)}
    used.discard("same")
    roots = {}
    for item in items:
        name, sep, path = item.partition("=")
        if not sep or not path:
            raise GridError(f"--labels-root: {item!r} is not NAME=PATH")
        if name not in used:
            raise GridError(f"--labels-root: grid {grid.name} takes no unpaired labels from "
                            f"{name!r} (it uses: {', '.join(sorted(used)) or 'none'})")
        roots[name] = path
    return roots


def varying_fields(cfgs: Sequence[TrialConfig]) -> list[str]:
    """Config fields whose value differs between trials (the columns worth showing)."""
    rows = [cfg.to_row() for cfg in cfgs]
    return [name for name in rows[0] if len({repr(r[name]) for r in rows}) > 1] if rows else []


def parse_weights(text: str) -> dict[str, float]:
    """`cycle=10,identity=10,paired=150[,adv=1]` -> {"cycle": 10.0, ...} (the paper's λs)."""
    weights: dict[str, float] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, sep, value = part.partition("=")
        if not sep or name not in WEIGHT_FIELDS:
            raise GridError(f"--weights: {part!r} is not NAME=VALUE with NAME one of "
                            f"{', '.join(WEIGHT_FIELDS)}")
        try:
            weights[name] = float(value)
        except ValueError:
            raise GridError(f"--weights: {name}={value!r} is not a number") from None
        if not 0 <= weights[name] < math.inf:   # inf / nan: every trial's loss is non-finite
            raise GridError(f"--weights: {name}={value} must be a finite number >= 0")
    missing = [n for n in REQUIRED_WEIGHTS if n not in weights]
    if missing:
        raise GridError(f"--weights: missing {', '.join(missing)} (give cycle, identity, paired)")
    return weights


# --- arm builders -----------------------------------------------------------------------------
def _paired_only(budgets=BUDGETS, selectors=SELECTORS, seeds=SEEDS) -> Arm:
    return Arm("paired-only", {"mode": "paired"},
               {"paired_budget": budgets, "selection": selectors, "seed": seeds})


def _hybrid(budgets=BUDGETS, selectors=("kmedoids",), seeds=SEEDS, label="hybrid", **fixed) -> Arm:
    return Arm(label, {"mode": "hybrid", **fixed},
               {"paired_budget": budgets, "selection": selectors, "seed": seeds})


def _unpaired_only(pool: int, seeds=SEEDS, pool_selectors=("kmedoids",),
                   label="unpaired-only") -> Arm:
    return Arm(label, {"mode": "unpaired", "paired_budget": 0, "unpaired": pool},
               {"pool_selection": pool_selectors, "seed": seeds})


def _all_pairs(pool: int, seeds=(0,), label="all-pairs") -> Arm:
    """Every sample of the pool paired, fewpair's ResNet generator (pool = ALL: the whole
    training split — beside, not instead of, the paper's pix2pix row)."""
    return Arm(label, {"mode": "paired", "paired_budget": ALL, "unpaired": pool},
               {"seed": seeds})


def _full_supervision(seeds=(0,)) -> tuple[Arm, ...]:
    """The paper's fully supervised rows are pix2pix (U-Net, conditional PatchGAN, vanilla GAN,
    lambda_L1 100) on every training pair; the same pairs through the ResNet stay as a row of
    their own."""
    pix2pix = Arm("pix2pix (all pairs)", {"mode": "paired", "paired_budget": ALL,
                                          "unpaired": ALL, "arch": "pix2pix"}, {"seed": seeds})
    return pix2pix, _all_pairs(ALL, seeds, label="all-pairs (resnet)")


def _hybrid_table(grid_name: str, dataset: str, direction: str, description: str) -> Grid:
    """Tables 2 and 9: 200 k-medoids unpaired + 0/1/5/10/20/40 pairs, balanced; unbalanced at
    20; random single pairs (the paper gives no count; 10 seeds here); paired-only on the 200;
    CycleGAN and pix2pix on the whole split. Extension, not a row of the paper: unpaired-only
    on a random pool of 200 (the paper chose its 200 by k-medoids only)."""
    arms = (
        _hybrid(),
        _hybrid(budgets=(20,), label="unbalanced", balance=False),
        _hybrid(budgets=(1,), selectors=("random",), label="random single pair"),
        _unpaired_only(POOL),
        _unpaired_only(POOL, pool_selectors=("random",),
                       label="unpaired-only, random pool (extension)"),
        _all_pairs(POOL, seeds=SEEDS),
        _unpaired_only(ALL, seeds=(0,)),
        *_full_supervision(),
    )
    return Grid(grid_name, dataset, description, {**PAPER_BASE, "direction": direction}, arms)


# --- the grids --------------------------------------------------------------------------------
@register("demo", "toy-streets")
def demo(dataset: str) -> Grid:
    """Toy streets at tiny sizes: 5 pairs x random/k-medoids x 3 seeds in the hybrid, beside
    the unpaired-only baseline (3 seeds): 9 trials of 1,000 steps of 32x32, in two packs.
    Why 1,000 steps: the demo's learning curves (docs/learning-curve.md) have mostly flattened
    there, and at 300 every trial is still on its steep rise (its pictures colour mush). Why 9
    trials: 18 of 1,000 steps took 9 min 19 s on 2 cores; without the 1-pair and paired-only
    arms (the science grid has both) it takes under 5 minutes (README gives the measured time:
    4 min 22 s on a fresh clone, half a minute of it before training), and the 9 share one pack
    key, so two packs fill both cores."""
    seeds = (0, 1, 2)
    base = {**TINY_SIZES, "unpaired": 40, "steps": 1000, "eval_limit": 24, "report_every": 100,
            "checkpoint_every": 500}
    arms = (_hybrid(budgets=(5,), selectors=SELECTORS, seeds=seeds),
            _unpaired_only(40, seeds=seeds))
    return Grid("demo", dataset, demo.__doc__ or "", base, arms, note=DEMO_NOTE)


DEMO_NOTE = (
    "What this demo can show: the pipeline end to end (selection, hybrid training, evaluation, "
    "rows, tables, plots, the report's pictures) and that 5 pairs help the unpaired-only "
    "baseline. What it cannot: the selection effect. With 3 seeds against 3 Welch's interval "
    "has about 4 degrees of freedom (2.8 standard errors each side), and at this size the "
    "seed-to-seed spread is as large as the effect, so k-medoids vs random is noise here. For the paper's questions run the science grid (Table 1's "
    "selectors x 10 seeds, Table 2's arms x 6; 29 min packed on 2 CPU cores): "
    "python sweeps/run_grid.py --grid science, then python -m analysis results --grid science "
    "--html science.html")


@register("smoke", "toy-streets")
def smoke(dataset: str) -> Grid:
    """Three trials of a few steps (hybrid 1 pair x 2 selectors, unpaired-only), for tests."""
    base = {**TINY_SIZES, "unpaired": 8, "steps": 4, "eval_limit": 2, "report_every": 2,
            "checkpoint_every": 2, "image_pool": 4}
    arms = (_hybrid(budgets=(1,), selectors=SELECTORS, seeds=(0,)), _unpaired_only(8, seeds=(0,)))
    return Grid("smoke", dataset, smoke.__doc__ or "", base, arms)


@register("table1", "cityscapes")
def table1(dataset: str) -> Grid:
    """Table 1, photos -> labels, paired only: 1/5/10/20/40 pairs x random/k-medoids x 10 seeds
    (inside the k-medoids pool of 200), plus every training pair (pix2pix, and the ResNet)."""
    arms = (_paired_only(), *_full_supervision())
    return Grid("table1", dataset, table1.__doc__ or "", {**PAPER_BASE, "unpaired": POOL}, arms)


@register("table2", "cityscapes")
def table2(dataset: str) -> Grid:
    """Table 2, photos -> labels: 200 unpaired + 0/1/5/10/20/40 k-medoids pairs (balanced),
    unbalanced at 20, ten random single pairs, paired-only on 200, CycleGAN and pix2pix on all."""
    return _hybrid_table("table2", dataset, "AtoB", table2.__doc__ or "")


@register("table3", "cityscapes")
def table3(dataset: str) -> Grid:
    """Table 3 (and 7): 1..40 paired Cityscapes samples + 200 unpaired photos whose unpaired
    labels come from nowhere (paired only), a far set (GTA5), a close set (Synscapes), or the
    same dataset (the upper baseline)."""
    labels = dataset_info(dataset).synthetic_labels   # the registry's far / close label sets
    if not labels:
        known = [name for name in dataset_names() if dataset_info(name).synthetic_labels]
        raise GridError(f"grid table3 needs far/close label sets for dataset {dataset!r} "
                        f"(known: {', '.join(known)})")
    arms = (_paired_only(selectors=("kmedoids",)),
            _hybrid(label="far labels", unpaired_labels=labels["far"]),
            _hybrid(label="close labels", unpaired_labels=labels["close"]),
            _hybrid(label="same labels"))
    return Grid("table3", dataset, table3.__doc__ or "", {**PAPER_BASE, "unpaired": POOL}, arms)


@register("table4", "pix2pix")
def table4(dataset: str) -> Grid:
    """Table 4, aerial -> maps: 100 unpaired + 0/1/5/10/20 k-medoids pairs, paired-only on the
    100, CycleGAN and pix2pix on the full 1096 (and the ResNet on all pairs)."""
    arms = (_hybrid(budgets=(1, 5, 10, 20)), _unpaired_only(MAPS_POOL),
            _all_pairs(MAPS_POOL, SEEDS), _unpaired_only(ALL, seeds=(0,)),
            *_full_supervision())
    return Grid("table4", dataset, table4.__doc__ or "",
                {**PAPER_BASE, "unpaired": MAPS_POOL}, arms)


@register("table8", "cityscapes")
def table8(dataset: str) -> Grid:
    """Table 8: Table 1 for labels -> photos (FCN score)."""
    grid = table1(dataset)
    return Grid("table8", dataset, table8.__doc__ or "", {**grid.base, "direction": "BtoA"},
                grid.arms)


@register("table9", "cityscapes")
def table9(dataset: str) -> Grid:
    """Table 9: Table 2 for labels -> photos (FCN score)."""
    return _hybrid_table("table9", dataset, "BtoA", table9.__doc__ or "")


@register("ablation", "cityscapes")
def ablation(dataset: str) -> Grid:
    """Table 5: 20 k-medoids pairs + 200 unpaired, full loss / without cycle / without identity."""
    arms = (_hybrid(budgets=(20,), label="full"),
            _hybrid(budgets=(20,), label="without cycle", lambda_cycle=0.0),
            _hybrid(budgets=(20,), label="without identity", lambda_identity=0.0))
    return Grid("ablation", dataset, ablation.__doc__ or "", {**PAPER_BASE, "unpaired": POOL},
                arms)


@register("science", "toy-streets")
def science(dataset: str) -> Grid:
    """Does the toy benchmark show the paper's effects, with their spread? Table 1's
    shape: 1 and 5 pairs x random/k-medoids/k-center/TypiClust x 10 seeds, paired only, inside
    a k-medoids pool of 200; Table 2's: that pool unpaired + 0/1/5 k-medoids pairs, balanced and
    not, x 6 seeds. 1,000 steps of 32x32 for every trial, the whole 100-image val split scored:
    110 trials (README, "Does it reproduce?", gives the measured wall time).
    Why 1,000 steps: this grid's learning curves (docs/learning-curve.md, 3 seeds a shape) have
    mostly flattened there: paired-only on 1 pair is flat from 250 steps (.40-.42), on 5 pairs
    .59 at 1,000 against .59-.60 to 2,000; the hybrid on 5 pairs .60 at 1,000 against a .62
    plateau from 1,250; unpaired-only is still noisy (.33 at 1,000, .36 at 2,000). 1,250 steps
    would buy the hybrid ~.02 for a quarter more time. At 400 (the old length) the hybrid was
    still rising steeply. Why 6 seeds for Table 2's arms: 3 against 3 cannot give a permutation
    p below 0.1, 6 against 6 can reach .002, which stays under .05 after Holm over the seven
    claims `python -m analysis` checks on this grid."""
    hybrid_seeds = SEEDS[:6]
    base = {**TINY_SIZES, "unpaired": POOL,   # 200 of toy-streets' 300 training scenes
            "steps": 1000,         # same for every arm: the arms differ only in data
            "eval_limit": 0,       # all 100 val scenes: the rarest archetype (4 %) has 4 of them
            "report_every": 100, "checkpoint_every": 0}   # checkpoint only at the end
    arms = (_paired_only(budgets=(1, 5), selectors=SCIENCE_SELECTORS),
            _unpaired_only(POOL, seeds=hybrid_seeds),
            _hybrid(budgets=(1, 5), seeds=hybrid_seeds),
            _hybrid(budgets=(1, 5), seeds=hybrid_seeds, label="unbalanced", balance=False))
    return Grid("science", dataset, science.__doc__ or "", base, arms)


@register("fidelity", "toy-streets")
def fidelity(dataset: str) -> Grid:
    """Does the authors' released step (no cycle gradient, D first, C(real) from past reals,
    pairs then unpaired samples without replication) train to another result than the paper's
    text? Hybrid, 100 k-medoids unpaired + 1 and 5 k-medoids pairs x 6 seeds: the paper's step,
    the released step, and the paper's step on the released epochs (which separates the step
    from the epochs). 1,000 steps of 32x32 (the science grid's length, where its hybrid's
    learning curve has mostly flattened), the whole val split scored: 36 trials. Why 6 seeds:
    every arm of every claim has at least 6 (5 against 5 cannot put a Holm-adjusted p of four
    claims below .05 unless the arms barely overlap)."""
    base = {**TINY_SIZES, "unpaired": 100, "steps": 1000, "eval_limit": 0, "report_every": 100,
            "checkpoint_every": 0}
    arms = (*(_hybrid(budgets=(1, 5), seeds=SEEDS[:6], label=f"{variant} step",
                      variant=variant) for variant in VARIANTS),
            _hybrid(budgets=(1, 5), seeds=SEEDS[:6], label="paper step, released epochs",
                    mix="alternate", balance=False))
    return Grid("fidelity", dataset, fidelity.__doc__ or "", base, arms)


@register("science-gpu", "toy-streets")
def science_gpu(dataset: str) -> Grid:
    """The science grid at GPU scale: 64x64, ngf 32, 6 blocks, 1,200 steps. Table 1's shape
    (1 and 5 pairs x the four selectors x 10 seeds, and 20 pairs x random/k-medoids x 10,
    paired only, inside a k-medoids pool of 200) and Table 2's hybrid arms (that pool
    unpaired, + 1 and 5 k-medoids pairs, + one random pair for Sec. 4.1.6, x 6 seeds: every arm
    of every claim has at least 6; the unbalanced arm is left out to fit). 124 trials;
    `--dry-run` prints its cost (no GPU rate at these sizes is measured yet, so the paper's
    sizes' rate stands in: an upper bound). Not yet run on a GPU."""
    hybrid_seeds = SEEDS[:6]
    base = {**GPU_SIZES, "unpaired": POOL, "steps": 1200, "eval_limit": 0,
            "report_every": 300, "checkpoint_every": 0}
    arms = (_paired_only(budgets=(1, 5), selectors=SCIENCE_SELECTORS),
            _paired_only(budgets=(20,)),
            _unpaired_only(POOL, seeds=hybrid_seeds),
            _hybrid(budgets=(1, 5), seeds=hybrid_seeds),
            _hybrid(budgets=(1,), selectors=("random",), seeds=hybrid_seeds,
                    label="random single pair"))
    return Grid("science-gpu", dataset, science_gpu.__doc__ or "", base, arms)


# --- verdicts against training length (issue 29) ----------------------------------------------
# Complete schedules at three lengths, chosen from the science grid's learning curves
# (bench/results/learning-curve-science.csv, docs/learning-curve.md): at 500 paired-only has
# arrived (1 pair .41, 5 pairs .58) while the hybrid (.57) and unpaired-only (.31) still rise;
# 1,000 is the length every grid used so far; at 2,000 every shape has flattened (hybrid .62
# from 1,250, unpaired-only .36-.40 from 1,250). The final verdict is the one that holds at the
# two longest. A curve read part-way through a longer run is not a trial of that length: the
# lr holds until half the steps (trainer/step/lr.py), so each length is its own trial.
LENGTHS = (500, 1000, 2000)
CURVE_EVERY = 250   # holdout/val points: 2 at 500 steps, 8 at 2,000 (each arm at its own best)
VERDICT_SEEDS = SEEDS[:6]   # >= 6 in every arm of every claim; Table 1's arms keep the paper's 10


@register("verdicts", "toy-streets")
def verdicts(dataset: str) -> Grid:
    """Every arm of the toy-streets claims (analysis/claims.py) at 500, 1,000 and 2,000 steps:
    Table 1's selection claims (paired only, 1/5/20 pairs x random/k-medoids x 10 seeds, inside
    a k-medoids pool of 200); Table 2's (that pool unpaired, + 1 and 5 k-medoids pairs balanced
    and not, + one random pair for Sec. 4.1.6, x 6 seeds). The science grid's sizes (32x32,
    every val scene scored): 96 trials a length, 288 in all. One length a run (rows accumulate
    in one folder): measured 7, 13 and 23 min packed on 2 cores (the dry run estimates 6, 12
    and 23; docs/verdicts.md):
    python sweeps/run_grid.py --grid verdicts --set steps=500 (then 1000, then 2000)."""
    base = {**TINY_SIZES, "unpaired": POOL, "eval_limit": 0, "report_every": 100,
            "checkpoint_every": 0, "curve_every": CURVE_EVERY}
    lengths = {"steps": LENGTHS}
    arms = (Arm("paired-only", {"mode": "paired"}, {"paired_budget": (1, 5, 20),
                                                     "selection": SELECTORS, "seed": SEEDS,
                                                     **lengths}),
            Arm("unpaired-only", {"mode": "unpaired", "paired_budget": 0},
                {"seed": VERDICT_SEEDS, **lengths}),
            Arm("hybrid", {"mode": "hybrid"}, {"paired_budget": (1, 5), "balance": (True, False),
                                               "seed": VERDICT_SEEDS, **lengths}),
            Arm("random single pair", {"mode": "hybrid", "paired_budget": 1,
                                       "selection": "random"},
                {"seed": VERDICT_SEEDS, **lengths}))
    return Grid("verdicts", dataset, verdicts.__doc__ or "", base, arms)


@register("verdicts-maps", "toy-maps")
def verdicts_maps(dataset: str) -> Grid:
    """Table 4's claim on toy-maps at 500, 1,000 and 2,000 steps: the hybrid (100 k-medoids
    unpaired + 1 and 5 k-medoids pairs, balanced) against paired only on all 100 pairs, x 6
    seeds, maps pixel accuracy; 32x32, every val scene scored: 18 trials a length, 54 in all,
    one run (measured 10 min packed on 2 cores, as the dry run estimates):
    python sweeps/run_grid.py --grid verdicts-maps."""
    base = {**TINY_SIZES, "unpaired": MAPS_POOL, "eval_limit": 0, "report_every": 100,
            "checkpoint_every": 0, "curve_every": CURVE_EVERY}
    lengths = {"steps": LENGTHS}
    arms = (Arm("hybrid", {"mode": "hybrid"}, {"paired_budget": (1, 5), "seed": VERDICT_SEEDS,
                                               **lengths}),
            Arm("all pairs", {"mode": "paired", "paired_budget": ALL},
                {"seed": VERDICT_SEEDS, **lengths}))
    return Grid("verdicts-maps", dataset, verdicts_maps.__doc__ or "", base, arms)
