"""The trial CLI, `python -m trainer.train`, with a flag per TrialConfig field whose help is
generated from the field's comment in trainer/core/config.py.

    python -m trainer.train --dataset toy-streets --mode hybrid --paired-budget 5 --unpaired 100 \\
        --selection kmedoids --seed 0 --steps 300 --image-size 32 --workdir DIR [--json]

Why a small generator over argparse rather than a CLI library (click, typer, jsonargparse): the
comments beside the fields are already the one place that says what each field means, its unit
and its special values; reading them keeps that one place, needs no dependency, and every other
fewpair CLI is argparse, so all of them print help and errors the same way. `field_help` is
shared with `python -m trainer.selection`, whose flags are TrialConfig fields too.
"""
from __future__ import annotations

import argparse
import inspect
import json
import math
import re
import sys
from dataclasses import MISSING, fields

from trainer.core import config
from trainer.core.config import ConfigError, TrialConfig

LOAD_RATIO = 286 / 256   # CycleGAN's load/crop ratio: the default --load-size for an --image-size
_SECTION = re.compile(r"^\s+# -+ (?P<title>.+?) -+\s*$")
_FIELD = re.compile(r"^    (?P<name>\w+): [^=]+= [^#]+?(?:#\s?(?P<doc>.*))?$")
_MORE = re.compile(r"^\s{8,}#\s?(?P<doc>.*)$")    # a comment continued under the field's
_METAVARS = {"int": "N", "float": "X", "str": "NAME", "str | None": "PATH"}
_MAX_METAVAR_CHOICES = 6   # longer vocabularies are listed in the help text instead
_NOTES = {"load_size": "with --image-size alone: image_size x 286/256, CycleGAN's ratio"}


def field_docs() -> dict[str, tuple[str, str]]:
    """field -> (section title, comment) from TrialConfig's source (continuation lines joined)."""
    source = inspect.getsource(TrialConfig).splitlines()
    docs: dict[str, list[str]] = {}
    sections: dict[str, str] = {}
    section, last = "", None
    for line in source:
        if line.lstrip().startswith("def "):
            break
        if (found := _SECTION.match(line)):
            section, last = found["title"], None
        elif (found := _FIELD.match(line)):
            last = found["name"]
            docs[last], sections[last] = [(found["doc"] or "").strip()], section
        elif last and (found := _MORE.match(line)):
            docs[last].append(found["doc"].strip())
    return {name: (sections[name], " ".join(d for d in docs[name] if d)) for name in docs}


def field_choices() -> dict[str, tuple[str, ...]]:
    """The values each vocabulary field takes (from the registries that check them)."""
    from trainer.core.vocabulary import EXTRACTORS, GAN_LOSSES, STRATEGIES   # names, no torch
    from trainer.data import dataset_names
    return {"dataset": tuple(dataset_names()), "direction": config.DIRECTIONS,
            "mode": config.MODES, "mix": config.MIXES, "gan_loss": tuple(GAN_LOSSES),
            "precision": config.PRECISIONS, "selection": tuple(STRATEGIES),
            "pool_selection": tuple(STRATEGIES), "features": ("auto", *EXTRACTORS)}


def field_help(name: str, choices: dict[str, tuple[str, ...]] | None = None,
               default: object = MISSING, list_choices: bool = True) -> str:
    """`<comment>; one of: a, b, c [<type>, default: <value>]` for TrialConfig field `name`
    (list_choices=False: the flag's metavar shows them already)."""
    spec = {f.name: f for f in fields(TrialConfig)}[name]
    _, doc = field_docs()[name]
    allowed = (choices if choices is not None else field_choices()).get(name)
    text = doc + (f"; one of: {', '.join(allowed)}" if allowed and list_choices else "")
    text += f"; {_NOTES[name]}" if name in _NOTES else ""
    default = spec.default if default is MISSING else default
    kind = spec.type.replace(" | None", " or None")
    return f"{text} [{kind}, default: {default}]".replace("%", "%%")


