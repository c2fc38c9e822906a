"""A pack's step replayed from CUDA graphs: no Python kernel launches in the fused networks.

Python launching ~3,200 kernels per step kept the GPU mostly idle; a graph launches them all at
once. The step is two graphs, because each member's image pool (a CPU coin flip per fake) sits
between the G/F update and the D_Y/D_X update:

  copy the members' batches and the paired mask into static buffers   (eager, outside)
  graph 1: G/F forward, every member's terms, backward, capturable fused Adam
  lr schedule (fills the device lr in place); pools draw into a static buffer (eager, outside)
  graph 2: D_Y/D_X forward, backward, capturable fused Adam

The first WARMUP steps run eagerly on a side stream (they are real steps: Adam's state exists
before capture), then both graphs are captured once and replayed for every later step. The
paired terms are always computed (weighted by the [K] mask), so the graph never changes.
With `capture=False` (the CPU) the same static-buffer step runs eagerly: that is what the
tests compare with the plain pack step.
"""
from __future__ import annotations

import contextlib

import torch

from trainer.pack_step import PackStep, Tensor

WARMUP = 3   # eager steps before capture (cuDNN autotuning, Adam's lazily created state)


class GraphedPackStep(PackStep):
    def __init__(self, *args, capture: bool | None = None, **kwargs):
        device = args[1][0].device
        self.capture = device.type == "cuda" if capture is None else capture
        self.capturable = self.capture
        super().__init__(*args, **kwargs)
        self.calls = 0
        self.static: dict[str, Tensor] | None = None
        self.graphs: tuple[torch.cuda.CUDAGraph, torch.cuda.CUDAGraph] | None = None
        self.outputs: tuple | None = None

    def __call__(self, x: Tensor, y: Tensor, paired: list[bool]) -> dict[str, Tensor]:
        if self.static is None:
            fmt = self.memory_format
            self.static = {"x": torch.empty_like(x, memory_format=fmt),
                           "y": torch.empty_like(y, memory_format=fmt),
                           "mask": torch.zeros(self.k, dtype=torch.bool, device=self.device),
                           "pooled_y": torch.empty_like(x, memory_format=fmt),
                           "pooled_x": torch.empty_like(x, memory_format=fmt)}
        s = self.static
        s["x"].copy_(x)
        s["y"].copy_(y)
        s["mask"].copy_(torch.tensor(paired))
        if self.capture and self.graphs is None and self.calls >= WARMUP:
            self._capture()
        terms = self._generator_part()
        self.sched_gen.step()
        if self.rules.adversarial:
            s["pooled_y"].copy_(self.pooled(terms.pop("_fake_y"), "pool_y"))
            s["pooled_x"].copy_(self.pooled(terms.pop("_fake_x"), "pool_x"))
            terms |= self._discriminator_part()
            self.sched_disc.step()
        self.count_step()
        self.calls += 1
        return {name: value.clone() for name, value in terms.items() if name[0] != "_"}

    def _generator_part(self) -> dict[str, Tensor]:
        if self.graphs is not None:
            self.graphs[0].replay()
            terms, fake_y, fake_x = self.outputs[0]
        else:
            with self._warmup_stream():
                s = self.static
                terms, fake_y, fake_x = self.generator_update(s["x"], s["y"], s["mask"], True)
        return {**terms, "_fake_y": fake_y, "_fake_x": fake_x}

    def _discriminator_part(self) -> dict[str, Tensor]:
        if self.graphs is not None:
            self.graphs[1].replay()
            return dict(self.outputs[1])
        with self._warmup_stream():
            s = self.static
            return self.discriminator_update(s["x"], s["y"], s["pooled_y"], s["pooled_x"])

    @contextlib.contextmanager
    def _warmup_stream(self):
        """Eager steps before capture run on a side stream (CUDA's whole-network recipe)."""
        if not self.capture:
            yield
            return
        side = torch.cuda.Stream(self.device)
        side.wait_stream(torch.cuda.current_stream(self.device))
        with torch.cuda.stream(side):
            yield
        torch.cuda.current_stream(self.device).wait_stream(side)

    def _capture(self) -> None:
        """Record both updates on the static buffers (recording runs nothing)."""
        s = self.static
        torch.cuda.synchronize(self.device)
        gen, disc = torch.cuda.CUDAGraph(), torch.cuda.CUDAGraph()
        with torch.cuda.graph(gen):
            out_gen = self.generator_update(s["x"], s["y"], s["mask"], True)
        out_disc = {}
        if self.rules.adversarial:
            with torch.cuda.graph(disc):
                out_disc = self.discriminator_update(s["x"], s["y"], s["pooled_y"],
                                                     s["pooled_x"])
        self.graphs, self.outputs = (gen, disc), (out_gen, out_disc)
