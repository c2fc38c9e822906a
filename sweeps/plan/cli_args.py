"""The command-line pieces both sweep CLIs share: the cluster/resource flags, their checks
(one line each, before Ray would reject them late) and the errors that exit 2."""
from __future__ import annotations

import argparse
import os

from sweeps.store import results
from sweeps.plan.grids import GridError
from sweeps.store.lease import LeaseHeld
from sweeps.plan.preflight import PathError
from sweeps.tune.tracking import TrackingError
from trainer.core.config import ConfigError
from trainer.data import DataError

USER_ERRORS = (GridError, ConfigError, DataError, results.ResultsError, TrackingError,
               PathError, LeaseHeld)   # one line, exit 2, nothing run
MAX_FAILURES = 2         # retries per trial; a reclaimed spot node counts as one failure


def add_cluster_arguments(p: argparse.ArgumentParser) -> None:
    """Where trials run, what each asks for, and whether the driver shows Ray's own output;
    shared by both sweep CLIs (check_args reads them)."""
    p.add_argument("--gpus-per-trial", type=float, default=0.25,   # 4 trials share a GPU
                   help="GPU fraction per trial; 0 on a cluster without GPUs")
    p.add_argument("--cpus-per-trial", type=float, default=1.0, help="CPUs per trial")
    p.add_argument("--max-concurrent", type=int, help="most trials at once (default: as fit)")
    p.add_argument("--max-failures", type=int, default=MAX_FAILURES, help="retries per trial")
    p.add_argument("--address", default=os.environ.get("RAY_ADDRESS"),
                   help="join this Ray cluster ('auto': the one running on this machine; default: "
                        "$RAY_ADDRESS, else start a local Ray of this driver's own, never "
                        "joining one that is already running). A head with token "
                        "authentication (Ray's default where ~/.ray/auth_token exists) needs "
                        "RAY_AUTH_MODE=token in this shell: the token is then read from "
                        "RAY_AUTH_TOKEN, RAY_AUTH_TOKEN_PATH or ~/.ray/auth_token; without it "
                        "the driver sends none, except to 'auto'")
    p.add_argument("--verbose", action="store_true",
                   help="also Ray's trial tables, its workers' output (checkpoint notes) and "
                        "Tune's warnings (always in Ray's log files)")


def add_tracking_arguments(p: argparse.ArgumentParser) -> None:
    """Experiment trackers beside TensorBoard (sweeps.tune.tracking); shared by both sweep CLIs."""
    p.add_argument("--mlflow", metavar="URI",
                   help="log every trial as an MLflow run: a tracking server, sqlite:///x.db, "
                        "or a folder (the 'mlflow' extra)")
    p.add_argument("--wandb", metavar="PROJECT",
                   help="log every trial as a Weights & Biases run in PROJECT (the 'wandb' "
                        "extra; WANDB_MODE=offline needs no account)")


def check_args(args: argparse.Namespace) -> None:
    """Resource and retry flags Ray would reject late (or wait forever on); one line each."""
    gpus = args.gpus_per_trial
    if gpus < 0 or (gpus > 1 and gpus != int(gpus)):
        raise GridError(f"--gpus-per-trial {gpus:g}: give a fraction in [0, 1] or a whole number")
    if args.cpus_per_trial <= 0:
        raise GridError(f"--cpus-per-trial {args.cpus_per_trial:g} must be > 0")
    if args.max_concurrent is not None and args.max_concurrent < 1:
        raise GridError(f"--max-concurrent {args.max_concurrent} must be >= 1")
    if args.max_failures < 0:
        raise GridError(f"--max-failures {args.max_failures} must be >= 0")
    if args.data_root and not os.path.isdir(os.path.expanduser(args.data_root)):
        raise GridError(f"--data-root {args.data_root}: no such folder")
