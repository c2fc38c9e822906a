"""Cost of computing selection features on the CPU (the default, so that picks do not depend on
the machine) against the GPU with TF32 off and with TF32 on, in the same run.

ResNet50 (`resnet50-imagenet`, 224x224 crops, batch 32) on generated 256x512 photos-like
images, random weights of the same shape as ImageNet's (the cost does not depend on the values).
Prints images/s per device and the one-time cost of Cityscapes' 2,975 training photos (features
are cached per split, so this is paid once per dataset and weights file).

Run: PYTHONPATH=. .venv/bin/python bench/feature_device.py [--images 64]
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time

import numpy as np
import torch
from torchvision.models import resnet50

from trainer.selection import EXTRACTORS
from trainer.selection.resnet import WEIGHTS_ENV

CITYSCAPES_TRAIN = 2975   # photos in Cityscapes' train split


def photos(count: int) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    return [rng.integers(0, 256, (256, 512, 3), dtype=np.uint8) for _ in range(count)]


def rate(device: str, images: list[np.ndarray], tf32: bool | None = None) -> float:
    """Images per second, after one warm-up batch. tf32=True re-enables TF32 inside the call
    (the behaviour before features turned it off) by patching the extractor's guard."""
    import trainer.selection.resnet as resnet
    extract = EXTRACTORS["resnet50-imagenet"](device)
    guard = resnet.full_fp32
    if tf32:
        torch.backends.cudnn.allow_tf32 = True
        resnet.full_fp32 = _unchanged
    try:
        extract(images[:extract.batch_size])
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        start = time.perf_counter()
        for at in range(0, len(images), extract.batch_size):
            extract(images[at:at + extract.batch_size])
        return len(images) / (time.perf_counter() - start)
    finally:
        resnet.full_fp32 = guard


class _unchanged:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=64, help="images timed per device")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        weights = os.path.join(folder, "random-resnet50.pth")
        torch.save(resnet50().state_dict(), weights)
        os.environ[WEIGHTS_ENV] = weights
        images = photos(args.images)
        rows = [("cpu", rate("cpu", images))]
        if torch.cuda.is_available():
            rows += [("cuda, TF32 off", rate("cuda", images)),
                     ("cuda, TF32 on", rate("cuda", images, tf32=True))]
    print(f"torch threads: {torch.get_num_threads()}; {args.images} images per device")
    base = rows[0][1]
    for name, per_s in rows:
        print(f"{name:>15}  {per_s:8.1f} images/s  x{per_s / base:6.1f} the cpu  "
              f"Cityscapes train once: {CITYSCAPES_TRAIN / per_s / 60:6.1f} min")
    if len(rows) == 1:
        print("no CUDA device here: the GPU rows need a GPU machine")


if __name__ == "__main__":
    main()
