"""The one schema of a results row ("Results row" in docs/contracts.md): every row -- ok, failed
or stopped; a trial alone, a pack member, a study trial -- is written with exactly these columns
and types, null where a row has no value, so stock Parquet readers (which take a folder's schema
from the first file they open) read any folder in any file order.

Three kinds of columns, each with one home:
- config: DERIVED from `trainer.core.config.TrialConfig` (its fields, their annotations, whether
  key() reads them); a new TrialConfig field is a new column with nothing to edit here.
- row: what the sweep adds (ROW_COLUMNS below).
- metrics: what a trial's result holds (`TrialResult.to_row()`, evaluate()'s columns, the
  learning curve's; METRIC_COLUMNS below): a new metric is declared here, once.
Plus one rule for columns whose names depend on the data: `<metric>__<archetype>` for a metric
of PER_ARCHETYPE (the toy datasets' archetypes, read from the data) is a double. Any other column
is refused by name: a row is never written with a type guessed from its first value.

analysis (which never imports trainer) reads the config half from `analysis/row_schema.json`,
exported from here: `python -m sweeps.store.schema > analysis/row_schema.json`
(tests/test_analysis_load.py keeps the copy equal).
"""
from __future__ import annotations

import json
import re
import sys
from dataclasses import MISSING, fields

import pyarrow as pa

from trainer.core.config import VAL_SCORE, TrialConfig, in_key
from trainer.data.palette import CLASS_NAMES, iou_column

STRING, INT, DOUBLE, BOOL = pa.string(), pa.int64(), pa.float64(), pa.bool_()
INTS, DOUBLES = pa.list_(pa.int64()), pa.list_(pa.float64())
TIME = pa.timestamp("us", tz="UTC")
# TrialConfig annotation -> column type (a field of another annotation fails at import: add it)
CONFIG_TYPES = {"str": STRING, "str | None": STRING, "int": INT, "float": DOUBLE, "bool": BOOL}

ROW_COLUMNS: dict[str, pa.DataType] = {
    "trial_key": STRING, "grid": STRING,
    "status": STRING,            # ok | failed | stopped
    "error": STRING,             # `Type: message (file:line)`, null in ok rows
    "code_version": STRING, "started_at": TIME, "finished_at": TIME,
    # how the trial was computed (with device and precision: what a bit-for-bit rerun needs)
    "pack_id": STRING,           # null for a trial alone
    "pack_size": INT,            # 1 for a trial alone
    "torch_threads": INT, "torch_version": STRING,
}

SEGMENTATION = ("pixel_acc", "mean_class_acc", "mean_iou")   # headline metrics per protocol
HEADLINE_METRICS = {"segmentation": SEGMENTATION, "fcn-score": SEGMENTATION,
                    "maps": ("maps_pixel_acc",)}
PER_ARCHETYPE = ("pixel_acc", "mean_iou", "maps_pixel_acc")   # those with `__<archetype>` twins
ARCHETYPE_SEP, ARCHMEAN_SUFFIX = "__", "_archmean"
CURVE_PREFIX = "curve_val_"   # learning curve: curve_val_<headline metric>, one point per step

METRIC_COLUMNS: dict[str, pa.DataType] = {
    # evaluate()'s columns (trainer.eval.scoring), null where the protocol has none
    **{name: DOUBLE for name in ("pixel_acc", "mean_class_acc", "mean_iou", "maps_pixel_acc")},
    **{iou_column(name): DOUBLE for name in CLASS_NAMES},
    **{m + ARCHMEAN_SUFFIX: DOUBLE for m in PER_ARCHETYPE},
    VAL_SCORE: DOUBLE,           # the protocol's main score on eval_split (eval_every > 0)
    # TrialResult.to_row() (trainer.run.trial)
    "protocol": STRING, "train_s": DOUBLE, "steps_done": INT, "steps_per_s": DOUBLE,
    "eval_s": DOUBLE,
    "paired_indices": INTS, "unpaired_indices": INTS,   # training-split indices
    "samples_png": STRING,       # the copy beside the rows (<grid>/_samples/<trial_key>.png)
    # the holdout learning curve (curve_every > 0; null otherwise)
    "curve_step": INTS,          # steps of the points, ascending
    "curve_holdout_score": DOUBLES,   # val_score's metric on the holdout at each point
    **{CURVE_PREFIX + m: DOUBLES for m in dict.fromkeys(
        m for names in HEADLINE_METRICS.values() for m in names)},
}
PER_ARCHETYPE_COLUMN = re.compile(
    rf"^(?:{'|'.join(PER_ARCHETYPE)}){re.escape(ARCHETYPE_SEP)}.+$")


