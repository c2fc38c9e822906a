"""Run a named grid on Ray Tune: one trial per TrialConfig, one Parquet row per trial.

    python sweeps/run_grid.py                          # the demo grid on this machine
    python sweeps/run_grid.py --grid table2 --data-root data/cityscapes --storage s3://b/fewpair
    python sweeps/run_grid.py --grid table2 --resume   # continue a killed sweep
    python sweeps/run_grid.py --grid table1 --dry-run  # trial count, what would run, GPU-hours

Flow: grid -> TrialConfigs -> drop those whose `ok` row exists (unless --force) -> join a
cluster (--address / RAY_ADDRESS) or start a local Ray -> selection manifests, once per distinct
selection (as Ray tasks on a cluster; in the driver while a local Ray starts) -> a Tuner over
`tune.grid_search` of the trials -> the grid's table.
Tune's state (checkpoints, experiment state for --resume) lives in `<results>/_ray/<grid>`;
rows in `<results>/<grid>/dataset=<name>/<trial_key>.parquet`.
"""
from __future__ import annotations

import sys

from sweeps.tune.grid_sweep import build_parser, main

__all__ = ["build_parser", "main"]   # the logic: sweeps.tune.grid_sweep, sweeps.plan, sweeps.tune.launch

if __name__ == "__main__":
    sys.exit(main())
