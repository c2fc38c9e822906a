"""The labels->photos judge ("FCN score"): a segmenter that scores generated photos.

The paper segments generated photos with pix2pix's pretrained Cityscapes FCN-8s, which cannot be
downloaded here. fewpair instead trains its own small judge once per dataset on the full paired
training split and caches it (atomically) as TorchScript in `cache_dir()/judges/`. Its score on
the real photos, `judge_ceiling()`, is the ceiling row: no translator can be judged better.

Users may bring their own segmenter: set `TrialConfig.judge` to a TorchScript file. Interface
(fewpair's own judges follow it too):
    input  [B, 3, H, W] float RGB in [0, 1] at the dataset's original resolution
    output [B, 19, h, w] logits in train-id order (or a dict with "out"); resized to H x W here.

CLI: python -m trainer.eval.judge --dataset toy-streets   (trains or loads the judge, prints ceiling)
"""
from __future__ import annotations

import argparse
import contextlib
import dataclasses
import hashlib
import json
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
import torchvision.transforms.v2.functional as TF
from torch import nn
from torchvision.transforms import InterpolationMode

from trainer.eval import metrics
from trainer.core.atomic import atomic_write
from trainer.core.config import TrialConfig
from trainer.data import cache_dir, dataset_info, open_split, toy_root
from trainer.data.palette import IGNORE, NUM_CLASSES
from trainer.eval.judge_nets import build_judge_net
from trainer.eval.scoring import SegmentationTally, decoded

AUTO = "auto"          # TrialConfig.judge value: fewpair's own judge for the dataset
JUDGE_VERSION = 1      # bump when training changes, so cached judges are retrained
IMAGENET_MEAN = (0.485, 0.456, 0.406)  # input normalisation inside the judge (torchvision's)
IMAGENET_STD = (0.229, 0.224, 0.225)


class JudgeError(ValueError):
    """A judge file that cannot be loaded or does not follow the interface; names the file."""


@dataclass(frozen=True)
class JudgeSpec:
    """How fewpair trains a judge. Part of the cache key: change a field, get a new judge."""
    net: str = "tiny-unet"    # trainer.eval.judge_nets registry name
    work_height: int = 64     # px: photos are resized to this height (aspect kept) for the judge
    crop: int = 64            # px: square random training crop at work size (<= image: whole)
    steps: int = 600          # optimiser steps
    batch: int = 8            # crops per step
    lr: float = 2e-3          # Adam, cosine-annealed to 0 over `steps`
    seed: int = 0             # init, crop and flip draws


def default_spec(dataset: str) -> JudgeSpec:
    """Toy sets: a tiny U-Net at half their 128 px height (2-5 CPU minutes, once). Real sets:
    torchvision's LR-ASPP at 256 px height (Cityscapes 512x256, the scale pix2pix's FCN judge
    works at; 2,975 photos are 1.2 GB of uint8), trained on a GPU."""
    if dataset_info(dataset).is_toy:
        return JudgeSpec()
    return JudgeSpec(net="lraspp-mobilenetv3", work_height=256, crop=256, steps=20000, lr=1e-3)


class Judge(nn.Module):
    """[B, 3, H, W] float RGB in [0, 1] -> [B, 19, H, W] logits: resize to the work height,
    normalise, run the network, upsample the logits back (bilinear)."""

    def __init__(self, net: nn.Module, work_height: int):
        super().__init__()
        self.net = net
        self.work_height = work_height
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1))

    def normalise(self, photos: torch.Tensor) -> torch.Tensor:
        return (photos - self.mean) / self.std

    def forward(self, photos: torch.Tensor) -> torch.Tensor:
        h, w = photos.shape[-2], photos.shape[-1]
        x = photos
        if h != self.work_height:
            size = [self.work_height, max(1, int(round(w * self.work_height / h)))]
            x = F.interpolate(x, size=size, mode="bilinear", align_corners=False, antialias=True)
        logits = self.net(self.normalise(x))
        return F.interpolate(logits, size=[h, w], mode="bilinear", align_corners=False)


# --- training -----------------------------------------------------------------------------------
def _work_size(h: int, w: int, work_height: int) -> list[int]:
    return [work_height, max(1, round(w * work_height / h))]


