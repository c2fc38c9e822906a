"""The one rule for `TrialConfig.device` (and `--device` flags): which torch device a name means."""
from __future__ import annotations

import typing

from trainer.core.errors import ConfigError

if typing.TYPE_CHECKING:
    import torch


class DeviceError(ConfigError):
    """A device name torch rejects, or CUDA asked for where none is visible; one line."""


def resolve_device(name: str) -> torch.device:
    """"auto" -> cuda when available, else cpu; an unavailable CUDA device is a DeviceError
    (raised here, before any work, rather than deep inside the first .to(device))."""
    import torch   # here, not at the top: trainer.core stays importable without torch
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        device = torch.device(name)
    except RuntimeError as err:
        raise DeviceError(f"device={name!r} is not a torch device ({err})") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise DeviceError(f"device={name!r} but no CUDA device is available")
    return device
