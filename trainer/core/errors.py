"""The error of a bad trial field, below everything that validates one (config, vocabulary)."""
from __future__ import annotations


class ConfigError(ValueError):
    """A bad TrialConfig field; the message names the field and the value."""
