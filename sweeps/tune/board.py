"""What a sweep shows in TensorBoard (and names its MLflow / W&B runs by): one run per trial,
named by the fields that vary across the grid (`mode=hybrid,paired_budget=1,selection=kmedoids,
seed=0`), its metrics under their own names -- the trainer's loss terms, steps_per_s, the
evaluation metrics -- at each report (every `report_every` steps), against the training step.
Ray's bookkeeping (`done`, `row_written`, `time_this_iter_s`, `ray/tune/...`) is left out.

    tensorboard --logdir <storage>/_ray/<grid>/tensorboard
"""
from __future__ import annotations

import math
import os

BOARD_DIR = "tensorboard"    # under the experiment's folder: one subfolder per run
KEY_FIELDS = ("trial_key", "pack_id")   # name the row, not what varies: last, shortened
BOOKKEEPING = frozenset({     # Tune's and fewpair's own result keys, not measurements
    "done", "row_written", "skipped", "trial_failed", "step", "training_iteration",
    "timesteps_total", "timesteps_since_restore", "iterations_since_restore",
    "time_this_iter_s", "time_total_s", "time_since_restore", "timestamp", "pid", "hostname",
    "node_ip", "date", "trial_id", "experiment_tag", "checkpoint_dir_name",
    "should_checkpoint", "optuna_trial"})


def run_name(trial) -> str:
    """`field=value,...` of the trial's Tune config (the grid's varying fields, or a study's
    λs), then its key's first 6 digits: Tune's trial_name_creator, so Ray's table, MLflow and
    W&B show it too."""
    config = trial.config
    parts = [f"{k}={_short(v)}" for k, v in config.items() if k not in KEY_FIELDS]
    key = next((str(config[k])[:6] for k in KEY_FIELDS if k in config), trial.trial_id)
    return ",".join(parts + [key]).replace("/", "_")


def _short(value: object) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def clean_metrics(result: dict) -> dict[str, float]:
    """The measurements of a Tune result: finite numbers, Ray's keys and configs left out."""
    return {k: float(v) for k, v in result.items()
            if k not in BOOKKEEPING and not k.startswith(("config", "ray/"))
            and isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)}


def result_step(result: dict) -> int:
    """The training step a result reports (fewpair's `step`; Tune's timesteps otherwise)."""
    return int(result.get("step") or result.get("timesteps_total")
               or result.get("training_iteration") or 0)


def clean_board():
    """A CleanBoard callback (Ray is imported only here: planning and bad input stay fast)."""
    from ray.tune.logger import TBXLoggerCallback

    class CleanBoard(TBXLoggerCallback):
        """Tune's TensorBoard logger (so Tune adds no second one) writing clean runs: one folder
        per trial under `<experiment>/tensorboard/<run name>`, scalars at the reported step."""

        def log_trial_start(self, trial) -> None:
            if trial in self._trial_writer:
                self._trial_writer[trial].close()
            trial.init_local_path()
            folder = os.path.join(trial.local_experiment_path, BOARD_DIR, str(trial))
            self._trial_writer[trial] = self._summary_writer_cls(folder, flush_secs=30)
            self._trial_result[trial] = {}

        def log_trial_result(self, iteration: int, trial, result: dict) -> None:
            if trial not in self._trial_writer:
                self.log_trial_start(trial)
            writer, step = self._trial_writer[trial], result_step(result)
            for name, value in clean_metrics(result).items():
                writer.add_scalar(name, value, global_step=step)
            writer.flush()

        def log_trial_end(self, trial, failed: bool = False) -> None:
            if trial in self._trial_writer:
                self._trial_writer.pop(trial).close()
                self._trial_result.pop(trial, None)

    return CleanBoard()
