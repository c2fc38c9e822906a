"""One trial: `train(cfg, workdir, report=None) -> TrialResult` (its CLI: trainer.cli).

    python -m trainer.train --dataset toy-streets --mode hybrid --paired-budget 5 --unpaired 100 \\
        --selection kmedoids --seed 0 --steps 300 --image-size 32 --workdir DIR [--json]

The way through: selection manifest (which training samples are unpaired / paired) -> the
trial's image banks on the device (trainer.feed) -> the step plan (trainer.schedule) -> the step
over an explicit state (trainer.engine) -> evaluation (trainer.evaluate). `workdir/checkpoint/`
holds the latest checkpoint; when it exists training resumes from it exactly. report(metrics,
checkpoint_dir) is called every cfg.report_every steps, at every checkpoint (with its folder),
when training ends, and once more with the evaluation metrics. With cfg.eval_every > 0 a
validation pass (evaluate() on cfg.eval_split) runs every cfg.eval_every steps and when training
ends (that last pass is the final evaluation); its protocol's main score is `val_score` in that
step's report and in the final metrics, for a scheduler that stops weak trials early. The passes
touch no training state, so eval_every is not part of the trial's key. Never imports Ray.
"""
from __future__ import annotations

import dataclasses
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch
from tqdm import tqdm

from trainer.config import VAL_SCORE, TrialConfig
from trainer.data import dataset_info
from trainer.device import resolve_device
from trainer.engine import (LossWatch, NonFiniteLoss, StepRules, TrainState, build_state, has_checkpoint,
                            load_checkpoint, save_checkpoint, train_step, translator)
from trainer.feed import Feed, build_feed
from trainer.schedule import StepPlan, default_steps

CHECKPOINT_DIR = "checkpoint"     # under workdir; the contract's resume folder
SAMPLES_PNG = "samples.png"       # under workdir; a few input / output / truth rows
WATCH_EVERY = 25                  # steps between loss flushes (one GPU sync each; NaN check)

Report = Callable[[dict, "str | None"], None]


class TrainError(ValueError):
    """A trial that cannot run as asked (no such device, someone else's checkpoint); one line."""


@dataclass
class TrialResult:
    metrics: dict[str, float]            # evaluate()'s columns
    protocol: str                        # segmentation | fcn-score | maps
    train_s: float                       # seconds in the training loop (all sessions)
    steps_done: int
    steps_per_s: float
    eval_s: float
    device: str                          # "cpu" or the CUDA device's name
    paired_indices: list[int] = field(default_factory=list)    # training-split indices
    unpaired_indices: list[int] = field(default_factory=list)  # the pool; [] in mode paired
    samples_png: str | None = None

    def to_row(self) -> dict[str, object]:
        return {**self.metrics, "protocol": self.protocol, "train_s": self.train_s,
                "steps_done": self.steps_done, "steps_per_s": self.steps_per_s,
                "eval_s": self.eval_s, "device": self.device,
                "paired_indices": list(self.paired_indices),
                "unpaired_indices": list(self.unpaired_indices), "samples_png": self.samples_png}


@dataclass
class Trial:
    """Everything a trial's loop touches, built from its config (see `prepare`)."""
    cfg: TrialConfig
    device: torch.device
    paired: list[int]          # training-split indices with pairs
    unpaired: list[int]        # training-split indices of the unpaired pool ([] in mode paired)
    feed: Feed
    plan: StepPlan
    state: TrainState
    rules: StepRules
    protocol: str = ""                   # evaluate.protocol_for(kind, direction)
    last_eval: "Evaluation | None" = None   # the latest validation pass of this session


@dataclass
class Evaluation:
    """One evaluate() pass: after which step, its metric columns, and its seconds."""
    step: int
    metrics: dict[str, float]
    seconds: float


# ---------------------------------------------------------------------------------------------

def device_name(device: torch.device) -> str:
    return torch.cuda.get_device_name(device) if device.type == "cuda" else device.type


def selected_indices(cfg: TrialConfig) -> tuple[list[int], list[int]]:
    """(paired, unpaired) training indices from the selection manifest; paired mode: no pool."""
    from trainer.selection import manifest_for   # selection pulls in feature extractors
    manifest = manifest_for(cfg)
    paired = [int(i) for i in manifest.paired]
    unpaired = [] if cfg.mode == "paired" else [int(i) for i in manifest.unpaired]
    return paired, unpaired


def make_plan(cfg: TrialConfig, feed: Feed) -> StepPlan:
    """The trial's step order; cfg.steps == 0 means schedule.default_steps of its epoch."""
    plan = StepPlan(cfg.mode, cfg.mix, cfg.balance, feed.n_pairs, feed.n_pool, feed.n_y,
                    cfg.seed, total=cfg.steps)
    return plan if cfg.steps else dataclasses.replace(plan, total=default_steps(plan.epoch_length))


def check_learnable(cfg: TrialConfig) -> None:
    """Some weighted term must exist in the mode, or the generators get no gradient at all."""
    weights = [cfg.lambda_adv]
    weights += [cfg.lambda_cycle, cfg.lambda_identity] if cfg.mode != "paired" else []
    weights += [cfg.lambda_paired] if cfg.mode != "unpaired" else []
    if not any(weights):
        raise TrainError(f"mode={cfg.mode!r} with every lambda of its terms at 0 trains nothing")


