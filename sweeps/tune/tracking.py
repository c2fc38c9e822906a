"""Experiment trackers for a sweep: `--mlflow URI` and `--wandb PROJECT` become Ray Tune's own
logger callbacks (`MLflowLoggerCallback`, `WandbLoggerCallback`), one tracker run per trial.

Each run holds the trial's reports as metrics against its training step (`timesteps_total`,
sweeps.tune.trainable). MLflow's run also gets every TrialConfig field as a parameter (Tune's config
holds only the trial key and the grid's varying fields); W&B's config is Tune's. W&B follows
its own environment: `WANDB_MODE=offline` (no account needed; `wandb sync` later) and
`WANDB_DIR` reach the logging actor. The packages are optional extras:
`pip install 'fewpair[mlflow]'` / `'fewpair[wandb]'`.
"""
from __future__ import annotations

import importlib.util
import os

WANDB_ENV = ("WANDB_MODE", "WANDB_DIR")   # forwarded to wandb.init as mode= / dir=


class TrackingError(ValueError):
    """A tracker that cannot be used (package missing, bad URI); one line."""


def check_available(mlflow: str | None, wandb: str | None) -> None:
    """Fail before any work when a tracker asked for is not installed."""
    if mlflow:
        _need("mlflow", "--mlflow", "mlflow")
    if wandb:
        _need("wandb", "--wandb", "wandb")


def tracking_callbacks(mlflow: str | None, wandb: str | None, experiment: str,
                       configs: dict[str, dict], base: dict | None = None) -> list:
    """The Tune callbacks for the trackers asked for (none: []). `experiment` names the MLflow
    experiment / W&B group (the grid); `configs`: trial key -> TrialConfig row; `base`: the
    row every trial shares where Tune's config holds no trial key (a weight study)."""
    check_available(mlflow, wandb)
    callbacks = []
    if mlflow:
        callbacks.append(_mlflow_callback(_mlflow_uri(mlflow), experiment, configs, base or {}))
    if wandb:
        from ray.air.integrations.wandb import WandbLoggerCallback
        extra = {k[len("WANDB_"):].lower(): os.environ[k] for k in WANDB_ENV if k in os.environ}
        callbacks.append(WandbLoggerCallback(project=wandb, group=experiment, **extra))
    return callbacks


def _need(module: str, flag: str, extra: str) -> None:
    if importlib.util.find_spec(module) is None:
        raise TrackingError(f"{flag} needs the {module} package: pip install 'fewpair[{extra}]'")


def _mlflow_uri(uri: str) -> str:
    """A plain folder becomes an absolute file: URI (Tune's driver may change directory). A
    folder store is what was asked for, so MLflow 3's refusal of new file stores (it wants a
    database; MLFLOW_ALLOW_FILE_STORE opts out) is lifted for it."""
    if "://" in uri and not uri.startswith("file:"):
        return uri                                   # a server, sqlite:///..., databricks
    os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
    return uri if uri.startswith("file:") else "file:" + os.path.abspath(uri)


def _mlflow_callback(uri: str, experiment: str, configs: dict[str, dict], base: dict):
    from ray.air.integrations.mlflow import MLflowLoggerCallback

    class FullConfigMLflow(MLflowLoggerCallback):
        """Logs every TrialConfig field as a run parameter, not only Tune's config."""

        def log_trial_start(self, trial) -> None:
            super().log_trial_start(trial)
            row = configs.get(trial.config.get("trial_key"), base)
            params = {k: v for k, v in row.items() if k not in trial.config}
            self.mlflow_util.log_params(run_id=self._trial_runs[trial], params_to_log=params)

    return FullConfigMLflow(tracking_uri=uri, experiment_name=experiment)
