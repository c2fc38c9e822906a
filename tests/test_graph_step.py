"""The CUDA-graph step's self-check and fallback (trainer.step.graph), on the CPU: a stand-in
for the captured graphs replays the same update (a faithful graph) or the update plus a wrong
nudge (a broken graph). The first replay is compared with an eager step on the same state: a
faithful graph stays on; a broken one is switched off with one warning, and either way the
state is the eager step's, equal to the plain step's (the same operations in the same order)."""
from __future__ import annotations

import warnings

import pytest
import torch

from trainer.core.config import TrialConfig
from trainer.step.build import make_step
from trainer.step.graph import WARMUP, GraphedPaperStep
from trainer.step.paper import PaperStep
from trainer.step.state import StepRules, build_state

CPU = torch.device("cpu")
TINY = dict(image_size=32, load_size=32, ngf=8, ndf=8, n_blocks=2, image_pool=2)

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


def members(k: int = 2):
    cfgs = [TrialConfig(**TINY, seed=s) for s in range(k)]
    states = [build_state(c, CPU, 10) for c in cfgs]
    for state in states:
        for net in (state.g, state.f, state.d_y, state.d_x):
            net.double()
    return states, [StepRules.from_config(c, CPU) for c in cfgs]


def images(step: int, k: int = 2):
    gen = torch.Generator().manual_seed(700 + step)
    return tuple(torch.rand(1, 3 * k, 32, 32, generator=gen, dtype=torch.float64) * 2 - 1
                 for _ in range(2))


class StandInGraph:
    """Replays update `part` of `step` eagerly into the outputs a captured graph would fill;
    `broken`: then moves the first parameter, as a graph that computed something else would."""

    def __init__(self, step: GraphedPaperStep, part: int, broken: bool):
        self.step, self.part, self.broken = step, part, broken

    def replay(self) -> None:
        fresh = self.step._eager(self.part)
        out = self.step.outputs[self.part]
        terms = out[0] if self.part == 0 else out
        for name, value in terms.items():
            value.copy_(fresh[name])
        if self.part == 0:
            out[1].copy_(fresh["_fake_y"])
            out[2].copy_(fresh["_fake_x"])
        if self.broken:
            with torch.no_grad():
                next(self.step.nets["g"].parameters()).view(-1)[0] += 1e-3


def install_stand_ins(step: GraphedPaperStep, broken: bool) -> None:
    s = step.static
    step.outputs = (step.generator_update(s["x"], s["y"], s["mask"], True),
                    step.discriminator_update(s["x"], s["y"], s["pooled_y"], s["pooled_x"]))
    step.graphs = (StandInGraph(step, 0, broken), StandInGraph(step, 1, broken))


def run(step, steps: int, broken: bool | None) -> list[str]:
    """`steps` steps; stand-in graphs installed after the warm-up (None: never). Warnings."""
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        for s in range(steps):
            if broken is not None and s == WARMUP:
                snapshot = [p.clone() for p in step._state_tensors(0) + step._state_tensors(1)]
                install_stand_ins(step, broken)   # (it ran both updates: put the state back)
                with torch.no_grad():
                    for t, b in zip(step._state_tensors(0) + step._state_tensors(1), snapshot):
                        t.copy_(b)
            step(*images(s), [s % 2 == 0, False])
    return [str(w.message) for w in seen]


@pytest.mark.parametrize("broken", [False, True])
def test_the_first_replay_is_checked_against_an_eager_step(broken):
    plain = PaperStep(*members())
    run(plain, WARMUP + 3, None)
    graphed = GraphedPaperStep(*members(), capture=False)
    warned = run(graphed, WARMUP + 3, broken)
    if broken:
        assert len(warned) == 1 and warned[0].startswith(
            "CUDA graphs off, the paper step runs eagerly: GraphFallback: graph 0")
        assert not graphed.graphed and graphed.fallback
    else:
        assert warned == [] and graphed.graphed and graphed.checked
    for p, q in zip(plain._params("g", "f", "d_y", "d_x"),
                    graphed._params("g", "f", "d_y", "d_x")):
        assert torch.equal(p, q)


def test_the_default_path_replays_no_graphs_and_the_flag_asks_for_them_on_cuda():
    """CUDA graphs are opt-in (cuda_graphs / --cuda-graphs) until make gpu-check measures them:
    the default step is the plain eager one, on the CPU and (its rules say) on CUDA."""
    cuda = torch.device("cuda")   # only named here: nothing runs on it
    default, flagged = TrialConfig(**TINY), TrialConfig(**TINY, cuda_graphs=True)
    assert not default.cuda_graphs and not StepRules.from_config(default, cuda).cuda_graphs
    assert StepRules.from_config(flagged, cuda).cuda_graphs
    assert not StepRules.from_config(flagged, CPU).cuda_graphs   # the CPU: no effect
    assert flagged.key() == default.key()   # how a trial runs, not what it computes
    states, rules = members(1)
    assert type(make_step(states, rules)) is PaperStep
    assert type(make_step(states, [StepRules.from_config(flagged, CPU)])) is PaperStep


def test_the_flag_travels_from_the_trainer_cli_and_run_grids_set():
    from sweeps.plan.custom import customise, parse_sets
    from trainer.run.cli import build_parser, config_from_args
    parse = build_parser().parse_args
    assert config_from_args(parse(["--workdir", "w", "--cuda-graphs"])).cuda_graphs is True
    assert config_from_args(parse(["--workdir", "w"])).cuda_graphs is False
    (cfg,) = customise([TrialConfig(**TINY)], parse_sets(["cuda_graphs=true"]), None, None)
    assert cfg.cuda_graphs is True


@pytest.mark.gpu
def test_on_cuda_the_trainer_replays_graphs_only_when_asked(tmp_path, small_streets):
    from trainer.run.loop import PackRun
    from trainer.run.trial import TrialRun
    base = dict(TINY, data_root=small_streets, paired_budget=1, unpaired=8, steps=WARMUP + 3,
                eval_limit=2, device="cuda")
    for graphs in (False, True):
        run = PackRun([TrialRun(TrialConfig(**base, cuda_graphs=graphs), tmp_path / str(graphs))])
        while not run.done:
            run.advance()
        assert type(run.step) is (GraphedPaperStep if graphs else PaperStep)
        assert run.step.graphed is graphs and getattr(run.step, "fallback", None) is None