def load_training_set(dataset: str, root: str | None, work_height: int, device: torch.device):
    """The whole paired train split at work size: photos [N, 3, h, w] uint8, ids [N, h, w] uint8."""
    reader = open_split(dataset, "train", root)
    if reader.kind != "segmentation":
        raise JudgeError(f"dataset {dataset!r} is {reader.kind}: a judge needs photos with labels")
    photos, masks = [], []
    for s in decoded(reader, len(reader)):
        size = _work_size(*s.mask.shape, work_height)
        photo = torch.from_numpy(s.a).permute(2, 0, 1)
        photos.append(TF.resize(photo, size, InterpolationMode.BILINEAR, antialias=True))
        mask = torch.from_numpy(s.mask)[None]
        masks.append(TF.resize(mask, size, InterpolationMode.NEAREST_EXACT)[0])
    return torch.stack(photos).to(device), torch.stack(masks).to(device)


def _random_crops(photos, masks, spec: JudgeSpec, gen: torch.Generator):
    """A batch of random crops with random horizontal flips: [b, 3, c, c] float in [0, 1], [b, c, c]
    int64 (c = spec.crop, or the whole image where it is smaller)."""
    n, _, h, w = photos.shape
    ch, cw = min(spec.crop, h), min(spec.crop, w)
    idx = torch.randint(n, (spec.batch,), generator=gen).tolist()
    top = torch.randint(h - ch + 1, (spec.batch,), generator=gen).tolist()
    left = torch.randint(w - cw + 1, (spec.batch,), generator=gen).tolist()
    flip = torch.rand(spec.batch, generator=gen).lt(0.5).tolist()
    xs, ys = [], []
    for i, t, l, f in zip(idx, top, left, flip):
        x, y = photos[i, :, t:t + ch, l:l + cw], masks[i, t:t + ch, l:l + cw]
        xs.append(x.flip(-1) if f else x)
        ys.append(y.flip(-1) if f else y)
    return torch.stack(xs).float() / 255, torch.stack(ys).long()


def train_judge(dataset: str, root: str | None, spec: JudgeSpec, device: torch.device) -> Judge:
    """Train a judge on the whole paired training split (cross-entropy, 255 ignored)."""
    photos, masks = load_training_set(dataset, root, spec.work_height, device)
    with torch.random.fork_rng(devices=[]):  # seeded init without touching the caller's RNG
        torch.manual_seed(spec.seed)
        net = build_judge_net(spec.net, NUM_CLASSES)
    judge = Judge(net, spec.work_height).to(device).train()
    opt = torch.optim.Adam(judge.parameters(), lr=spec.lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(1, spec.steps))
    gen = torch.Generator().manual_seed(spec.seed)
    for step in range(spec.steps):
        x, y = _random_crops(photos, masks, spec, gen)
        loss = F.cross_entropy(judge.net(judge.normalise(x)), y, ignore_index=IGNORE)
        if not torch.isfinite(loss):
            raise FloatingPointError(f"judge loss is {loss.item()} at step {step}")
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
    return judge.eval()


# --- cache and loading --------------------------------------------------------------------------
def judge_path(dataset: str, root: str | None, spec: JudgeSpec) -> Path:
    """Cache file of fewpair's judge for (dataset, resolved root, spec)."""
    where = str(Path(root).expanduser().resolve()) if root else str(toy_root(dataset))
    blob = json.dumps({"dataset": dataset, "root": where, "spec": dataclasses.asdict(spec),
                       "version": JUDGE_VERSION}, sort_keys=True)
    key = hashlib.sha1(blob.encode()).hexdigest()[:16]
    return cache_dir() / "judges" / f"{dataset}-{spec.net}-{key}.pt"


def cached_judge(dataset: str, root: str | None, spec: JudgeSpec, device: torch.device) -> Path:
    """Path of the cached TorchScript judge, training and saving it (atomically) when absent."""
    path = judge_path(dataset, root, spec)
    if not path.is_file():
        judge = train_judge(dataset, root, spec, device).cpu()
        with _torchscript_quiet():
            scripted = torch.jit.script(judge)
            atomic_write(path, lambda tmp: torch.jit.save(scripted, str(tmp)))
    return path


