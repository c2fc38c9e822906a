"""`resnet50-imagenet`: the paper's features (Sec. 3.2), ResNet50's 2048-d pooled penultimate layer.

Weights are ImageNet's, from torchvision: `ResNet50_Weights.IMAGENET1K_V2` (or V1) as torchvision's
own download leaves them in `<torch.hub.get_dir()>/checkpoints/`, or any state-dict file named by
env `FEWPAIR_RESNET50_WEIGHTS`. Nothing is ever downloaded here, and a missing file is an error
telling how to provide one, never a silent switch to another extractor. Preprocessing is what the
weights specify (`weights.transforms()`: resize 232 (V2) / 256 (V1), centre crop 224, ImageNet
mean/std).
"""
from __future__ import annotations

import contextlib
import os
from pathlib import Path

import numpy as np
import torch
from torchvision.models import ResNet50_Weights, resnet50

from .registry import EXTRACTORS, SelectionError

WEIGHTS_ENV = "FEWPAIR_RESNET50_WEIGHTS"  # a ResNet50 state-dict file (.pth) to use instead
KNOWN_WEIGHTS = (ResNet50_Weights.IMAGENET1K_V2, ResNet50_Weights.IMAGENET1K_V1)  # preferred first


def _file_name(weights: ResNet50_Weights) -> str:
    return weights.url.rsplit("/", 1)[-1]           # e.g. resnet50-11ad3fa6.pth


def weights_file() -> tuple[Path, ResNet50_Weights]:
    """The weights file to load and the torchvision weights entry whose transforms apply."""
    named = os.environ.get(WEIGHTS_ENV)
    if named:
        path = Path(named).expanduser()
        if not path.is_file():
            raise SelectionError(f"{WEIGHTS_ENV}={named}: no such file")
        by_name = {_file_name(w): w for w in KNOWN_WEIGHTS}
        return path, by_name.get(path.name, KNOWN_WEIGHTS[0])  # unknown file: V2 preprocessing
    hub = Path(torch.hub.get_dir()) / "checkpoints"
    for weights in KNOWN_WEIGHTS:
        if (hub / _file_name(weights)).is_file():
            return hub / _file_name(weights), weights
    raise SelectionError(
        f"resnet50-imagenet needs ImageNet ResNet50 weights: none in {hub}; on a machine with "
        f"internet run `python -c \"import torchvision; torchvision.models.resnet50(weights='IMAGENET1K_V2')\"` "
        f"and copy {_file_name(KNOWN_WEIGHTS[0])} there, or set {WEIGHTS_ENV}=<file.pth>")


def _load_state(path: Path) -> dict:
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises many types for a bad file; all mean "not a state dict"
        raise SelectionError(f"{path}: not a loadable ResNet50 state dict ({type(err).__name__})") from None


@EXTRACTORS.register("resnet50-imagenet")
class ResNet50Features:
    """[H, W, 3] uint8 images -> [B, 2048] float32 pooled activations (>= 0, after ReLU)."""

    dim = 2048
    batch_size = 32   # 224x224 crops per forward pass

    def __init__(self, device: str = "cpu") -> None:
        path, weights = weights_file()
        model = resnet50()
        try:
            model.load_state_dict(_load_state(path))
        except RuntimeError:
            raise SelectionError(f"{path}: not a torchvision ResNet50 state dict "
                                 "(keys or shapes differ)") from None
        model.fc = torch.nn.Identity()              # keep the 2048-d global-average-pooled features
        self.model = model.eval().to(device)
        self.device = device
        self.preprocess = weights.transforms()      # uint8 [3, H, W] -> float [3, 224, 224], normalised

    @classmethod
    def fingerprint(cls) -> str:
        """Names the weights file (name and size) so other weights get other cache entries."""
        path, _ = weights_file()
        return f"resnet50-{path.name}-{path.stat().st_size}"

    def __call__(self, images: list[np.ndarray]) -> np.ndarray:
        batch = torch.stack([self.preprocess(torch.from_numpy(np.ascontiguousarray(im)).permute(2, 0, 1))
                             for im in images])     # [B, 3, 224, 224]
        with torch.inference_mode(), full_fp32():
            return self.model(batch.to(self.device)).float().cpu().numpy()


@contextlib.contextmanager
def full_fp32():
    """TF32 off for CUDA convolutions and matmuls while features are computed (TF32 keeps 10
    mantissa bits: GPU features then differ from the CPU's by up to ~1%, enough to change a
    k-medoids pick); the previous settings are restored."""
    flags = (torch.backends.cudnn, "allow_tf32"), (torch.backends.cuda.matmul, "allow_tf32")
    before = [getattr(obj, name) for obj, name in flags]
    for obj, name in flags:
        setattr(obj, name, False)
    try:
        yield
    finally:
        for (obj, name), value in zip(flags, before):
            setattr(obj, name, value)
