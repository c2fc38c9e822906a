"""Validation score against training steps for a grid's trial shapes: the measurement each
grid's step count is chosen from (docs/learning-curve.md).

    python bench/learning_curve.py --grid demo --steps 3000 --every 250 --seeds 3 --jobs 2

For each shape (an arm of the grid: e.g. the demo's paired-only on 40 pairs, hybrid with 5
k-medoids pairs, unpaired-only) and seed, one trial of the grid's own sizes trains for --steps
steps with a validation pass every --every steps on the grid's evaluation images; each pass's
pixel accuracy and mean IoU and the trial's training seconds so far are kept.
Writes bench/results/learning-curve-<grid>.csv and docs/learning-curve-<grid>.png (mean and
range over seeds per shape). Trials run in --jobs processes of one torch thread each.

Read part way, not trials of each length: every point is a pass inside ONE --steps-step run, and
the lr rule (trainer/step/lr.py) holds the rate constant for the first half of a trial's steps,
then decays it linearly to 0. So in a 2,000-step run the "1,000" point still has the full rate
(a 1,000-step trial has decayed from step 500 to 0 by then) and every point before the end was
taken at a higher rate than a complete schedule of that length ends on. Use it to see where a
shape is still rising; to compare lengths, train complete schedules (`--set steps=N` per length;
`curve_every` then gives each of those trials its own curve, trainer/eval/curve.py).
"""
from __future__ import annotations

import argparse
import csv
import multiprocessing
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# shape label -> the grid fields that pick its trials (the first seeds of each are trained)
SHAPES = {
    "demo": {"paired-only, 40 pairs": {"mode": "paired"},
             "hybrid, 5 k-medoids pairs": {"mode": "hybrid", "paired_budget": 5,
                                           "selection": "kmedoids"},
             "unpaired-only": {"mode": "unpaired"}},
    "science": {"paired-only, 1 k-medoids pair": {"mode": "paired", "paired_budget": 1,
                                                  "selection": "kmedoids"},
                "paired-only, 5 k-medoids pairs": {"mode": "paired", "paired_budget": 5,
                                                   "selection": "kmedoids"},
                "hybrid, 5 k-medoids pairs": {"mode": "hybrid", "paired_budget": 5,
                                              "selection": "kmedoids", "balance": True},
                "unpaired-only": {"mode": "unpaired"}},
}


def shape_configs(grid_name: str, steps: int, every: int, seeds: int) -> list[tuple[str, object]]:
    from sweeps.plan.grids import expand, get_grid
    cfgs = expand(get_grid(grid_name))
    out = []
    for label, fields in SHAPES[grid_name].items():
        chosen = [c for c in cfgs if all(getattr(c, k) == v for k, v in fields.items())]
        chosen = sorted(chosen, key=lambda c: c.seed)[:seeds]
        if len(chosen) < seeds:
            raise SystemExit(f"error: grid {grid_name} has {len(chosen)} trials of {label!r}")
        out += [(label, c.replace(steps=steps, eval_every=every, report_every=every,
                                  checkpoint_every=0, device="cpu")) for c in chosen]
    return out


def curve(job: tuple[str, object]) -> list[dict]:
    """One trial's validation passes: rows of (shape, seed, step, pixel_acc, mean_iou, train_s)."""
    import torch
    from trainer.run.loop import PackRun
    from trainer.run.trial import TrialRun
    torch.set_num_threads(1)
    label, cfg = job
    points = []
    with tempfile.TemporaryDirectory() as workdir:
        trial = TrialRun(cfg, workdir)
        run = PackRun([trial])   # a run of one member: the trainer's own loop
        while not run.done:
            run.advance()
            last = trial.trial.last_eval   # the eval_every pass, when one ran at this stop
            if last is not None and last.step == trial.state.step and (
                    not points or points[-1]["step"] != last.step):
                points.append({"shape": label, "seed": cfg.seed, "step": last.step,
                               "pixel_acc": last.metrics["pixel_acc"],
                               "mean_iou": last.metrics["mean_iou"],
                               "train_s": trial.timing()["train_s"]})
    print(f"{label}, seed {cfg.seed}: " + ", ".join(f"{p['step']}: {p['pixel_acc']:.3f}"
                                                     for p in points), flush=True)
    return points


def plot(rows: list[dict], path: Path, title: str) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import pandas as pd
    frame = pd.DataFrame(rows)
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    for ax, metric in zip(axes, ("pixel_acc", "mean_iou")):
        for label, group in frame.groupby("shape", sort=False):
            stats = group.groupby("step")[metric].agg(["mean", "min", "max"])
            ax.plot(stats.index, stats["mean"], marker="o", ms=3, label=label)
            ax.fill_between(stats.index, stats["min"], stats["max"], alpha=0.2)
        ax.set(xlabel="training steps", ylabel=f"val {metric.replace('_', ' ')}")
        ax.grid(alpha=0.3)
    axes[0].legend(loc="lower right", fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--grid", choices=sorted(SHAPES), default="demo")
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--every", type=int, default=250, help="steps between validation passes")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--jobs", type=int, default=2, help="processes (one torch thread each)")
    args = parser.parse_args()
    jobs = shape_configs(args.grid, args.steps, args.every, args.seeds)
    with multiprocessing.get_context("spawn").Pool(args.jobs) as pool:
        rows = [row for points in pool.imap(curve, jobs) for row in points]
    out = ROOT / "bench" / "results" / f"learning-curve-{args.grid}.csv"
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    png = ROOT / "docs" / f"learning-curve-{args.grid}.png"
    plot(rows, png, f"{args.grid} grid's trial shapes: val score vs steps "
                    f"({args.seeds} seeds, mean and range)")
    print(f"wrote {out.relative_to(ROOT)} and {png.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
