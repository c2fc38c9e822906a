"""The one rule for `TrialConfig.device` (and `--device` flags): which torch device a name means."""
from __future__ import annotations

import os
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


def check_granted_gpus(granted: int, where: str) -> None:
    """A launcher granted this process `granted` GPUs (Ray: len(ray.get_gpu_ids())): torch must
    see at least as many CUDA devices, else a DeviceError naming `where` (the node) and what
    torch saw: a GPU node without a usable CUDA (a container started without GPU access, a
    driver older than torch's CUDA, a CPU-only torch) would otherwise fail deep in the first
    CUDA call, or train on its CPU while holding the GPU."""
    import torch
    if granted <= 0:
        return
    available = torch.cuda.is_available()
    seen = torch.cuda.device_count() if available else 0
    if seen >= granted:
        return
    built = f"CUDA {torch.version.cuda}" if torch.version.cuda else "no CUDA (a CPU-only build)"
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    raise DeviceError(f"{where}: granted {granted} GPU but torch sees {seen} CUDA device(s) "
                      f"(torch.cuda.is_available() is {available}; torch {torch.__version__} "
                      f"built with {built}; CUDA_VISIBLE_DEVICES={visible})")
