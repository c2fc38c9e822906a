"""The errors of a bad trial field, below everything that validates one (config, vocabulary)."""
from __future__ import annotations


class ConfigError(ValueError):
    """A bad TrialConfig field; the message names the field and the value."""


class SelectionError(ValueError):
    """Bad selection input (unknown name, budget out of range, missing weights); one line.
    Here, not in trainer.selection, so its name registries validate without torch."""