@contextlib.contextmanager
def _torchscript_quiet():
    """TorchScript is deprecated in recent torch (a FutureWarning on every call); it is still the
    self-contained format users' segmenters come in, so fewpair keeps it without the log noise."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"`torch\.jit\.", category=FutureWarning)
        yield


def load_judge(cfg: TrialConfig, device: torch.device, spec: JudgeSpec | None = None):
    """The judge for cfg: cfg.judge == "auto" -> fewpair's (trained once, cached); else the
    user's TorchScript file. Returned module: see the interface in this file's docstring."""
    device = torch.device(device)
    if cfg.judge == AUTO:
        path = cached_judge(cfg.dataset, cfg.data_root, spec or default_spec(cfg.dataset), device)
    else:
        path = Path(cfg.judge).expanduser()
        if not path.is_file():
            raise JudgeError(f"judge={cfg.judge!r}: file not found")
    try:
        with _torchscript_quiet():
            return torch.jit.load(str(path), map_location=device).eval()
    except RuntimeError as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise JudgeError(f"judge file {path} is not a loadable TorchScript module ({first})") from None


@torch.inference_mode()
def segment(judge, photos: torch.Tensor) -> torch.Tensor:
    """[B, H, W, 3] uint8 photos -> [B, H, W] int64 train ids (argmax of the judge's logits)."""
    x = photos.permute(0, 3, 1, 2).float() / 255                       # [B, 3, H, W] in [0, 1]
    logits = judge(x)
    if isinstance(logits, dict):
        logits = logits["out"]
    if logits.ndim != 4 or logits.shape[1] != NUM_CLASSES:
        raise JudgeError(f"judge output has shape {tuple(logits.shape)}; expected "
                         f"[B, {NUM_CLASSES}, h, w] logits")
    if logits.shape[-2:] != x.shape[-2:]:
        logits = F.interpolate(logits.float(), size=x.shape[-2:], mode="bilinear",
                               align_corners=False)
    return logits.argmax(1)


def judge_ceiling(cfg: TrialConfig, device: torch.device, spec: JudgeSpec | None = None
                  ) -> dict[str, float]:
    """The judge's score on the real photos of cfg.eval_split (first cfg.eval_limit if > 0): the
    best fcn-score any translator can reach with this judge. Same columns as evaluate()."""
    device = torch.device(device)
    judge = load_judge(cfg, device, spec)
    reader = open_split(cfg.dataset, cfg.eval_split, cfg.data_root)
    n = min(cfg.eval_limit, len(reader)) if cfg.eval_limit > 0 else len(reader)
    tally = SegmentationTally()
    for s in decoded(reader, n):
        pred = segment(judge, torch.from_numpy(s.a)[None].to(device))[0]
        tally.add(metrics.confusion_matrix(torch.from_numpy(s.mask).to(device), pred), s.archetype)
    return tally.row()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Train (once) or load a dataset's judge and "
                                                 "print its ceiling fcn-score on real photos.")
    parser.add_argument("--dataset", default="toy-streets", help="segmentation dataset name")
    parser.add_argument("--root", default=None, help="dataset folder (toy sets: the cache)")
    parser.add_argument("--split", default="val", help="split to score the real photos of")
    parser.add_argument("--limit", type=int, default=0, help="first N images; 0 = all")
    parser.add_argument("--judge", default=AUTO, help="'auto' or a TorchScript segmenter file")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args(argv)
    try:
        device = torch.device(args.device)
    except RuntimeError:
        print(f"error: --device {args.device!r} is not a torch device (e.g. cpu, cuda, cuda:1)",
              file=sys.stderr)
        return 2
    try:
        cfg = TrialConfig(dataset=args.dataset, data_root=args.root, direction="BtoA",
                          eval_split=args.split, eval_limit=args.limit, judge=args.judge)
        row = judge_ceiling(cfg, device)
    except ValueError as err:  # ConfigError, DataError, JudgeError: user mistakes, one line
        print(f"error: {err}", file=sys.stderr)
        return 2
    for name in ("pixel_acc", "mean_class_acc", "mean_iou"):
        print(f"{name:>16}: {row[name]:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
