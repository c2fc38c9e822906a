"""Which Step computes a set of members: the paper's (fused, any K; CUDA graphs by default on
CUDA), the released step or pix2pix's (K = 1 each)."""
from __future__ import annotations

from trainer.step.base import Step
from trainer.step.d_first import Pix2PixStep, ReleasedStep
from trainer.step.graph import GraphedPaperStep
from trainer.step.paper import PaperStep
from trainer.step.state import StepRules, TrainState


def fused_step_computes(rules: StepRules) -> bool:
    """The paper's step on the ResNet generator and PatchGAN: the one that fuses members."""
    return not (rules.released or rules.conditional)


def make_step(states: list[TrainState], rules: list[StepRules], *,
              graphs: bool | None = None) -> Step:
    """The Step of these members (all computed by the same variant). graphs: replay CUDA graphs
    (None: on CUDA; True on the CPU runs the same static-buffer step eagerly)."""
    first = rules[0]
    if first.released:
        return ReleasedStep(states, rules)
    if first.conditional:
        return Pix2PixStep(states, rules)
    if graphs is None:
        graphs = first.device.type == "cuda"
    return GraphedPaperStep(states, rules) if graphs else PaperStep(states, rules)
