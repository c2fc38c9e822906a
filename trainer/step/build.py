"""Which Step computes a set of members: the paper's (fused, any K; replayed from CUDA graphs
when asked: cfg.cuda_graphs), the released step or pix2pix's (K = 1 each). Which trials may
share one Step is trainer.core.packing's rule."""
from __future__ import annotations

from trainer.step.base import Step
from trainer.step.d_first import Pix2PixStep, ReleasedStep
from trainer.step.graph import GraphedPaperStep
from trainer.step.paper import PaperStep
from trainer.step.state import StepRules, TrainState


def make_step(states: list[TrainState], rules: list[StepRules], *,
              graphs: bool | None = None) -> Step:
    """The Step of these members (all computed by the same variant). graphs: the paper step
    replayed from CUDA graphs (None: as the rules say, i.e. cfg.cuda_graphs on CUDA; True on
    the CPU runs the same static-buffer step eagerly, which the tests compare with the plain
    one)."""
    first = rules[0]
    if first.released:
        return ReleasedStep(states, rules)
    if first.conditional:
        return Pix2PixStep(states, rules)
    if graphs is None:
        graphs = first.cuda_graphs
    return GraphedPaperStep(states, rules) if graphs else PaperStep(states, rules)
