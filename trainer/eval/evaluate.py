"""Translate a test split and score it with the paper's protocol for the dataset and direction.

    segmentation (photos->labels, kind segmentation, AtoB): the generated colour image is resized
        to the original label resolution (bilinear, as an image), THEN every pixel goes to the
        nearest of the 19 palette colours, and the confusion matrix against the train ids gives
        pixel accuracy, mean class accuracy, mean / per-class IoU (paper section 4.1.2).
    fcn-score (labels->photos, kind segmentation, BtoA): the generated photo, resized the same way,
        is segmented by a judge (trainer.eval.judge) and scored with the same metrics (section 6.4).
    maps (kind maps): a pixel is right when max |channel diff| to the truth < 20 on 0-255; the
        score is the mean over test images (section 4.2.2).

Which images: the first cfg.eval_limit of cfg.eval_split, or with eval_split="holdout" of the
training samples outside the trial's unpaired pool (never trained on: a validation split for
tuning that keeps the val / test split unseen).

Export (cfg.export_dir set): every scored prediction is also written in the benchmark's own
format, so official tools score it unchanged -- segmentation and fcn-score: a Cityscapes
label-id PNG `<stem>_leftImg8bit.png` (the name `evalPixelLevelSemanticLabeling` matches against
`<stem>_gtFine_labelIds.png`) of exactly the classes fewpair scored; maps: the generated map
`<stem>.png`. Every evaluate() call with export_dir writes them; the final evaluation writes last.

Test-time input, as CycleGAN's test transform: the source image is resized to
cfg.image_size x cfg.image_size (photos / maps bilinear with antialias, label colours nearest, as
the training bank does), translated, and the output resized back to the source's original size.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch
import torchvision.transforms.v2.functional as TF
from torch.utils.data import Subset
from torchvision.transforms import InterpolationMode
from torchvision.utils import make_grid

from trainer.eval import metrics
from trainer.core.atomic import atomic_write
from trainer.core.config import HOLDOUT, TrialConfig
from trainer.data import Sample, dataset_info, open_split
from trainer.data.imageio import write_png
from trainer.data.palette import train_ids_to_label_ids
from trainer.eval.judge import load_judge, segment
from trainer.core.registry import Registry
from trainer.eval.protocols import SPECS, EvaluationError, main_metric, protocol_for, spec_attrs
from trainer.eval.scoring import MapsTally, SegmentationTally, decoded

EVAL_BATCH = 4       # images per translate() call: amortises launches, small at 256^2 on any GPU
SAMPLE_ROWS = 4      # input / output / truth triplets in the per-trial samples PNG
SAMPLE_HEIGHT = 128  # px: height of each panel in the samples PNG (width keeps the aspect)
SAMPLE_PADDING = 2   # px between and around the panels of the samples PNG
SAMPLE_COLUMNS = ("input", "output", "truth")   # the column labels above the panels
SAMPLE_LABEL_HEIGHT = 16   # px: the white strip above the panels holding those labels
EXPORT_SUFFIX = "_leftImg8bit.png"   # exported segmentation: named like the Cityscapes photo

Translate = Callable[[torch.Tensor], torch.Tensor]  # [B, 3, S, S] in [-1, 1] -> same


# --- protocols ----------------------------------------------------------------------------------
# name -> protocol class, registered with its spec's attributes (trainer.eval.protocols: which
# dataset kind and directions it serves, its main score); protocol_for and main_metric read
# those specs, so they need no torch. Every spec's name is declared here and must be filled.
PROTOCOLS = Registry("protocol", EvaluationError, declared=SPECS.names(),
                     home="trainer.eval.evaluate")


def make_protocol(name: str, cfg: TrialConfig, device: torch.device):
    return PROTOCOLS[name](cfg, device)


@PROTOCOLS.register("segmentation", **spec_attrs("segmentation"))
class Segmentation:
    """photo (A) -> label colours; truth: train ids."""
    source_is_labels = False

    def __init__(self, cfg: TrialConfig, device: torch.device):
        self.tally = SegmentationTally()

    def source(self, s: Sample) -> np.ndarray:
        return s.a

    def truth(self, s: Sample) -> np.ndarray:
        return s.b

    def score(self, out: torch.Tensor, s: Sample) -> None:
        """out: [H, W, 3] uint8 at the original resolution."""
        mask = torch.from_numpy(s.mask).to(out.device)
        self.tally.add(metrics.colour_confusion(out, mask), s.archetype)

    def export(self, out: torch.Tensor, s: Sample, folder: Path) -> None:
        """The scored classes as Cityscapes label ids, named after the source photo."""
        ids = metrics.nearest_class(out).cpu().numpy()
        write_png(folder / f"{s.stem}{EXPORT_SUFFIX}", train_ids_to_label_ids(ids))


@PROTOCOLS.register("fcn-score", **spec_attrs("fcn-score"))
class FcnScore(Segmentation):
    """label colours (B) -> photo, segmented by the judge; truth: train ids."""
    source_is_labels = True

    def __init__(self, cfg: TrialConfig, device: torch.device):
        super().__init__(cfg, device)
        self.judge = load_judge(cfg, device)

    def source(self, s: Sample) -> np.ndarray:
        return s.b

    def truth(self, s: Sample) -> np.ndarray:
        return s.a

    def score(self, out: torch.Tensor, s: Sample) -> None:
        pred = segment(self.judge, out[None])[0]                          # [H, W] train ids
        mask = torch.from_numpy(s.mask).to(pred.device)
        self.tally.add(metrics.confusion_matrix(mask, pred), s.archetype)
        self.last = pred   # [H, W] train ids of the sample just scored, for export()

    def export(self, out: torch.Tensor, s: Sample, folder: Path) -> None:
        """The judge's segmentation of the generated photo that score() just counted."""
        ids = self.last.to(torch.uint8).cpu().numpy()
        write_png(folder / f"{s.stem}{EXPORT_SUFFIX}", train_ids_to_label_ids(ids))


