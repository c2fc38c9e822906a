"""Augmented pairs/s: the ImageBank (decoded once, crop + flip on tensors) against a per-sample
PIL path (decode, resize 286, crop 256, flip -- what pix2pix / CycleGAN loaders do), both measured
in this run on the same files: the toy-streets files (256x128) and the same scenes upsampled to
Cityscapes' 2048x1024. Also times generating the default toy-streets set.
The two paths are measured in alternating rounds and each reports its best round, so load from
other processes on a shared machine skews the ratio as little as possible.

    python bench/data_pipeline.py [--device cuda] [--pairs 100] [--rounds 5] [--batch 1 16]
                                  [--threads 1] [--full-res 12]
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import torch
from PIL import Image
from torchvision.transforms import functional as TF

LOAD, CROP = 286, 256       # the paper's load and crop sizes, pixels
FULL_RES = (2048, 1024)     # Cityscapes' (W, H)


def generate_seconds() -> tuple[float, float]:
    """Generate default toy-streets into the (fresh) cache; (wall, CPU) seconds. Generation is
    single-threaded, so CPU seconds are its time on one idle core, whatever else is running."""
    from trainer.data import toy_root
    wall, cpu = time.perf_counter(), time.process_time()
    toy_root("toy-streets")
    return time.perf_counter() - wall, time.process_time() - cpu


def write_full_res(reader, out: Path, n: int) -> Path:
    """The first n pairs of `reader` upsampled to 2048x1024, written in the Cityscapes layout."""
    from trainer.data.cityscapes import COLOR_SUFFIX, label_path, photo_path
    from trainer.data.palette import train_ids_to_label_ids
    for i in range(n):
        s, stem = reader[i], reader.stems[i]
        for path in (photo_path(out, "train", stem), label_path(out, "train", stem)):
            path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(s.a).resize(FULL_RES, Image.BILINEAR).save(photo_path(out, "train", stem))
        for array, suffix in ((train_ids_to_label_ids(s.mask), None), (s.b, COLOR_SUFFIX)):
            path = label_path(out, "train", stem, *([suffix] if suffix else []))
            Image.fromarray(array).resize(FULL_RES, Image.NEAREST).save(path)
    return out


def pil_pair(photo: Path, label: Path, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """One augmented pair the per-sample way: float [3, 256, 256] in [-1, 1] each."""
    a = Image.open(photo).convert("RGB").resize((LOAD, LOAD), Image.BICUBIC)
    b = Image.open(label).convert("RGB").resize((LOAD, LOAD), Image.NEAREST)
    y, x = torch.randint(LOAD - CROP + 1, (2,), generator=gen).tolist()
    a, b = a.crop((x, y, x + CROP, y + CROP)), b.crop((x, y, x + CROP, y + CROP))
    if torch.rand(1, generator=gen).item() < 0.5:
        a, b = a.transpose(Image.FLIP_LEFT_RIGHT), b.transpose(Image.FLIP_LEFT_RIGHT)
    return (TF.to_tensor(a) * 2 - 1), (TF.to_tensor(b) * 2 - 1)


def pil_rate(files: list, pairs: int, gen: torch.Generator) -> float:
    start = time.perf_counter()
    for i in range(pairs):
        pil_pair(*files[i % len(files)], gen)
    return pairs / (time.perf_counter() - start)


def bank_rate(bank, pairs: int, batch: int, gen: torch.Generator) -> float:
    steps = max(1, pairs // batch)
    sync = torch.cuda.synchronize if bank.device.type == "cuda" else (lambda: None)
    sync()
    start = time.perf_counter()
    for _ in range(steps):
        bank.paired(bank.draw(batch, gen), CROP, gen)
    sync()
    return steps * batch / (time.perf_counter() - start)


def compare(reader, args, what: str, pil_pairs: int) -> None:
    """Build the bank, then alternate rounds of both paths; print the best rates and ratios."""
    from trainer.data import ImageBank
    from trainer.data.cityscapes import COLOR_SUFFIX, label_path, photo_path
    device = torch.device(args.device)
    start = time.perf_counter()
    bank = ImageBank.from_reader(reader, LOAD, device)
    print(f"\n[{what}] ImageBank: {len(bank)} pairs decoded and resized to {LOAD} once in "
          f"{time.perf_counter() - start:.2f} s on {device}")
    files = [(photo_path(reader.root, "train", s), label_path(reader.root, "train", s, COLOR_SUFFIX))
             for s in reader.stems]
    cpu_gen, gen = torch.Generator().manual_seed(0), torch.Generator(device=device).manual_seed(0)
    bank_rate(bank, 16, 16, gen)  # warm-up (CUDA context, allocator)
    best = {"pil": 0.0, **{b: 0.0 for b in args.batch}}
    for _ in range(args.rounds):
        best["pil"] = max(best["pil"], pil_rate(files, pil_pairs, cpu_gen))
        for batch in args.batch:
            best[batch] = max(best[batch], bank_rate(bank, args.pairs * max(1, batch), batch, gen))
    print(f"[{what}] per-sample PIL path (decode, resize {LOAD}, crop {CROP}, flip): "
          f"{best['pil']:8.1f} pairs/s")
    for batch in args.batch:
        print(f"[{what}] ImageBank.paired on {device}, batch {batch:3d}: {best[batch]:8.1f} pairs/s"
              f" = {best[batch] / best['pil']:6.1f}x the PIL path (target >= 20x)")


def run(args: argparse.Namespace, scratch: Path) -> None:
    wall, cpu = generate_seconds()
    print(f"toy-streets default (300 train + 100 val at 256x128) generated in {cpu:.1f} CPU s, "
          f"{wall:.1f} s wall (target < 30 s on one core); torch threads: {torch.get_num_threads()}")
    from trainer.data import open_split
    reader = open_split("toy-streets", "train")
    compare(reader, args, "toy 256x128 files", args.pairs)
    if args.full_res:
        root = write_full_res(reader, scratch / "cityscapes", args.full_res)
        compare(open_split("cityscapes", "train", root), args, "2048x1024 files", 2 * args.full_res)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--pairs", type=int, default=100, help="PIL pairs per round (bank: x batch)")
    parser.add_argument("--rounds", type=int, default=5, help="alternating rounds; best one counts")
    parser.add_argument("--batch", type=int, nargs="+", default=[1, 16])
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (PIL uses one)")
    parser.add_argument("--full-res", type=int, default=12, help="pairs at 2048x1024; 0 = skip")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory(prefix="fewpair-bench-") as scratch:
        os.environ["FEWPAIR_CACHE"] = scratch  # a fresh cache: generation is measured, then deleted
        run(args, Path(scratch))


if __name__ == "__main__":
    main()
