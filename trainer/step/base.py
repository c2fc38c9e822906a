"""The Step interface every variant implements (trainer.step.paper, trainer.step.d_first).

A Step owns K members' TrainStates for the run (K = 1 for a trial alone) and advances all of
them by one step per call:

    terms = step(x, y, paired, mask)   # x, y: [1, K*3, S, S], member k at channels 3k..3k+3
                                       # paired: K bools (host; the step plan's slot kinds)
                                       # mask: the same as a [K] bool tensor on the device
                                       # terms: {name: [K]} detached, no host sync
    step.payload(k)                    # member k's checkpoint payload, a trial alone's format
    step.retire(k)                     # member k's loss went non-finite: freeze it, train on
"""
from __future__ import annotations

import torch

from trainer.step.checkpoint import state_payload
from trainer.step.state import StepRules, TrainState

Tensor = torch.Tensor


class Step:
    """Base of the variants: the members, their rules and the host/device paired flags."""

    graphed = False   # whether the step replays CUDA graphs (trainer.step.graph)

    def __init__(self, states: list[TrainState], rules: list[StepRules]):
        self.states, self.rules, self.k = list(states), rules[0], len(states)
        self.device = self.rules.device

    def __call__(self, x: Tensor, y: Tensor, paired: list[bool],
                 mask: Tensor | None = None) -> dict[str, Tensor]:
        raise NotImplementedError

    def device_mask(self, paired: list[bool], mask: Tensor | None) -> Tensor:
        """The [K] paired mask on the device: the loop's (precomputed per stretch), else made
        here (tests calling a step directly on the CPU)."""
        return mask if mask is not None else torch.tensor(paired, device=self.device)

    def payload(self, k: int) -> dict:
        """Member k's checkpoint payload (trainer.step.checkpoint)."""
        return state_payload(self.states[k])

    def retire(self, k: int) -> None:
        """Member k failed; a K = 1 step has nothing left to train."""

    def count_step(self) -> None:
        for state in self.states:
            state.step += 1


def requires_grad(nets, flag: bool) -> None:
    """Switch the weight gradients of `nets` (D's while G's loss is built, and back)."""
    for net in nets:
        for p in net.parameters():
            p.requires_grad_(flag)