def build_parser() -> argparse.ArgumentParser:
    """One --flag per TrialConfig field (underscores as dashes), grouped by the config's
    sections, plus --workdir and --json."""
    parser = argparse.ArgumentParser(
        prog="python -m trainer.train", description="Train and evaluate one fewpair trial. "
        "Every flag is a TrialConfig field (trainer/core/config.py); unset flags take its default.")
    parser.add_argument("--workdir", required=True,
                        help="trial folder: checkpoint/ (resumed from when present), samples.png")
    parser.add_argument("--json", action="store_true",
                        help="print the config and metrics as one JSON object on the last line")
    choices, groups = field_choices(), {}
    for f in fields(TrialConfig):
        section = field_docs()[f.name][0] or "other"
        group = groups.get(section) or groups.setdefault(
            section, parser.add_argument_group(f"trial config: {section}"))
        metavar = _metavar(f.name, f.type, choices)
        help_text = field_help(f.name, choices, list_choices=not metavar.startswith("{"))
        flag = "--" + f.name.replace("_", "-")
        if f.type == "bool":
            group.add_argument(flag, action=argparse.BooleanOptionalAction, default=None,
                               help=help_text)
        else:
            group.add_argument(flag, type=_ARG_TYPES.get(f.type, str), default=None,
                               help=help_text, metavar=metavar)
    return parser


_ARG_TYPES = {"int": int, "float": float}


def _metavar(name: str, kind: str, choices: dict[str, tuple[str, ...]]) -> str:
    if name in choices and len(choices[name]) <= _MAX_METAVAR_CHOICES:
        return "{" + ",".join(choices[name]) + "}"
    return _METAVARS.get(kind, "VALUE")


def config_from_args(args: argparse.Namespace) -> TrialConfig:
    names = {f.name for f in fields(TrialConfig)}
    values = {k: v for k, v in vars(args).items() if k in names and v is not None}
    if "image_size" in values and "load_size" not in values:
        values["load_size"] = round(values["image_size"] * LOAD_RATIO)
    return TrialConfig.from_dict(values)


def _input_errors() -> tuple[type[Exception], ...]:
    """The errors of bad input, each one line (exit 2); importing them needs no torch."""
    from trainer.core.errors import SelectionError
    from trainer.data import DataError
    from trainer.eval.protocols import EvaluationError
    return ConfigError, DataError, SelectionError, EvaluationError


def main(argv: list[str] | None = None) -> int:
    from trainer.run.checks import check_trial
    args = build_parser().parse_args(argv)
    # names, sizes and pools: one line now, not a traceback mid-training; and before torch and
    # the trainer are imported (seconds of a process's start), so bad input is answered at once
    try:
        cfg = config_from_args(args)
        check_trial(cfg)
    except _input_errors() as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return _train(cfg, args)


def _train(cfg: TrialConfig, args: argparse.Namespace) -> int:
    """Train the checked trial and print its metrics; the exit status."""
    from trainer.core.atomic import DiskFull
    from trainer.step.watch import NonFiniteLoss
    from trainer.run.interrupt import Interrupted
    from trainer.run.loop import train
    from trainer.run.trial import TrainError
    try:
        result = train(cfg, args.workdir, progress=True)
    except (*_input_errors(), TrainError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except (NonFiniteLoss, DiskFull) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    except Interrupted as stop:   # SIGINT / SIGTERM during training: checkpointed first
        print(f"\n{stop}", file=sys.stderr)
        return stop.exit_code
    except KeyboardInterrupt:     # Ctrl-C before training started: nothing to keep
        print("\ninterrupted before training started; nothing saved", file=sys.stderr)
        return 130
    row = result.to_row()
    for name in sorted(k for k, v in row.items() if _headline(k, v)):
        print(f"{name:>20} {row[name]:.4f}")
    print(f"{'device':>20} {result.device}   trial {cfg.key()}   samples {result.samples_png}")
    if args.json:   # strict JSON: NaN (a class absent from the test split) becomes null
        print(json.dumps({k: None if isinstance(v, float) and math.isnan(v) else v
                          for k, v in {**cfg.to_row(), "trial_key": cfg.key(), **row}.items()}))
    return 0


def _headline(name: str, value: object) -> bool:
    """Summary lines: overall metrics and timings, not per class or per archetype."""
    return isinstance(value, float) and not name.startswith("iou_") and "__" not in name
