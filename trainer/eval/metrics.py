"""Segmentation and maps metrics, vectorised, on numpy arrays or torch tensors.

The protocol follows the FCN-score scripts that pix2pix and CycleGAN ship
(`scripts/eval_cityscapes`): one confusion matrix `hist[truth, pred]` summed over every image of
the split, then
    pixel accuracy       = sum(diag) / sum(hist)
    mean class accuracy  = nanmean(diag / hist.sum(1))                      (per truth class)
    mean IoU             = nanmean(diag / (hist.sum(1) + hist.sum(0) - diag))
A class absent from both truth and prediction has 0/0 = nan and is left out of the means; a class
predicted but absent from the truth has IoU 0 (counted) and class accuracy nan (left out).

Colour -> class (photos->labels): each pixel goes to the palette colour at the least squared
Euclidean distance in RGB; ties go to the lower train id (argmin's first minimum). On the CPU a
2^24-entry lookup table (built once per process) plus `np.bincount` does it in one pass; on
CUDA the same table lives on the device.
"""
from __future__ import annotations

import functools

import numpy as np
import torch

from trainer.data.palette import CLASS_NAMES, IGNORE, NUM_CLASSES, PALETTE, iou_column

MAPS_THRESHOLD = 20  # maps protocol: a pixel is right when max |channel diff| < 20 (0-255 scale)
_CODE_BINS = 1 << 16  # bincount bins for the code truth<<8 | pred (both uint8)

Array = np.ndarray | torch.Tensor


# --- colour -> class ----------------------------------------------------------------------------
@functools.lru_cache(maxsize=1)
def palette_lut() -> np.ndarray:
    """[2^24] uint8 table: entry r | g<<8 | b<<16 holds the train id of the nearest palette colour.

    Built channel-separably: for each blue value, d[g, r, k] = dg[g,k] + dr[r,k] + db[b,k], argmin
    over k (exact integer squared distances; argmin keeps the lowest id on ties).
    """
    pal = PALETTE.astype(np.int32)                                      # [19, 3]
    levels = np.arange(256, dtype=np.int32)[:, None]                    # [256, 1]
    dr, dg, db = ((levels - pal[None, :, c]) ** 2 for c in range(3))    # each [256, 19]
    gr = (dg[:, None, :] + dr[None, :, :]).reshape(1 << 16, NUM_CLASSES)  # [g*256 + r, 19]
    lut = np.empty((256, 1 << 16), dtype=np.uint8)
    for b in range(256):
        lut[b] = np.argmin(gr + db[b], axis=1)
    return lut.reshape(-1)


@functools.lru_cache(maxsize=4)
def _device_lut(device: torch.device) -> torch.Tensor:
    return torch.from_numpy(palette_lut()).to(device)


def _packed_colours(rgb: np.ndarray) -> np.ndarray:
    """[..., 3] uint8 -> [N] intp codes r | g<<8 | b<<16, without copying the image first.

    Reads 4 bytes at every 3-byte step (little-endian) and masks the 4th; the last pixel, whose
    4th byte would lie past the buffer, is packed by hand.
    """
    flat = np.ascontiguousarray(rgb, dtype=np.uint8).reshape(-1)
    n = flat.size // 3
    codes = np.empty(n, dtype=np.intp)
    if n > 1:
        words = np.ndarray((n - 1,), dtype="<u4", buffer=flat, strides=(3,))
        np.bitwise_and(words, 0xFFFFFF, out=codes[:-1], casting="unsafe")
    if n:
        r, g, b = (int(v) for v in flat[-3:])
        codes[-1] = r | g << 8 | b << 16
    return codes


def nearest_class(rgb: Array) -> Array:
    """[H, W, 3] uint8 colours -> [H, W] uint8 train id of the nearest of the 19 palette colours."""
    _check_rgb(rgb)
    if isinstance(rgb, torch.Tensor):
        x = rgb.to(torch.int32)
        codes = x[..., 0] | (x[..., 1] << 8) | (x[..., 2] << 16)
        return _device_lut(rgb.device)[codes.long()]
    out = np.empty(rgb.shape[:-1], dtype=np.uint8)
    np.take(palette_lut(), _packed_colours(rgb), out=out.reshape(-1), mode="clip")  # clip: unbuffered
    return out


# --- confusion matrices -------------------------------------------------------------------------
def confusion_matrix(truth: Array, pred: Array, num_classes: int = NUM_CLASSES) -> Array:
    """[C, C] int64 counts hist[t, p] over pixels; truth outside [0, C) (255 = ignore) is skipped.

    truth, pred: same shape, integer ids (pred in [0, C)). numpy in -> numpy out, torch -> torch
    (on the tensors' device).
    """
    if truth.shape != pred.shape:
        raise ValueError(f"truth shape {tuple(truth.shape)} != prediction shape {tuple(pred.shape)}")
    if isinstance(truth, torch.Tensor):
        t, p = truth.reshape(-1).long(), pred.reshape(-1).long()
        _check_pred_range(int(p.max()) if p.numel() else 0, num_classes)
        keep = (t >= 0) & (t < num_classes)
        counts = torch.bincount(t[keep] * num_classes + p[keep], minlength=num_classes ** 2)
        return counts.reshape(num_classes, num_classes)
    t, p = np.asarray(truth).reshape(-1), np.asarray(pred).reshape(-1)
    _check_pred_range(int(p.max()) if p.size else 0, num_classes)
    if t.dtype == np.uint8 and p.dtype == np.uint8:  # fast path: one uint16 code per pixel
        return _uint8_confusion(t, p, num_classes)
    t, p = t.astype(np.int64), p.astype(np.int64)
    keep = (t >= 0) & (t < num_classes)
    counts = np.bincount(t[keep] * num_classes + p[keep], minlength=num_classes ** 2)
    return counts.reshape(num_classes, num_classes)


