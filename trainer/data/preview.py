"""Preview CLI: a grid of photos and labels, one row per archetype (or one row for real sets).

    python -m trainer.data.preview --dataset toy-streets --out preview.png
    python -m trainer.data.preview --dataset cityscapes --root /data/cityscapes --split val --out p.png
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt  # noqa: E402

from trainer.core.atomic import atomic_write  # noqa: E402

from . import DataError, open_split  # noqa: E402  (the package registers every dataset)


def pick(archetypes: list[str | None], per_row: int) -> dict[str, list[int]]:
    """Up to per_row sample indices per archetype, most frequent archetype first."""
    rows: dict[str, list[int]] = {}
    for i, name in enumerate(archetypes):
        picked = rows.setdefault(name or "all", [])
        if len(picked) < per_row:
            picked.append(i)
    count = {name: archetypes.count(None if name == "all" else name) for name in rows}
    return dict(sorted(rows.items(), key=lambda item: -count[item[0]]))


def draw(reader, per_row: int, out: Path) -> None:
    """Save the grid: each sample as photo (A) then labels / map (B), or B alone for label-only
    sets; write to a temporary name, then rename."""
    rows = pick(reader.archetypes, per_row)
    sides = 1 if reader.kind == "labels-only" else 2
    cols = sides * per_row
    fig, axes = plt.subplots(len(rows), cols, figsize=(1.6 * cols, 0.9 * len(rows) + 0.4),
                             squeeze=False)
    for r, (name, idx) in enumerate(rows.items()):
        for c, ax in enumerate(axes[r]):
            ax.axis("off")
            if c // sides < len(idx):
                s = reader[idx[c // sides]]
                image = s.a if sides == 2 and c % 2 == 0 else s.b
                ax.imshow(image, interpolation="nearest")
        axes[r][0].set_title(f"{name} ({reader.archetypes.count(name if name != 'all' else None)})",
                             fontsize=7, loc="left")
    what = "B (labels)" if sides == 1 else "A | B"
    fig.suptitle(f"{reader.dataset} / {reader.split}: {what} per sample; rows by archetype (count)",
                 fontsize=8)
    fig.tight_layout()
    atomic_write(out, lambda tmp: fig.savefig(tmp, dpi=110, format=out.suffix.lstrip(".") or "png"))
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="toy-streets", help="registry name")
    parser.add_argument("--root", default=None, help="dataset folder (toy sets: the cache)")
    parser.add_argument("--split", default="train")
    parser.add_argument("--direction", default="AtoB", help="pix2pix: which half of AB is A")
    parser.add_argument("--per-row", type=int, default=3, help="samples per archetype row")
    parser.add_argument("--out", type=Path, default=Path("preview.png"))
    args = parser.parse_args(argv)
    try:
        reader = open_split(args.dataset, args.split, args.root, args.direction)
        draw(reader, args.per_row, args.out)
    except DataError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"wrote {args.out} ({len(reader)} samples in {reader.dataset}/{reader.split})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
