"""The paper's step replayed from CUDA graphs: no Python kernel launches in the fused networks.
Opt-in (`cuda_graphs=True`, `--cuda-graphs`; trainer.step.build): never yet run on a GPU, so the
eager step stays the default until `make gpu-check` has measured both (it says which should be
the default).

Python launching ~3,200 kernels per step kept the GPU mostly idle; a graph launches them all at
once. The step is two graphs, because each member's image pool (a CPU coin flip per fake) sits
between the G/F update and the D_Y/D_X update:

  copy the members' batches and the device paired mask into static buffers   (no host sync)
  graph 1: G/F forward, every member's terms, backward, capturable fused Adam
  lr schedule (fills the device lr in place); pools draw into a static buffer (eager, outside)
  graph 2: D_Y/D_X forward, backward, capturable fused Adam

The first WARMUP steps run eagerly on a side stream (they are real steps: Adam's state exists
before capture), then both graphs are captured once. Self-check: the first replay of each graph
is compared with an eager run of the same update on the same state (the state is restored in
between); on a mismatch beyond SELF_CHECK_RTOL, or on any error in capture or replay, the step
warns once and stays eager from then on. The paired terms are always computed (weighted by the
[K] mask), so the graph never changes. With `capture=False` (the CPU) the same static-buffer step
runs eagerly: that is what the tests compare with the plain step.
"""
from __future__ import annotations

import contextlib
import warnings

import torch

from trainer.step.paper import PaperStep, Tensor

WARMUP = 3               # eager steps before capture (cuDNN autotuning, Adam's lazy state)
SELF_CHECK_RTOL = 1e-3   # |graph - eager| <= rtol * max(1, |eager|), per tensor; unmeasured:
                         # replay runs the captured kernels, so only reduction order may differ


class GraphFallback(RuntimeError):
    """The graphed step disagreed with the eager one (or failed); the message says where."""


class GraphedPaperStep(PaperStep):
    def __init__(self, *args, capture: bool | None = None, **kwargs):
        device = args[1][0].device
        self.capture = device.type == "cuda" if capture is None else capture
        self.capturable = self.capture
        super().__init__(*args, **kwargs)
        self.calls = 0
        self.static: dict[str, Tensor] | None = None
        self.graphs: tuple[torch.cuda.CUDAGraph, torch.cuda.CUDAGraph] | None = None
        self.outputs: tuple | None = None
        self.checked = False          # the first replay was compared with an eager step
        self.fallback: str | None = None   # why the step went eager, when it did

    @property
    def graphed(self) -> bool:
        return self.graphs is not None

    def __call__(self, x: Tensor, y: Tensor, paired: list[bool],
                 mask: Tensor | None = None) -> dict[str, Tensor]:
        s = self._static(x)
        s["x"].copy_(x)
        s["y"].copy_(y)
        s["mask"].copy_(self.device_mask(paired, mask))   # device to device: no host sync
        if self.capture and self.graphs is None and self.fallback is None \
                and self.calls >= WARMUP:
            self._guarded(self._capture)
        terms = self._part(0)
        self.sched_gen.step()
        if self.rules.adversarial:
            s["pooled_y"].copy_(self.pooled(terms.pop("_fake_y"), "pool_y"))
            s["pooled_x"].copy_(self.pooled(terms.pop("_fake_x"), "pool_x"))
            terms |= self._part(1)
            self.sched_disc.step()
        self.checked = self.checked or self.graphs is not None
        self.count_step()
        self.calls += 1
        return {name: value.clone() for name, value in terms.items() if name[0] != "_"}

    def _static(self, x: Tensor) -> dict[str, Tensor]:
        if self.static is None:
            fmt = self.memory_format
            self.static = {"x": torch.empty_like(x, memory_format=fmt),
                           "y": torch.empty_like(x, memory_format=fmt),
                           "mask": torch.zeros(self.k, dtype=torch.bool, device=self.device),
                           "pooled_y": torch.empty_like(x, memory_format=fmt),
                           "pooled_x": torch.empty_like(x, memory_format=fmt)}
        return self.static

    def _eager(self, part: int) -> dict[str, Tensor]:
        s = self.static
        with self._warmup_stream():
            if part == 0:
                terms, fake_y, fake_x = self.generator_update(s["x"], s["y"], s["mask"], True)
                return {**terms, "_fake_y": fake_y, "_fake_x": fake_x}
            return self.discriminator_update(s["x"], s["y"], s["pooled_y"], s["pooled_x"])

    def _replay(self, part: int) -> dict[str, Tensor]:
        self.graphs[part].replay()
        if part == 0:
            terms, fake_y, fake_x = self.outputs[0]
            return {**terms, "_fake_y": fake_y, "_fake_x": fake_x}
        return dict(self.outputs[1])

    def _part(self, part: int) -> dict[str, Tensor]:
        """Update `part` (0: G/F, 1: D_Y/D_X): replayed, self-checked on its first replay."""
        if self.graphs is None:
            return self._eager(part)
        if self.checked:
            return self._replay(part)
        checked = self._guarded(lambda: self._self_check(part))
        return checked if checked is not None else self._eager(part)

    def _self_check(self, part: int) -> dict[str, Tensor]:
        """Replay, keep the result, restore the state, run eagerly, compare; returns the eager
        result (the state is the eager step's either way; a mismatch switches graphs off)."""
        tensors = self._state_tensors(part)
        before = [t.clone() for t in tensors]
        try:
            replayed = {n: v.clone() for n, v in self._replay(part).items()}
            after_graph = [t.clone() for t in tensors]
        finally:   # (a replay that fails leaves the state as it was)
            with torch.no_grad():
                for t, b in zip(tensors, before):
                    t.copy_(b)
        eager = self._eager(part)
        pairs = [(f"term {n}", replayed[n], v) for n, v in eager.items()]
        pairs += [(f"state tensor {i}", g, t) for i, (g, t) in enumerate(zip(after_graph, tensors))]
        for name, got, want in pairs:
            scale = max(1.0, want.detach().abs().max().item())
            diff = (got.float() - want.float()).abs().max().item()
            if not diff <= SELF_CHECK_RTOL * scale:   # (also catches nan)
                self._fall_back(GraphFallback(
                    f"graph {part} {name} differs from the eager step by {diff:.3g}"))
                break
        return eager

    def _state_tensors(self, part: int) -> list[Tensor]:
        """What update `part` changes: its networks' parameters and its Adam's state."""
        opt = self.opt_gen if part == 0 else self.opt_disc
        tensors = [p for group in opt.param_groups for p in group["params"]]
        tensors += [v for entry in opt.state.values() for v in entry.values()
                    if isinstance(v, torch.Tensor)]
        return tensors

    def _guarded(self, fn):
        """fn(); on an error: graphs off (one warning), None."""
        try:
            return fn()
        except Exception as err:   # a capture or replay error: eager is always correct
            self._fall_back(err)
            return None

    def _fall_back(self, err: Exception) -> None:
        """Eager from now on, said once."""
        self.graphs, self.outputs, self.capture = None, None, False
        self.fallback = f"{type(err).__name__}: {err}"
        warnings.warn(f"CUDA graphs off, the paper step runs eagerly: {self.fallback}",
                      RuntimeWarning, stacklevel=4)

    @contextlib.contextmanager
    def _warmup_stream(self):
        """Eager steps before capture run on a side stream (CUDA's whole-network recipe)."""
        if not self.capturable or self.device.type != "cuda":
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