def _uint8_confusion(truth: np.ndarray, pred: np.ndarray, num_classes: int) -> np.ndarray:
    """uint8 truth / pred -> hist via the uint16 code truth<<8 | pred: no masking, no int64 maths."""
    code = np.empty((truth.size, 2), dtype=np.uint8)
    code[:, 0], code[:, 1] = pred, truth                        # little-endian: pred + 256 * truth
    counts = np.bincount(code.view(np.uint16)[:, 0], minlength=_CODE_BINS)
    return counts.reshape(256, 256)[:num_classes, :num_classes].astype(np.int64)


def colour_confusion(rgb: Array, truth: Array) -> Array:
    """[H, W, 3] uint8 generated label colours + [H, W] uint8 train ids -> [19, 19] int64 hist.

    numpy / CPU tensors take the lookup-table + bincount path; CUDA tensors stay on the device.
    """
    if tuple(rgb.shape[:-1]) != tuple(truth.shape):
        raise ValueError(f"colour image {tuple(rgb.shape)} does not match truth {tuple(truth.shape)}")
    if isinstance(rgb, torch.Tensor) and rgb.device.type != "cpu":
        return confusion_matrix(truth, nearest_class(rgb))
    rgb_np = rgb.numpy() if isinstance(rgb, torch.Tensor) else rgb
    truth_np = truth.numpy() if isinstance(truth, torch.Tensor) else truth
    hist = confusion_matrix(np.asarray(truth_np, dtype=np.uint8), nearest_class(rgb_np))
    return torch.from_numpy(hist) if isinstance(rgb, torch.Tensor) else hist


# --- scores -------------------------------------------------------------------------------------
def scores(hist: Array) -> dict[str, object]:
    """[C, C] hist -> pixel_acc, mean_class_acc, mean_iou (floats) and iou ([C] float64, nan = absent).

    An empty hist (no valid pixel) gives nan everywhere.
    """
    h = hist.cpu().numpy() if isinstance(hist, torch.Tensor) else np.asarray(hist)
    h = h.astype(np.float64)
    diag, truth_n, pred_n = np.diag(h), h.sum(1), h.sum(0)
    with np.errstate(divide="ignore", invalid="ignore"):
        pixel_acc = diag.sum() / h.sum()
        class_acc = diag / truth_n                                     # nan where truth_n == 0
        iou = diag / (truth_n + pred_n - diag)                         # nan where absent from both
    return {"pixel_acc": float(pixel_acc), "mean_class_acc": _nanmean(class_acc),
            "mean_iou": _nanmean(iou), "iou": iou}


def _nanmean(values: np.ndarray) -> float:
    finite = values[~np.isnan(values)]
    return float(finite.mean()) if finite.size else float("nan")


def score_row(hist: Array, class_names: tuple[str, ...] = CLASS_NAMES) -> dict[str, float]:
    """[C, C] hist -> flat metric columns: pixel_acc, mean_class_acc, mean_iou, iou_<class>."""
    s = scores(hist)
    if len(class_names) != len(s["iou"]):
        raise ValueError(f"{len(class_names)} class names for a {len(s['iou'])}-class hist")
    row = {k: s[k] for k in ("pixel_acc", "mean_class_acc", "mean_iou")}
    row.update({iou_column(n): float(v) for n, v in zip(class_names, s["iou"])})
    return row


# --- maps ---------------------------------------------------------------------------------------
def maps_correct(pred: Array, truth: Array, threshold: int = MAPS_THRESHOLD) -> tuple[int, int]:
    """[H, W, 3] uint8 generated map and truth -> (correct pixels, all pixels).

    A pixel is correct when its largest absolute channel difference is < threshold (0-255 scale).
    """
    if tuple(pred.shape) != tuple(truth.shape) or pred.shape[-1] != 3:
        raise ValueError(f"map shapes differ or are not [H, W, 3]: {tuple(pred.shape)} vs "
                         f"{tuple(truth.shape)}")
    if isinstance(pred, torch.Tensor):
        diff = (pred.to(torch.int16) - truth.to(torch.int16)).abs().amax(dim=-1)
        return int((diff < threshold).sum()), diff.numel()
    diff = np.abs(pred.astype(np.int16) - truth.astype(np.int16)).max(axis=-1)
    return int(np.count_nonzero(diff < threshold)), diff.size


def maps_pixel_acc(pred: Array, truth: Array, threshold: int = MAPS_THRESHOLD) -> float:
    """Fraction of pixels of one image whose max |channel difference| is < threshold."""
    correct, total = maps_correct(pred, truth, threshold)
    return correct / total


def _check_pred_range(largest: int, num_classes: int) -> None:
    if largest >= num_classes:
        raise ValueError(f"prediction holds class id {largest}; ids must be < {num_classes}")


def _check_rgb(rgb: Array) -> None:
    if rgb.ndim < 1 or rgb.shape[-1] != 3:
        raise ValueError(f"expected [..., 3] colours, got shape {tuple(rgb.shape)}")
    if rgb.dtype not in (np.uint8, torch.uint8):
        raise ValueError(f"expected uint8 colours, got {rgb.dtype}")


__all__ = ["IGNORE", "MAPS_THRESHOLD", "palette_lut", "nearest_class", "confusion_matrix",
           "colour_confusion", "scores", "score_row", "iou_column", "maps_correct",
           "maps_pixel_acc"]
