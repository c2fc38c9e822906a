"""One trial as a member of a run: `prepare` (selection manifest -> image banks on the device
(trainer.run.feed) -> step plan (trainer.run.schedule) -> a TrainState, fresh or resumed), and
`TrialRun`, what happens at the trial's stops (checkpoint, validation, report) and its final
evaluation. The loop that steps K of them together is trainer.run.loop; the CLI trainer.run.cli.

`workdir/checkpoint/` holds the latest checkpoint; when it exists training resumes from it.
report(metrics, checkpoint_dir) is called every cfg.report_every steps, at every checkpoint
(with its folder), when training ends, and once more with the evaluation metrics. With
cfg.eval_every > 0 a validation pass (evaluate() on cfg.eval_split) runs every cfg.eval_every
steps and when training ends (that last pass is the final evaluation); its protocol's main score
is `val_score` in that step's report and in the final metrics, for a scheduler that stops weak
trials early. With cfg.curve_every > 0 the trial draws its own learning curve (trainer.eval.curve:
holdout and val scores every curve_every steps and at the end, kept in the checkpoint, returned
in TrialResult.curve). The passes touch no training state, so neither is part of the trial's key.
Never imports Ray.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch

from trainer.core.config import VAL_SCORE, TrialConfig
from trainer.data import dataset_info
from trainer.eval.curve import CURVE, add_point, check_curve, curve_columns, holdout_config
from trainer.core.device import resolve_device
from trainer.run.checks import check_trial
from trainer.run.feed import Feed, build_feed
from trainer.run.schedule import StepPlan, checkpoint_interval, step_plan
from trainer.step.checkpoint import (has_checkpoint, load_checkpoint, state_payload,
                                     write_checkpoint)
from trainer.step.state import StepRules, TrainState, build_state, translator

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
    curve: dict | None = None            # trainer.eval.curve's points; None: curve_every 0

    def to_row(self) -> dict[str, object]:
        return {**self.metrics, "protocol": self.protocol, "train_s": self.train_s,
                "steps_done": self.steps_done, "steps_per_s": self.steps_per_s,
                "eval_s": self.eval_s, "device": self.device,
                "paired_indices": list(self.paired_indices),
                "unpaired_indices": list(self.unpaired_indices), "samples_png": self.samples_png,
                **curve_columns(self.curve)}


@dataclass
class TrialSetup:
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
    last_eval: "ValPass | None" = None   # the latest validation pass of this session


@dataclass
class ValPass:
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


def set_determinism(deterministic: bool, device: torch.device) -> None:
    """What is exact where (docs/contracts.md): the CPU repeats a trial bit for bit for the same
    key, pack, threads and machine either way. On CUDA, by default cudnn.benchmark picks the
    fastest conv kernels per shape (autotuned: a rerun or a resume may pick others and round
    differently); `deterministic` turns that off and asks for deterministic algorithms
    (warn_only: an op without a deterministic CUDA kernel warns instead of failing; unmeasured
    on a GPU so far). Process-wide settings: each trial sets them for itself."""
    if deterministic and device.type == "cuda":   # cuBLAS needs it before its first handle
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.use_deterministic_algorithms(deterministic, warn_only=True)
    torch.backends.cudnn.benchmark = device.type == "cuda" and not deterministic
    torch.backends.cudnn.deterministic = deterministic


def prepare(cfg: TrialConfig, workdir: str | Path) -> TrialSetup:
    """Check (the plan's and the CLI's one check), select, decode, plan and build (or
    resume) the state of one trial."""
    check_trial(cfg)
    device = resolve_device(cfg.device)
    set_determinism(cfg.deterministic, device)
    paired, unpaired = selected_indices(cfg)
    feed = build_feed(cfg, paired, unpaired, device)
    plan = step_plan(cfg, feed.n_pairs, feed.n_pool, feed.n_y)
    state = build_state(cfg, device, plan.total, plan.epoch_length)
    state.extra.update(key=cfg.key(), train_s=0.0)
    folder = Path(workdir) / CHECKPOINT_DIR
    if has_checkpoint(folder):
        written_by = load_checkpoint(state, folder).extra.get("key")
        if written_by != cfg.key():
            raise TrainError(f"{folder} holds a checkpoint of trial {written_by}, not of this "
                             f"trial {cfg.key()}; use another workdir")
    return TrialSetup(cfg, device, paired, unpaired, feed, plan, state,
                      StepRules.from_config(cfg, device))


# ---------------------------------------------------------------------------------------------

def due(every: int, step: int, total: int) -> bool:
    """The one every-N rule: an every-N event falls on multiples of N and on the last step."""
    return step == total or (every > 0 and step % every == 0)


def next_due(every: int, step: int, total: int) -> int:
    """The first step after `step` at which `due(every, ., total)` holds."""
    return min(total, (step // every + 1) * every) if every > 0 else total


class TrialRun:
    """One trial of a run (trainer.run.loop): its state, its stops (`next_stop`), what it does
    at them (`checkpoint_if_due`, `validate_and_report`) and `finish()`, the final evaluation
    into a TrialResult. The loop's Step writes its checkpoint payload (`payload`)."""

    def __init__(self, cfg: TrialConfig, workdir: str | Path, report: Report | None = None):
        from trainer.eval.evaluate import eval_samples, protocol_for   # judge, metrics load lazily
        info = dataset_info(cfg.dataset)
        protocol = protocol_for(info.kind, cfg.direction, info.classes)   # fail early
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.trial = prepare(cfg, self.workdir)
        self.trial.protocol = protocol
        self.cfg, self.report = cfg, report
        # a missing eval split or an empty holdout fails before training too
        self.holdout = self._curve_holdout(len(eval_samples(cfg)[1]))
        self.payload: Callable[[], dict] = lambda: state_payload(self.state)  # the loop's Step

    def _curve_holdout(self, n_eval: int) -> TrialConfig | None:
        """The config scoring the curve's holdout points (None: no curve), checked now."""
        cfg = self.cfg
        if not cfg.curve_every:
            return None
        check_curve(cfg, self.total)
        return holdout_config(cfg, min(cfg.eval_limit, n_eval) if cfg.eval_limit else n_eval)

    @property
    def state(self) -> TrainState:
        return self.trial.state

    @property
    def total(self) -> int:
        return self.trial.plan.total

    @property
    def checkpoint_every(self) -> int:
        """cfg.checkpoint_every, at most half the trial (schedule.checkpoint_interval)."""
        return checkpoint_interval(self.cfg.checkpoint_every, self.total)

    @property
    def done(self) -> bool:
        return self.state.step >= self.total

    def next_stop(self) -> int:
        """The next step at which to flush losses, report, validate or checkpoint."""
        cfg, step, total = self.cfg, self.state.step, self.total
        return min(next_due(every, step, total) for every in
                   (WATCH_EVERY, cfg.report_every, self.checkpoint_every, cfg.eval_every,
                    cfg.curve_every))

    def checkpoint_if_due(self) -> str | None:
        """Save the state when a checkpoint is due; its folder, else None."""
        due_now = due(self.checkpoint_every, self.state.step, self.total)
        return str(self.save()) if due_now else None

    def save_and_report(self) -> None:
        """A checkpoint now, reported with the step and `interrupted` (a stop on a signal: Tune
        gets it, and the driver's Ctrl-C waits for it)."""
        folder = str(self.save())
        if self.report:
            self.report({**self.timing(), "interrupted": 1}, folder)

    def validate_and_report(self, losses: dict[str, float], folder: str | None) -> None:
        """The validation pass and the report when due (`folder`: a checkpoint just saved)."""
        cfg, step, total = self.cfg, self.state.step, self.total
        validate = cfg.eval_every > 0 and due(cfg.eval_every, step, total)
        score = {VAL_SCORE: self.val_pass().metrics[VAL_SCORE]} if validate else {}
        if self.report and (folder or validate or due(cfg.report_every, step, total)):
            self.report({**losses, **self.timing(), **score}, folder)

    def record_curve_if_due(self) -> None:
        """A learning-curve point when one is due: the val pass (the step's validation, or at
        the last step the final evaluation) and a holdout pass, added to state.extra -- before
        the step's checkpoint, so the checkpoint carries it."""
        from trainer.eval.evaluate import evaluate
        cfg, trial, step = self.cfg, self.trial, self.state.step
        if not cfg.curve_every or not due(cfg.curve_every, step, self.total):
            return
        val = self.val_pass()
        holdout = evaluate(translator(trial.state, trial.rules, cfg.direction), self.holdout,
                           trial.device)
        extra = self.state.extra
        extra[CURVE] = add_point(extra.get(CURVE), step, trial.protocol, holdout, val.metrics)

    def val_pass(self) -> ValPass:
        """This step's validation pass: the one already run at this step, else a new one."""
        last = self.trial.last_eval
        return last if last is not None and last.step == self.state.step else self.validate()

    def save(self) -> Path:
        return write_checkpoint(self.payload(), self.workdir / CHECKPOINT_DIR)

    def validate(self) -> ValPass:
        """evaluate() the current generators (the pass at the final step writes the samples PNG
        and is the trial's final evaluation); remembered in trial.last_eval."""
        from trainer.eval.evaluate import evaluate, main_score
        trial, started = self.trial, time.perf_counter()
        samples = self.workdir / SAMPLES_PNG if self.done else None
        metrics = evaluate(translator(trial.state, trial.rules, self.cfg.direction), self.cfg,
                           trial.device, samples_png=samples)
        if self.cfg.eval_every:
            metrics[VAL_SCORE] = main_score(trial.protocol, metrics)
        trial.last_eval = ValPass(self.state.step, metrics, time.perf_counter() - started)
        return trial.last_eval

    def timing(self) -> dict[str, float]:
        train_s, step = self.state.extra["train_s"], self.state.step
        return {"step": step, "train_s": train_s,
                "steps_per_s": step / train_s if train_s > 0 else 0.0}

    def finish(self) -> TrialResult:
        """The final evaluation (reusing the last validation pass when it ran at the end)."""
        trial, final = self.trial, self.val_pass()
        samples, timing = self.workdir / SAMPLES_PNG, self.timing()
        result = TrialResult(final.metrics, trial.protocol, timing["train_s"], self.state.step,
                             timing["steps_per_s"], final.seconds, device_name(trial.device),
                             trial.paired, trial.unpaired,
                             str(samples) if samples.is_file() else None,
                             self.state.extra.get(CURVE))
        if self.report:
            self.report({**final.metrics, **timing, "eval_s": result.eval_s}, None)
        return result
