"""Command-line pieces shared by `python -m analysis` and the sweep CLIs (which call the
analysis at a grid's end): seed lists and help that shows each flag's default."""
from __future__ import annotations

import argparse


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
        raise argparse.ArgumentTypeError(f"--seeds {text!r}: expected e.g. 0-9 or 0,1,5") from None
    return tuple(sorted(set(seeds)))


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
