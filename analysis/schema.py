"""Column names of a results row ("Results row" in docs/contracts.md), as the analysis reads them.

`analysis` never imports `trainer`, so the config columns are listed here;
tests/test_analysis_load.py checks this list against `trainer.core.config.TrialConfig`.
"""
from __future__ import annotations

import json
from pathlib import Path

ALL = -1  # paired_budget / unpaired value meaning "every training sample"

# Every TrialConfig field, in declaration order (the config half of a results row).
CONFIG_COLUMNS: tuple[str, ...] = (
    "dataset", "data_root", "direction", "unpaired_labels", "unpaired_labels_root", "eval_split",
    "eval_limit", "judge", "mode", "paired_budget", "unpaired", "selection", "pool_selection", "features", "seed",
    "balance", "mix", "gan_loss", "lambda_adv", "lambda_cycle", "lambda_identity", "lambda_paired",
    "steps", "lr", "beta1", "image_pool", "image_size", "load_size", "ngf", "ndf", "n_blocks",
    "variant", "arch", "precision", "device", "deterministic", "report_every", "checkpoint_every",
    "eval_every", "curve_every",
    "export_dir",
)
# Config columns added after results existed, with the value every older row ran.
CONFIG_DEFAULTS: dict[str, str] = {"variant": "paper", "arch": "resnet"}
INT_CONFIG_COLUMNS: tuple[str, ...] = (
    "eval_limit", "paired_budget", "unpaired", "seed", "steps", "image_pool", "image_size",
    "load_size", "ngf", "ndf", "n_blocks", "report_every", "checkpoint_every", "eval_every",
    "curve_every",
)
# Config fields that do not change a result (TrialConfig.key() leaves them out): never an axis.
NOT_RESULT_AFFECTING: frozenset[str] = frozenset(
    {"data_root", "unpaired_labels_root", "device", "report_every", "checkpoint_every",
     "eval_every", "export_dir", "curve_every"})

# Protocols and the headline metrics each one reports (higher is better for all of them).
SEGMENTATION_METRICS: tuple[str, ...] = ("pixel_acc", "mean_class_acc", "mean_iou")
MAPS_METRICS: tuple[str, ...] = ("maps_pixel_acc",)
PROTOCOL_METRICS: dict[str, tuple[str, ...]] = {
    "segmentation": SEGMENTATION_METRICS,   # photos -> labels (AtoB)
    "fcn-score": SEGMENTATION_METRICS,      # labels -> photos (BtoA), scored by a segmenter
    "maps": MAPS_METRICS,                   # aerial -> map, |diff| < 20 per channel
}
# Metrics with an archetype-averaged twin `<metric>_archmean` on the toy datasets; the per-
# archetype scores are `<metric>__<archetype>` (docs/contracts.md, trainer.eval.evaluate).
ARCHMEAN_METRICS: tuple[str, ...] = ("pixel_acc", "mean_iou", "maps_pixel_acc")
ARCHMEAN_SUFFIX = "_archmean"
ARCHETYPE_SEP = "__"

# The dataset registry's facts (exported by `python -m trainer.eval.facts`), read from this
# checked-in copy so that analysis imports nothing from trainer; tests/test_analysis_load.py keeps it equal to the
# registry. name -> kind, is_maps, is_toy, classes, train_size, protocols {direction: protocol},
# synthetic_labels {"far" | "close": label-only set}.
DATASET_FACTS: dict[str, dict] = json.loads(
    Path(__file__).with_name("dataset_facts.json").read_text(encoding="utf-8"))
# The maps datasets use the maps protocol; everything else is segmentation (AtoB) or fcn-score.
MAPS_DATASETS: frozenset[str] = frozenset(n for n, f in DATASET_FACTS.items() if f["is_maps"])

# The real dataset whose published numbers a table's paper column shows, and the toy stand-in
# whose results are shown beside those numbers under an explicit "Cityscapes paper" label.
PAPER_DATASET = {"segmentation": "cityscapes", "fcn-score": "cityscapes", "maps": "pix2pix"}
TOY_TWIN = {"toy-streets": "cityscapes", "toy-maps": "pix2pix"}
PAPER_DATASET_TITLE = {"cityscapes": "Cityscapes", "pix2pix": "pix2pix maps"}

# Unpaired label sets of Table 3: how far their content is from the paired dataset's.
LABEL_DISTANCE = {**{labels: distance for facts in DATASET_FACTS.values()
                     for distance, labels in facts["synthetic_labels"].items()},
                  "same": "same"}

STATUS_OK = "ok"
