"""Column names of a results row ("Results row" in docs/contracts.md), as the analysis reads them.

`analysis` never imports `trainer` or `sweeps`: the row's columns come from `row_schema.json`
beside this file, exported from the writer's one schema (`python -m sweeps.store.schema >
analysis/row_schema.json`; tests/test_analysis_load.py keeps the copy equal). Its config half is
derived from `TrialConfig`, so a new config field reaches the analysis by that export alone.
"""
from __future__ import annotations

import json
from pathlib import Path

ALL = -1  # paired_budget / unpaired value meaning "every training sample"

ROW_SCHEMA: dict[str, dict] = json.loads(
    Path(__file__).with_name("row_schema.json").read_text(encoding="utf-8"))
_CONFIG: dict[str, dict] = ROW_SCHEMA["config"]
# Every TrialConfig field, in declaration order (the config half of a results row).
CONFIG_COLUMNS: tuple[str, ...] = tuple(_CONFIG)
INT_CONFIG_COLUMNS: tuple[str, ...] = tuple(n for n, c in _CONFIG.items() if c["type"] == "int64")
# Config fields that do not change a result (TrialConfig.key() leaves them out): never an axis.
NOT_RESULT_AFFECTING: frozenset[str] = frozenset(n for n, c in _CONFIG.items() if not c["in_key"])
# The value a row lacking a config column ran with: a field added after results existed
# defaults to what every older trial did (TrialConfig's rule for new fields).
CONFIG_DEFAULTS: dict[str, object] = {n: c["default"] for n, c in _CONFIG.items()
                                      if c["default"] is not None}

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
ARCHMEAN_METRICS: tuple[str, ...] = tuple(ROW_SCHEMA["per_archetype"]["metrics"])
ARCHMEAN_SUFFIX = "_archmean"
ARCHETYPE_SEP: str = ROW_SCHEMA["per_archetype"]["separator"]

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