def prepare(cfg: TrialConfig, workdir: str | Path) -> Trial:
    """Select, decode, plan and build (or resume) the state of one trial."""
    check_learnable(cfg)
    device = resolve_device(cfg.device)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True   # fixed shapes: pick the fastest conv kernels
    paired, unpaired = selected_indices(cfg)
    feed = build_feed(cfg, paired, unpaired, device)
    plan = make_plan(cfg, feed)
    state = build_state(cfg, device, plan.total, plan.epoch_length)
    state.extra.update(key=cfg.key(), train_s=0.0)
    folder = Path(workdir) / CHECKPOINT_DIR
    if has_checkpoint(folder):
        written_by = load_checkpoint(state, folder).extra.get("key")
        if written_by != cfg.key():
            raise TrainError(f"{folder} holds a checkpoint of trial {written_by}, not of this "
                             f"trial {cfg.key()}; use another workdir")
    return Trial(cfg, device, paired, unpaired, feed, plan, state,
                 StepRules.from_config(cfg, device))


# ---------------------------------------------------------------------------------------------

def run_steps(trial: Trial, until: int, watch: LossWatch) -> None:
    """Train until state.step == `until` (steps done), recording every step's terms."""
    state, feed, plan, rules = trial.state, trial.feed, trial.plan, trial.rules
    while state.step < until:
        slot = plan.slot(state.step)
        x, y = feed.batch(slot, state.rng)
        watch.record(state.step + 1, train_step(state, x, y, slot.paired, rules))


def next_stop(step: int, total: int, cfg: TrialConfig) -> int:
    """The next step at which to flush losses, report or checkpoint."""
    stops = [total, (step // WATCH_EVERY + 1) * WATCH_EVERY]
    for every in (cfg.report_every, cfg.checkpoint_every, cfg.eval_every):
        if every:
            stops.append((step // every + 1) * every)
    return min(stops)


def train_loop(trial: Trial, workdir: Path, report: Report | None, progress: bool) -> None:
    """Steps to plan.total with loss checks, reports and checkpoints at their intervals."""
    cfg, state, total = trial.cfg, trial.state, trial.plan.total
    watch = LossWatch()
    bar = tqdm(total=total, initial=state.step, disable=not progress, unit="step",
               dynamic_ncols=True)
    while state.step < total:
        started, first = time.perf_counter(), state.step
        run_steps(trial, next_stop(state.step, total, cfg), watch)
        losses = watch.flush()                      # syncs; raises NonFiniteLoss with the step
        state.extra["train_s"] += time.perf_counter() - started
        bar.update(state.step - first)
        bar.set_postfix({k: f"{v:.3g}" for k, v in losses.items() if k != "g_total"}, refresh=False)
        _events(trial, workdir, report, losses)
    bar.close()


def _events(trial: Trial, workdir: Path, report: Report | None, losses: dict) -> None:
    cfg, step, total = trial.cfg, trial.state.step, trial.plan.total
    checkpoint = step == total or (cfg.checkpoint_every and step % cfg.checkpoint_every == 0)
    folder = str(save_checkpoint(trial.state, workdir / CHECKPOINT_DIR)) if checkpoint else None
    validate = cfg.eval_every and (step == total or step % cfg.eval_every == 0)
    score = {VAL_SCORE: _validate(trial, workdir).metrics[VAL_SCORE]} if validate else {}
    if report and (checkpoint or validate or (cfg.report_every and step % cfg.report_every == 0)):
        report({**losses, **_timing(trial), **score}, folder)


def _validate(trial: Trial, workdir: Path) -> Evaluation:
    """evaluate() the current generators (the last pass, at the final step, writes the samples
    PNG and is the trial's final evaluation); remembered in trial.last_eval."""
    from trainer.evaluate import evaluate, main_score
    started, step = time.perf_counter(), trial.state.step
    samples = workdir / SAMPLES_PNG if step == trial.plan.total else None
    metrics = evaluate(translator(trial.state, trial.rules, trial.cfg.direction), trial.cfg,
                       trial.device, samples_png=samples)
    if trial.cfg.eval_every:
        metrics[VAL_SCORE] = main_score(trial.protocol, metrics)
    trial.last_eval = Evaluation(step, metrics, time.perf_counter() - started)
    return trial.last_eval


def _timing(trial: Trial) -> dict[str, float]:
    train_s = trial.state.extra["train_s"]
    return {"step": trial.state.step, "train_s": train_s,
            "steps_per_s": trial.state.step / train_s if train_s > 0 else 0.0}


def train(cfg: TrialConfig, workdir: str | Path, report: Report | None = None, *,
          progress: bool = False) -> TrialResult:
    """Train one trial in `workdir` (resuming from workdir/checkpoint/), evaluate it."""
    from trainer.evaluate import eval_samples, protocol_for   # judge and metrics load lazily
    protocol = protocol_for(dataset_info(cfg.dataset).kind, cfg.direction)  # fail before training
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    trial = prepare(cfg, workdir)
    trial.protocol = protocol
    eval_samples(cfg)   # a missing eval split or an empty holdout fails before training too
    train_loop(trial, workdir, report, progress)
    final = trial.last_eval   # the validation pass at the last step, when eval_every asked for it
    if final is None or final.step != trial.plan.total:
        final = _validate(trial, workdir)
    samples = workdir / SAMPLES_PNG
    timing = _timing(trial)
    result = TrialResult(final.metrics, protocol, timing["train_s"], trial.state.step,
                         timing["steps_per_s"], final.seconds, device_name(trial.device),
                         trial.paired, trial.unpaired, str(samples) if samples.is_file() else None)
    if report:
        report({**final.metrics, **timing, "eval_s": result.eval_s}, None)
    return result


if __name__ == "__main__":   # the CLI lives in trainer.cli; `python -m trainer.train` still runs it
    from trainer.cli import main; sys.exit(main())