@PROTOCOLS.register("maps", **spec_attrs("maps"))
class Maps:
    """aerial (A) <-> map (B); truth: the other side, compared per pixel."""
    source_is_labels = False

    def __init__(self, cfg: TrialConfig, device: torch.device):
        self.tally = MapsTally()
        self.forward = cfg.direction == "AtoB"

    def source(self, s: Sample) -> np.ndarray:
        return s.a if self.forward else s.b

    def truth(self, s: Sample) -> np.ndarray:
        return s.b if self.forward else s.a

    def score(self, out: torch.Tensor, s: Sample) -> None:
        truth = torch.from_numpy(self.truth(s)).to(out.device)
        self.tally.add(metrics.maps_pixel_acc(out, truth), s.archetype)

    def export(self, out: torch.Tensor, s: Sample, folder: Path) -> None:
        write_png(folder / f"{s.stem}.png", out.cpu().numpy())


# --- resizing around the translator -------------------------------------------------------------
def model_input(image: np.ndarray, size: int, is_labels: bool, device: torch.device) -> torch.Tensor:
    """[H, W, 3] uint8 -> [3, size, size] float in [-1, 1] on device."""
    chw = torch.from_numpy(image).permute(2, 0, 1).to(device)
    if is_labels:  # keep every pixel one pure palette colour, as training does
        chw = TF.resize(chw, [size, size], InterpolationMode.NEAREST_EXACT)
    else:
        chw = TF.resize(chw, [size, size], InterpolationMode.BILINEAR, antialias=True)
    return chw.float() / 127.5 - 1


