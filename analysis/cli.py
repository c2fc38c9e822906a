"""Command-line pieces shared by `python -m analysis` and the sweep CLIs (which call the
analysis at a grid's end): seed lists, one-line flag errors and help that shows each flag's
default."""
from __future__ import annotations

import argparse
import math

from analysis.verdict import MARGINS


def parse_seeds(text: str) -> tuple[int, ...]:
    """'0-9' or '0,1,5' (or a mix: '0-4,7') -> the seeds."""
    seeds: list[int] = []
    try:
        for part in text.split(","):
            low, _, high = part.strip().partition("-")
            span = range(int(low), int(high or low) + 1)
            if not span:   # '3-1' would silently mean no seed at all
                raise ValueError(part)
            seeds += span
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected e.g. 0-9 or 0,1,5 (a range runs "
                                         f"upwards)") from None
    return tuple(sorted(set(seeds)))


def parse_margin(text: str) -> float | dict[str, float]:
    """A finite, non-negative number in metric units (0.02: every metric), or
    'METRIC=X[,METRIC=X]' (pixel_acc=0.03,mean_iou=0.01: those metrics only)."""
    if "=" not in text:
        return _margin(text, text)
    out = {}
    for part in text.split(","):
        name, _, value = part.strip().partition("=")
        if name not in MARGINS:
            raise argparse.ArgumentTypeError(f"{text!r}: {name!r} is not a judged metric "
                                             f"(valid: {', '.join(MARGINS)})")
        out[name] = _margin(value, text)
    return out


def _margin(value: str, text: str) -> float:
    try:
        number = float(value)
    except ValueError:
        number = math.nan
    if not 0 <= number < math.inf:
        raise argparse.ArgumentTypeError(f"{text!r}: expected a finite number >= 0, e.g. 0.02 "
                                         f"or mean_iou=0.01")
    return number


class OneLineParser(argparse.ArgumentParser):
    """A bad flag is one `error:` line (exit 2), not argparse's usage dump (13 lines for
    run_grid) above the line that matters."""

    def error(self, message: str):
        self.exit(2, f"error: {message} (`{self.prog} --help` lists the flags)\n")


class DefaultsFormatter(argparse.HelpFormatter):
    """Appends ` [default: X]` to a flag's help where it has a default and the help does not
    state it already (argparse's own formatter also prints "default: None" for flags that are
    simply off)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        off = action.default is None or action.default is False or action.default == []
        if not off and action.default != argparse.SUPPRESS and "default" not in text:
            text += " [default: %(default)s]"
        return text
