"""TrialConfig: everything that changes a trial's result, as one frozen, validated dataclass.

A trial is fully described by its TrialConfig plus the selection manifest it names. `key()` is a
stable hash of the result-affecting fields; it names the trial's Parquet row and checkpoint folder.

Presets: `variant="released"` and `arch="pix2pix"` imply values of other fields (`PRESETS`). They
fill only the fields the caller did not pass: `TrialConfig(**values)` (and `from_dict`, the CLI,
a grid point, `--set`) resolves them from exactly the names given, before the dataclass is built
(`_Resolving`), so a config is never changed after construction. A value passed that the preset
cannot honour is one ConfigError naming both. `replace()` keeps every value except those that
followed a selector the change switches (see there).
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import typing
from dataclasses import dataclass, fields

from trainer.core.errors import ConfigError
from trainer.core.vocabulary import ARCHITECTURES, GAN_LOSSES
from trainer.core.registry import did_you_mean

MODES = ("paired", "unpaired", "hybrid")          # pix2pix-like | CycleGAN | the paper's hybrid
MIXES = ("interleave", "alternate", "staged")      # how paired and unpaired steps are ordered
VARIANTS = ("paper", "released")   # the paper's text | the authors' released training step
DIRECTIONS = ("AtoB", "BtoA")                      # A = photo / aerial, B = label colours / map
PRECISIONS = ("fp32", "bf16")
ALL = -1                                           # paired_budget / unpaired: every training sample
HOLDOUT = "holdout"   # eval_split: training-split samples outside the unpaired pool (never trained
                      # on); a validation split for tuning that leaves the test / val split unseen
VAL_SCORE = "val_score"   # the report / metrics key an `eval_every` validation pass fills: the
                          # protocol's main score on eval_split (what tuning maximises)

# Fields that do not change what a trial computes; left out of key().
_NOT_IN_KEY = frozenset({"data_root", "unpaired_labels_root", "device", "cuda_graphs",
                         "report_every", "checkpoint_every", "eval_every", "export_dir",
                         "curve_every"})
# Fields added after results existed: in key() only when they differ from their default, so
# every trial that existed before keeps its key (docs/contracts.md).
_KEY_WHEN_SET = frozenset({"variant", "arch", "deterministic"})
# loss term -> the field holding its weight (λ); the one place these names are spelled
LAMBDA_FIELDS = {"adv": "lambda_adv", "cycle": "lambda_cycle", "identity": "lambda_identity",
                 "paired": "lambda_paired"}
LAMBDAS = tuple(LAMBDA_FIELDS.values())
# the loss terms each mode's steps compute (trainer.step.state.StepRules reads it: mode paired
# has no cycle or identity term, mode unpaired no paired one)
MODE_TERMS = {"paired": ("adv", "paired"), "unpaired": ("adv", "cycle", "identity"),
              "hybrid": ("adv", "cycle", "identity", "paired")}


@dataclass(frozen=True)
class Fill:
    """A value a preset puts in a field the caller left unset. `only`: why no other value can
    run under the preset (said after "which" in the conflict error); None: a default that an
    explicit value replaces."""
    value: object
    only: str | None = None


# (selector field, value) -> what it fills (docs/fidelity.md)
PRESETS: dict[tuple[str, str], dict[str, Fill]] = {
    ("variant", "released"): {   # the released code's epochs
        "mix": Fill("alternate", "runs every pair, then every unpaired sample: mix 'alternate'"),
        "balance": Fill(False, "trains unbalanced")},
    ("arch", "pix2pix"): {       # pix2pix's own loss, lambda_L1 and pool
        "gan_loss": Fill("vanilla"), "lambda_paired": Fill(100.0),
        "image_pool": Fill(0, "trains its discriminator on this step's fakes, image_pool 0")}}


class _Resolving(type):
    """`TrialConfig(**values)`: presets fill what `values` leaves out, ints become floats in
    float fields, then the frozen dataclass is built from the result (and validates it)."""

    def __call__(cls, **values):
        return super().__call__(**_with_presets(_as_floats(values)))


@dataclass(frozen=True)
class TrialConfig(metaclass=_Resolving):
    # --- data -----------------------------------------------------------------------------
    dataset: str = "toy-streets"       # registry name (trainer.data): toy-streets, cityscapes, pix2pix, ...
    data_root: str | None = None       # dataset folder; None = the dataset's default (toy: the cache)
    direction: str = "AtoB"            # evaluated translation; AtoB = photo->label / aerial->map
    unpaired_labels: str = "same"      # "same", or a label-only dataset for the unpaired Y domain (Table 3)
    unpaired_labels_root: str | None = None  # that label-only dataset's folder (real GTA5 /
                                       # Synscapes need one); None = its default (toy: the cache)
    eval_split: str = "val"            # split scored at the end; val as in the paper
                                       # (Cityscapes test labels are not public); "holdout":
                                       # training samples outside the unpaired pool (tuning)
    eval_limit: int = 0                # evaluate on the first N images of eval_split; 0 = all
    judge: str = "auto"                # fcn-score (labels->photos) segmenter: "auto" = fewpair's own,
                                       # trained once per dataset (trainer.eval.judge); else a TorchScript file
    # --- which samples ----------------------------------------------------------------------
    mode: str = "hybrid"               # what trains: paired (pix2pix-like), unpaired (CycleGAN),
                                       # hybrid (the paper's: unpaired pool + the pairs)
    paired_budget: int = 5             # number of paired samples; -1 = all (in the pool)
    unpaired: int = 200                # unpaired pool size, chosen by pool_selection; -1 = whole split.
                                       # paired samples are chosen inside the pool
    selection: str = "kmedoids"        # strategy for the paired samples (trainer.selection)
    pool_selection: str = "kmedoids"   # strategy for the unpaired pool (the paper: k-medoids, k=200)
    features: str = "auto"             # feature extractor; auto = the dataset's default (toy: offline)
    seed: int = 0                      # selection (random strategies), init, augmentation, order
    balance: bool = True               # replicate pairs up to the unpaired count (the paper's default)
    mix: str = "interleave"            # order of paired and unpaired steps in hybrid mode
    # --- losses (paper: 1 / 10 / 10 / 150) ---------------------------------------------------
    # The paper's symbols for these weights were lost in its text; this assignment is the
    # released code's defaults (lambda_L1 150, cycle 10, identity 10).
    gan_loss: str = "rsgan"            # relativistic standard GAN, as in the released code
    lambda_adv: float = 1.0            # weight of the adversarial terms
    lambda_cycle: float = 10.0         # weight of the cycle-consistency L1 (unpaired steps)
    lambda_identity: float = 10.0      # weight of the identity L1 (unpaired steps)
    lambda_paired: float = 150.0       # weight of the paired L1 to the truth (paired steps)
    # --- optimisation -----------------------------------------------------------------------
    steps: int = 0                     # total generator steps; 0 = default rule from the sample count
    lr: float = 2e-4                   # Adam's learning rate; constant for half the steps, then
                                       # linear to 0
    beta1: float = 0.5                 # Adam's first-moment decay
    image_pool: int = 50               # past fakes kept per discriminator
    # --- sizes (CycleGAN's defaults) ---------------------------------------------------------
    # The paper's sizes were lost from its text; 256 crop of 286, ngf/ndf 64 and 9 blocks are
    # CycleGAN's defaults and the released code's.
    image_size: int = 256              # training crop, pixels (square)
    load_size: int = 286               # images are resized to this before the random crop
    ngf: int = 64                      # generator base width
    ndf: int = 64                      # discriminator base width
    n_blocks: int = 9                  # residual blocks in each generator
    # --- fidelity -------------------------------------------------------------------------
    variant: str = "paper"             # "paper": the paper's text (and upstream CycleGAN's step);
                                       # "released": the authors' released step (docs/fidelity.md)
                                       # — its epochs: mix "alternate", balance off
    arch: str = "resnet"               # "resnet": CycleGAN's nets; "pix2pix": U-Net + conditional
                                       # PatchGAN, mode paired only; fills gan_loss vanilla,
                                       # lambda_paired 100 and image_pool 0 unless set
    # --- runtime ----------------------------------------------------------------------------
    precision: str = "fp32"            # fp32, or bf16 autocast
    device: str = "auto"               # torch device (cpu, cuda, cuda:1); auto = cuda when
                                       # available, else cpu
    deterministic: bool = False        # CUDA: deterministic algorithms, cudnn.benchmark off
                                       # (slower); the CPU is deterministic either way
    cuda_graphs: bool = False          # CUDA: replay the paper step from CUDA graphs (fewer
                                       # kernel launches; self-checked against the eager step,
                                       # falls back to it); opt-in until `make gpu-check` has
                                       # measured it on a GPU; no effect on the CPU
    report_every: int = 100            # steps between report() calls
    checkpoint_every: int = 500        # steps between checkpoints, at most half the trial's
                                       # steps (so a short run resumes too); 0 = only at the end
    eval_every: int = 0                # steps between validation passes on eval_split (their
                                       # `val_score` rides on that step's report, for early
                                       # stopping); 0 = only the final evaluation
    curve_every: int = 0               # steps between learning-curve points (holdout and
                                       # eval_split scores, the row's curve_* columns); 0 = none
    export_dir: str | None = None      # folder for the final evaluation's predictions in the
                                       # official format (segmentation: Cityscapes label-id
                                       # PNGs named after each image); None = no export

    def __post_init__(self) -> None:
        _check_types(self)
        self._check_values()

    # ---------------------------------------------------------------------------------------
    def _check_values(self) -> None:
        choices = {"mode": MODES, "mix": MIXES, "gan_loss": GAN_LOSSES.names(),
                   "direction": DIRECTIONS, "precision": PRECISIONS, "variant": VARIANTS,
                   "arch": ARCHITECTURES.names()}
        for name, allowed in choices.items():
            value = getattr(self, name)
            if value not in allowed:
                raise ConfigError(f"{name}={value!r} is not one of {', '.join(allowed)}"
                                  f"{did_you_mean(value, allowed)}")
        for name in (*LAMBDAS, "eval_limit", "image_pool", "steps", "report_every",
                     "checkpoint_every", "eval_every", "curve_every"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name}={getattr(self, name)!r} must be >= 0")
        if self.steps and self.curve_every > self.steps:   # steps 0: checked against the rule's
            raise ConfigError(f"curve_every={self.curve_every} is more than steps={self.steps}")
        for name in (*LAMBDAS, "lr"):
            if not math.isfinite(getattr(self, name)):   # nan passes every comparison check
                raise ConfigError(f"{name}={getattr(self, name)!r} must be a finite number")
        if not any(getattr(self, LAMBDA_FIELDS[term]) for term in MODE_TERMS[self.mode]):
            weights = ", ".join(LAMBDA_FIELDS[term] for term in MODE_TERMS[self.mode])
            raise ConfigError(f"mode={self.mode!r} with every lambda of its terms at 0 trains "
                              f"nothing ({weights})")
        for name in ("image_size", "load_size", "ngf", "ndf", "n_blocks"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name}={getattr(self, name)!r} must be >= 1")
        if not 0 < self.lr < 1:
            raise ConfigError(f"lr={self.lr!r} must be in (0, 1)")
        if not 0 <= self.beta1 < 1:
            raise ConfigError(f"beta1={self.beta1!r} must be in [0, 1)")
        if self.load_size < self.image_size:
            raise ConfigError(f"load_size={self.load_size} must be >= image_size={self.image_size}")
        if self.unpaired == 0 or self.unpaired < ALL:
            raise ConfigError(f"unpaired={self.unpaired!r} must be -1 (whole split) or >= 1")
        if self.paired_budget < ALL:
            raise ConfigError(f"paired_budget={self.paired_budget!r} must be -1 (all) or >= 0")
        if self.mode == "unpaired" and self.paired_budget != 0:
            raise ConfigError(f"paired_budget={self.paired_budget} must be 0 in mode='unpaired'")
        if self.mode != "unpaired" and self.paired_budget == 0:
            raise ConfigError(f"paired_budget=0 needs mode='unpaired' (mode={self.mode!r})")
        if self.unpaired > 0 and self.paired_budget > self.unpaired:
            raise ConfigError(f"paired_budget={self.paired_budget} is larger than the pool "
                              f"unpaired={self.unpaired}")
        if self.mode == "paired" and self.unpaired_labels != "same":
            raise ConfigError("unpaired_labels needs unpaired data; mode='paired' uses none")
        if self.arch == "pix2pix":
            self._check_pix2pix()
        if self.eval_split == HOLDOUT and self.unpaired == ALL:
            raise ConfigError(f"eval_split={HOLDOUT!r} needs training samples outside the unpaired "
                              f"pool, but unpaired={ALL} puts the whole training split in it")

    def _check_pix2pix(self) -> None:
        if self.mode != "paired":
            raise ConfigError(f"arch='pix2pix' trains on pairs only: mode={self.mode!r} must be "
                              f"'paired'")
        if self.variant != "paper":
            raise ConfigError(f"variant={self.variant!r} is the hybrid's released step; "
                              f"arch='pix2pix' runs pix2pix's own")
        size = self.image_size
        if size & (size - 1) or size < 32:
            raise ConfigError(f"image_size={size}: arch='pix2pix' needs a power of two >= 32 "
                              f"(its U-Net halves the image down to 1x1)")

    # ---------------------------------------------------------------------------------------
    @classmethod
    def from_dict(cls, values: typing.Mapping[str, object]) -> "TrialConfig":
        """Build from a mapping (a grid point, a JSON row); unknown keys raise naming the key."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ConfigError(f"unknown config field {unknown[0]!r}"
                              f"{did_you_mean(unknown[0], known)} "
                              f"(valid: {', '.join(sorted(known))})")
        return cls(**dict(values))

    def replace(self, **changes: object) -> "TrialConfig":
        """This config with `changes`. Every other value stays, except where a change switches
        a preset's selector (variant, arch): a field still at what the old selector implied
        (its preset's value, or the default) is left to the new one, as if never set --
        `TrialConfig().replace(variant="released")` trains the released epochs, and
        `replace(variant="paper")` of that one the paper's."""
        names = {f.name for f in fields(self)}
        unknown = sorted(set(changes) - names)
        if unknown:
            raise ConfigError(f"unknown config field {unknown[0]!r}"
                              f"{did_you_mean(unknown[0], names)}")
        kept = self.to_row()
        for selector in {s for s, _ in PRESETS} & set(changes):
            old = kept[selector]
            for name in _followers(selector) - set(changes):
                if kept[name] == _implied(selector, old, name):
                    del kept[name]
        return TrialConfig(**{**kept, **changes})

    def to_row(self) -> dict[str, object]:
        """Flat scalar columns for the results table (None stays None)."""
        return dataclasses.asdict(self)

    def key(self) -> str:
        """Stable 16-hex-digit hash of every result-affecting field."""
        defaults = TrialConfig.__dataclass_fields__
        row = {k: v for k, v in self.to_row().items() if k not in _NOT_IN_KEY
               and not (k in _KEY_WHEN_SET and v == defaults[k].default)}
        blob = json.dumps(row, sort_keys=True, separators=(",", ":"))
        return hashlib.sha1(blob.encode()).hexdigest()[:16]