def to_original(out: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """[3, S, S] float in [-1, 1] -> [height, width, 3] uint8: bilinear resize as an image, then
    rounding to 0..255 (what saving the image would do) -- before any colour matching."""
    big = TF.resize(out[None].float(), [height, width], InterpolationMode.BILINEAR, antialias=True)
    rgb = ((big[0] + 1) * 127.5).round().clamp_(0, 255).to(torch.uint8)
    return rgb.permute(1, 2, 0).contiguous()


# --- the loop -----------------------------------------------------------------------------------
def evaluate(translate: Translate, cfg: TrialConfig, device: torch.device | str,
             samples_png: str | Path | None = None) -> dict[str, float]:
    """Translate cfg.eval_split (first cfg.eval_limit images if > 0) and score it (see module doc).

    translate: float [B, 3, S, S] in [-1, 1] -> same, S = cfg.image_size; called without grad.
    samples_png: where to write a few input / output / truth triplets (atomically), or None.
    Returns the metric columns of docs/contracts.md.
    """
    device = torch.device(device)
    kind, reader = eval_samples(cfg)
    classes = dataset_info(cfg.dataset).classes
    protocol = make_protocol(protocol_for(kind, cfg.direction, classes), cfg, device)
    n = min(cfg.eval_limit, len(reader)) if cfg.eval_limit > 0 else len(reader)
    shown: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    batch: list[Sample] = []
    export = Path(cfg.export_dir) if cfg.export_dir else None
    if export is not None:
        export.mkdir(parents=True, exist_ok=True)
    for i, sample in enumerate(decoded(reader, n)):
        batch.append(sample)
        if len(batch) == EVAL_BATCH or i == n - 1:
            _score_batch(translate, protocol, batch, cfg.image_size, device, shown, export)
            batch = []
    if samples_png is not None:
        write_samples(samples_png, shown)
    return protocol.tally.row()


def eval_samples(cfg: TrialConfig) -> tuple[str, Sequence[Sample]]:
    """(dataset kind, the samples to score): cfg.eval_split, or for "holdout" the training
    samples outside the unpaired pool, in split order (eval_limit is applied by the caller)."""
    if cfg.eval_split != HOLDOUT:
        reader = open_split(cfg.dataset, cfg.eval_split, cfg.data_root)
        return reader.kind, reader
    from trainer.selection import manifest_for   # selection pulls in the feature extractors
    reader = open_split(cfg.dataset, "train", cfg.data_root)
    pool = set(manifest_for(cfg).unpaired)
    outside = [i for i in range(len(reader)) if i not in pool]
    if not outside:
        raise EvaluationError(f"eval_split={HOLDOUT!r}: the unpaired pool (unpaired="
                              f"{cfg.unpaired}) holds all {len(reader)} training images of "
                              f"{cfg.dataset}; none is left to validate on")
    return reader.kind, Subset(reader, outside)


def main_score(protocol: str, metrics: dict[str, float]) -> float:
    """The protocol's main score (main_metric) from evaluate()'s columns."""
    return metrics[main_metric(protocol)]


def _score_batch(translate: Translate, protocol, batch: list[Sample], size: int,
                 device: torch.device, shown: list, export: Path | None = None) -> None:
    x = torch.stack([model_input(protocol.source(s), size, protocol.source_is_labels, device)
                     for s in batch])                                  # [B, 3, S, S] in [-1, 1]
    with torch.inference_mode():
        y = translate(x)
    if tuple(y.shape) != tuple(x.shape):
        raise EvaluationError(f"translate returned shape {tuple(y.shape)} for input "
                              f"{tuple(x.shape)}; it must keep the shape")
    for s, out in zip(batch, y):
        h, w = protocol.truth(s).shape[:2]
        rgb = to_original(out, h, w)                                   # [H, W, 3] uint8
        protocol.score(rgb, s)
        if export is not None:
            protocol.export(rgb, s, export)
        if len(shown) < SAMPLE_ROWS:
            shown.append((protocol.source(s), rgb.cpu().numpy(), protocol.truth(s)))


def write_samples(path: str | Path, triplets: list[tuple[np.ndarray, ...]]) -> None:
    """One PNG: a row per triplet (input | output | truth), each panel SAMPLE_HEIGHT px high,
    under a strip labelling the columns."""
    if not triplets:
        return
    h, w = triplets[0][2].shape[:2]
    size = [SAMPLE_HEIGHT, max(1, round(w * SAMPLE_HEIGHT / h))]
    panels = [TF.resize(torch.from_numpy(img).permute(2, 0, 1), size,
                        InterpolationMode.BILINEAR, antialias=True)
              for row in triplets for img in row]
    grid = make_grid(torch.stack(panels).float() / 255, nrow=3, padding=SAMPLE_PADDING,
                     pad_value=1.0)
    image = _labelled(TF.to_pil_image(grid), size[1])
    atomic_write(path, lambda tmp: image.save(tmp, format="PNG"))


def _labelled(grid, panel_w: int):
    """`grid` (a PIL image) under a SAMPLE_LABEL_HEIGHT strip naming each column."""
    from PIL import Image, ImageDraw
    out = Image.new("RGB", (grid.width, grid.height + SAMPLE_LABEL_HEIGHT), "white")
    out.paste(grid, (0, SAMPLE_LABEL_HEIGHT))
    draw = ImageDraw.Draw(out)
    for i, label in enumerate(SAMPLE_COLUMNS):
        centre = SAMPLE_PADDING + i * (panel_w + SAMPLE_PADDING) + panel_w / 2
        draw.text((centre, SAMPLE_LABEL_HEIGHT / 2 + 1), label, fill="black", anchor="mm")
    return out