class SchemaError(ValueError):
    """A row column the schema does not declare, or a TrialConfig annotation it cannot type."""


def _config_fields() -> list[pa.Field]:
    out = []
    for f in fields(TrialConfig):
        if f.type not in CONFIG_TYPES:
            raise SchemaError(f"TrialConfig.{f.name}: annotation {f.type!r} has no column type; "
                              f"add it to sweeps/store/schema.py CONFIG_TYPES")
        out.append(pa.field(f.name, CONFIG_TYPES[f.type]))
    return out


CONFIG_FIELDS: tuple[pa.Field, ...] = tuple(_config_fields())
_clash = {f.name for f in CONFIG_FIELDS} & (set(ROW_COLUMNS) | set(METRIC_COLUMNS))
if _clash:
    raise SchemaError(f"columns declared twice: {sorted(_clash)}")
ROW_SCHEMA = pa.schema([*CONFIG_FIELDS, *(pa.field(n, t) for n, t in ROW_COLUMNS.items()),
                        *(pa.field(n, t) for n, t in METRIC_COLUMNS.items())])


def column_type(name: str) -> pa.DataType:
    """The type of column `name`: declared, or by the per-archetype rule; else SchemaError."""
    index = ROW_SCHEMA.get_field_index(name)
    if index >= 0:
        return ROW_SCHEMA.field(index).type
    if PER_ARCHETYPE_COLUMN.match(name):
        return DOUBLE
    raise SchemaError(f"results column {name!r} is not declared in sweeps/store/schema.py "
                      f"(config: a TrialConfig field; metrics: METRIC_COLUMNS)")


def schema_for(columns) -> pa.Schema:
    """ROW_SCHEMA plus the per-archetype columns among `columns`, in sorted order."""
    dynamic = sorted(c for c in columns if ROW_SCHEMA.get_field_index(c) < 0)
    return pa.schema([*ROW_SCHEMA, *(pa.field(c, column_type(c)) for c in dynamic)])


def row_table(row: dict[str, object], drop: tuple[str, ...] = ()) -> pa.Table:
    """One row as a table of schema_for(row): every declared column, null where absent.
    `drop`: columns to leave out (the partition column, held by the folder name)."""
    values = {k: v for k, v in row.items() if k not in drop}
    schema = schema_for(values)
    schema = pa.schema([f for f in schema if f.name not in drop])
    try:
        return pa.Table.from_pylist([values], schema=schema)
    except (pa.ArrowInvalid, pa.ArrowTypeError) as err:
        raise SchemaError(f"a results row does not fit its schema: {err}") from None


# --- the copy analysis reads ------------------------------------------------------------------
def _default(f) -> object:
    return None if f.default is MISSING else f.default


def export() -> dict:
    """The schema as plain JSON: config columns (type, in_key, default), row and metric column
    types, and the per-archetype rule."""
    defaults = {f.name: _default(f) for f in fields(TrialConfig)}
    return {
        "config": {f.name: {"type": str(f.type), "in_key": in_key(f.name),
                            "default": defaults[f.name]} for f in CONFIG_FIELDS},
        "row": {name: str(t) for name, t in ROW_COLUMNS.items()},
        "metrics": {name: str(t) for name, t in METRIC_COLUMNS.items()},
        "per_archetype": {"metrics": list(PER_ARCHETYPE), "separator": ARCHETYPE_SEP,
                          "type": str(DOUBLE)},
    }


def export_json() -> str:
    """export() as JSON text, one line per column (a diff names the column that changed)."""
    sections = []
    for name, entries in export().items():
        lines = [f"  {json.dumps(k)}: {json.dumps(v)}" for k, v in entries.items()]
        sections.append(f" {json.dumps(name)}: {{\n" + ",\n".join(lines) + "\n }")
    return "{\n" + ",\n".join(sections) + "\n}\n"


if __name__ == "__main__":
    sys.stdout.write(export_json())
