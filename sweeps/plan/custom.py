"""Custom experiments without editing Python: a grid from a plain-data file (`--grid-file`),
field overrides (`--set FIELD=VALUE`), the seeds of every arm (`--seeds 0-9`) and the official
export of every trial's predictions (`--export DIR`).

A grid file (YAML or JSON) holds what a registered grid holds (sweeps.plan.grids.Grid):

    name: my-grid                  # rows go to <storage>/my-grid/ (default: the file's stem)
    dataset: toy-streets
    description: budgets 1 and 5, two selectors, three seeds
    base: {image_size: 32, load_size: 36, ngf: 8, ndf: 8, n_blocks: 2, steps: 300}
    arms:
      - label: hybrid
        fixed: {mode: hybrid, unpaired: 40}
        axes: {paired_budget: [1, 5], selection: [random, kmedoids], seed: [0, 1, 2]}

Every field is a TrialConfig field, checked by TrialConfig itself; a mistake names the file.
"""
from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Sequence

from sweeps.plan.grids import Arm, Grid, GridError
from trainer.core.config import ConfigError, TrialConfig
from trainer.core.registry import did_you_mean

GRID_KEYS = {"name", "dataset", "description", "base", "arms"}
ARM_KEYS = {"label", "fixed", "axes"}
NOT_SETTABLE = {"dataset": "--dataset", "data_root": "--data-root",
                "export_dir": "--export"}   # fields that have their own flag


def load_grid_file(path: str) -> Grid:
    """The grid a YAML / JSON file describes; every arm checked by expanding it once."""
    import yaml   # YAML is a superset of JSON: one reader for both
    try:
        data = yaml.safe_load(Path(path).read_text())
    except OSError as err:
        raise GridError(f"--grid-file {path}: {err.strerror}") from None
    except yaml.YAMLError as err:
        raise GridError(f"--grid-file {path}: not YAML/JSON ({' '.join(str(err).split())})") \
            from None
    if not isinstance(data, dict):
        raise GridError(f"--grid-file {path}: expected a mapping with "
                        f"{', '.join(sorted(GRID_KEYS))}")
    _no_unknown(path, "", data, GRID_KEYS)
    if not data.get("dataset") or not data.get("arms"):
        raise GridError(f"--grid-file {path}: needs 'dataset' and at least one arm in 'arms'")
    arms = tuple(_arm(path, i, arm) for i, arm in enumerate(data["arms"]))
    grid = Grid(str(data.get("name") or Path(path).stem), str(data["dataset"]),
                str(data.get("description") or ""), dict(data.get("base") or {}), arms)
    from sweeps.plan.grids import expand
    try:
        expand(grid)
    except (ConfigError, TypeError) as err:
        raise GridError(f"--grid-file {path}: {err}") from None
    return grid


def _arm(path: str, index: int, arm: object) -> Arm:
    if not isinstance(arm, dict):
        raise GridError(f"--grid-file {path}: arms[{index}] is not a mapping")
    _no_unknown(path, f"arms[{index}].", arm, ARM_KEYS)
    axes = dict(arm.get("axes") or {})
    for name, values in axes.items():
        if not isinstance(values, list) or not values:
            raise GridError(f"--grid-file {path}: arms[{index}].axes.{name} must be a "
                            f"non-empty list, not {values!r}")
    return Arm(str(arm.get("label") or f"arm {index}"), dict(arm.get("fixed") or {}), axes)


def _no_unknown(path: str, where: str, data: dict, known: set[str]) -> None:
    unknown = sorted(set(data) - known)
    if unknown:
        raise GridError(f"--grid-file {path}: unknown key {where}{unknown[0]!r}"
                        f"{did_you_mean(unknown[0], known)} (valid: {', '.join(sorted(known))})")


def parse_sets(items: Sequence[str]) -> dict[str, object]:
    """`["steps=300", "precision=bf16"]` -> {field: typed value}; TrialConfig checks values."""
    types = {f.name: f.type for f in dataclasses.fields(TrialConfig)}
    out: dict[str, object] = {}
    for item in items:
        name, sep, text = item.partition("=")
        if not sep:
            raise GridError(f"--set {item!r}: expected FIELD=VALUE")
        if name in NOT_SETTABLE:
            raise GridError(f"--set {name}: use {NOT_SETTABLE[name]}")
        if name not in types:
            settable = sorted(set(types) - set(NOT_SETTABLE))
            raise GridError(f"--set {name}: unknown TrialConfig field"
                            f"{did_you_mean(name, settable)} (valid: {', '.join(settable)})")
        out[name] = _typed(name, types[name], text)
    return out


def _typed(name: str, kind: str, text: str) -> object:
    try:
        if kind == "int":
            return int(text)
        if kind == "float":
            return float(text)
    except ValueError:
        raise GridError(f"--set {name}={text}: {name} takes a {kind}") from None
    if kind == "bool":
        if text.lower() not in ("true", "false", "yes", "no", "1", "0"):
            raise GridError(f"--set {name}={text}: {name} takes true or false")
        return text.lower() in ("true", "yes", "1")
    if kind == "str | None" and text.lower() in ("", "none"):
        return None
    return text


def customise(cfgs: list[TrialConfig], sets: dict[str, object],
              seeds: Sequence[int] | None, export: str | None) -> list[TrialConfig]:
    """Every trial with `sets` applied (over the arms' own values), each distinct setting run
    with `seeds` (instead of its arm's), and `<export>/<trial_key>/` as its export folder;
    trials that became equal are run once, order kept."""
    out: dict[str, TrialConfig] = {}
    for cfg in cfgs:
        try:
            cfg = cfg.replace(**sets)
            variants = [cfg] if seeds is None else [cfg.replace(seed=s) for s in seeds]
        except ConfigError as err:
            raise GridError(f"--set: {err}") from None
        for variant in variants:
            out.setdefault(variant.key(), variant)
    if export:
        root = os.path.abspath(os.path.expanduser(export))
        return [c.replace(export_dir=os.path.join(root, c.key())) for c in out.values()]
    return list(out.values())