def in_key(name: str) -> bool:
    """Whether the field `name` is part of a trial's identity, key() (always, or when set)."""
    return name not in _NOT_IN_KEY


_TYPES = {f.name: f.type for f in fields(TrialConfig)}
_DEFAULTS = {f.name: f.default for f in fields(TrialConfig)}


def _as_floats(values: dict[str, object]) -> dict[str, object]:
    """Ints given for float fields as floats (a JSON 150 and 150.0 are one config and key)."""
    return {k: float(v) if _TYPES.get(k) == "float" and isinstance(v, (int, float))
            and not isinstance(v, bool) else v for k, v in values.items()}


def _with_presets(values: dict[str, object]) -> dict[str, object]:
    """`values` with every active preset's fills for the fields it leaves out; ConfigError for
    a value given that the preset cannot honour."""
    out = dict(values)
    for (selector, chosen), fills in PRESETS.items():
        if out.get(selector, _DEFAULTS[selector]) != chosen:
            continue
        for name, fill in fills.items():
            if name not in out:
                out[name] = fill.value
            elif fill.only and out[name] != fill.value:
                raise ConfigError(f"{name}={out[name]!r} conflicts with {selector}={chosen!r} "
                                  f"(which {fill.only})")
    return out


def _followers(selector: str) -> set[str]:
    """The fields some preset of `selector` fills."""
    return {name for (s, _), fills in PRESETS.items() if s == selector for name in fills}


def _implied(selector: str, value: object, name: str) -> object:
    """What `selector=value` puts in field `name` when it is not set."""
    fill = PRESETS.get((selector, value), {}).get(name)
    return fill.value if fill else _DEFAULTS[name]


def _check_types(cfg: TrialConfig) -> None:
    """Reject values of the wrong type with the field's name (ints are accepted for floats)."""
    for name, annotation in _TYPES.items():
        value = getattr(cfg, name)
        if annotation == "str | None":
            ok = value is None or isinstance(value, str)
        elif annotation == "bool":
            ok = isinstance(value, bool)
        elif annotation == "int":
            ok = isinstance(value, int) and not isinstance(value, bool)
        elif annotation == "float":
            ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        else:
            ok = isinstance(value, str)
        if not ok:
            raise ConfigError(f"{name}={value!r} should be of type {annotation}")
