"""The dataset facts analysis needs, exported from the registries it must not import.

    python -m trainer.eval.facts > analysis/dataset_facts.json    # after registering a dataset

analysis (which imports nothing from trainer) reads its checked-in copy; the export lives here,
above both the dataset registry and the evaluation protocols it joins, so the data layer never
calls up into evaluation. tests/test_analysis_load.py keeps the copy equal to this.
"""
from __future__ import annotations

import json
import sys

from trainer.core.config import DIRECTIONS
from trainer.data import dataset_info, dataset_names
from trainer.eval.protocols import EvaluationError, protocol_for


def _protocols(kind: str) -> dict[str, str] | None:
    try:
        return {d: protocol_for(kind, d) for d in DIRECTIONS}
    except EvaluationError:   # label-only sets are never evaluated
        return None


def dataset_facts() -> dict[str, dict]:
    """name -> kind, maps or not, class set, train size, the scoring protocol per direction and
    Table 3's label sets, as plain JSON values."""
    return {name: {"kind": info.kind, "is_maps": info.is_maps, "is_toy": info.is_toy,
                   "classes": info.classes, "train_size": info.train_size,
                   "protocols": _protocols(info.kind), "synthetic_labels": info.synthetic_labels}
            for name, info in ((n, dataset_info(n)) for n in dataset_names())}


def facts_json() -> str:
    """The exported file's text (sorted keys, one-space indent, a final newline)."""
    return json.dumps(dataset_facts(), indent=1, sort_keys=True) + "\n"


if __name__ == "__main__":
    sys.stdout.write(facts_json())
