"""A trial's own learning curve (`cfg.curve_every > 0`): at steps curve_every, 2*curve_every, ...
and the last step, the current generators are scored on two image sets --

  holdout  training images outside the unpaired pool (`eval_split="holdout"`'s images: never
           trained on, not val), the first as many as the val pass scores (eval_limit, else the
           whole eval split), so a holdout pass costs about what a val pass does;
  val      cfg.eval_split, exactly the pass that eval_every / the final evaluation runs (the
           curve's last point IS the trial's final evaluation).

The points live in the training state's `extra` (so a checkpoint carries them and a resumed
trial keeps the points from before its interrupt) and reach the results row as list columns
(`curve_columns`; docs/contracts.md "Results row"). Scoring draws no random numbers and changes
no weight or mode (trainer.step.state.translator), so curve_every is not part of the key.
A point before the last is this trial read part way through its own schedule (trainer/step/lr.py
holds the rate for the first half of the steps), not what a trial of that many steps reaches.
"""
from __future__ import annotations

from trainer.core.config import ALL, HOLDOUT, TrialConfig
from trainer.eval.protocols import SPECS, EvaluationError

CURVE = "curve"   # TrainState.extra key of the points so far
# Per protocol kind: the metric the holdout score is (pixel accuracy, the metric the claims
# are judged in first; a trial's val_score is mean_iou for segmentation), and the val metrics
# the curve keeps (the headline metrics of analysis.schema.PROTOCOL_METRICS).
HOLDOUT_METRIC = {"segmentation": "pixel_acc", "maps": "maps_pixel_acc"}
VAL_METRICS = {"segmentation": ("pixel_acc", "mean_class_acc", "mean_iou"),
               "maps": ("maps_pixel_acc",)}
STEP_COLUMN, HOLDOUT_COLUMN, VAL_PREFIX = "curve_step", "curve_holdout_score", "curve_val_"
COLUMNS = (STEP_COLUMN, HOLDOUT_COLUMN,
           *dict.fromkeys(VAL_PREFIX + m for names in VAL_METRICS.values() for m in names))


def check_curve(cfg: TrialConfig, total: int) -> None:
    """curve_every against the trial's real step count (steps 0: the default rule's) and a
    pool that takes every training image (no holdout at all); an empty holdout of another
    pool fails in `holdout_config`."""
    every = cfg.curve_every
    if every > total:
        raise EvaluationError(f"curve_every={every} is more than the trial's {total} steps")
    if every and cfg.unpaired == ALL:
        raise EvaluationError(f"curve_every={every} needs holdout images (training images "
                              f"outside the unpaired pool), but unpaired={ALL} leaves none")


def holdout_config(cfg: TrialConfig, n_val: int) -> TrialConfig:
    """The config whose evaluate() scores the curve's holdout images: the first `n_val` of
    them (as many as the val pass scores), no export. Its images are checked at once (an
    empty holdout: one line naming curve_every)."""
    from trainer.eval.evaluate import eval_samples   # torch; this module's names need none
    holdout = cfg.replace(eval_split=HOLDOUT, eval_limit=n_val, export_dir=None)
    try:
        eval_samples(holdout)
    except EvaluationError as err:
        raise EvaluationError(f"curve_every={cfg.curve_every}: {err}") from None
    return holdout


def add_point(curve: dict | None, step: int, protocol: str, holdout: dict[str, float],
              val: dict[str, float]) -> dict:
    """`curve` (None: none yet) with the point at `step` appended: evaluate()'s columns on
    the holdout and on val. Plain lists of ints and floats: a checkpoint's `extra` loads them
    with weights_only."""
    kind = SPECS[protocol].kind
    curve = curve or {"step": [], "holdout": [], "val": {m: [] for m in VAL_METRICS[kind]}}
    return {"step": [*curve["step"], int(step)],
            "holdout": [*curve["holdout"], float(holdout[HOLDOUT_METRIC[kind]])],
            "val": {m: [*v, float(val[m])] for m, v in curve["val"].items()}}


def curve_columns(curve: dict | None) -> dict[str, list | None]:
    """The row's curve columns: every name of COLUMNS, None where the trial drew no curve or
    the metric belongs to another protocol."""
    columns: dict[str, list | None] = dict.fromkeys(COLUMNS)
    if curve:
        columns[STEP_COLUMN] = list(curve["step"])
        columns[HOLDOUT_COLUMN] = list(curve["holdout"])
        columns.update({VAL_PREFIX + m: list(v) for m, v in curve["val"].items()})
    return columns
