"""Planning without Ray or torch: --pack auto (the default) sized from every trial of the grid,
the GPU share a probed pack asks for, the dry run's packs and its cost lines (unpacked and
packed from the same measured rates), and a dry run that imports neither torch nor Ray."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from sweeps import run_grid
from sweeps.plan import costs, grids, packs
from sweeps.plan.sweep import SweepPlan
from trainer.core.config import TrialConfig
from trainer.run.schedule import total_steps

ROOT = Path(__file__).resolve().parents[1]
TINY = dict(image_size=32, load_size=36, ngf=8, ndf=8, n_blocks=2, steps=1500, unpaired=40,
            paired_budget=5)
RATES = """device,image_size,ngf,n_blocks,precision,pack,trial_steps_per_s,gb_per_trial,source
cpu,32,8,2,fp32,1,10.0,,test
cpu,32,8,2,fp32,4,20.0,,test
cpu,32,8,2,fp32,8,24.0,,test
cpu,64,16,3,fp32,1,2.0,,test
cpu,64,16,3,fp32,4,2.1,,test
gpu,256,64,9,fp32,1,20.0,,test
gpu,256,64,9,fp32,8,40.0,,test
"""


@pytest.fixture
def rates(tmp_path, monkeypatch):
    """A rates table of known numbers in place of sweeps/plan/measured_rates.csv."""
    path = tmp_path / "rates.csv"
    path.write_text(RATES)
    monkeypatch.setattr(packs, "RATES", path)
    return packs.read_rates()


def plan_of(cfgs: list[TrialConfig]) -> SweepPlan:
    return SweepPlan("t", "/nowhere", cfgs, list(cfgs), ["seed"])


def test_auto_sizes_every_size_group_of_the_plan_by_its_own_rates(rates):
    """16 trials at 32² and 8 at 64² on 2 cores. 32² (in units of one trial's steps): alone
    8 waves / 10 = .8, packs of 4: 2 waves x 4 / 20 = .4, of 8: 1 wave x 8 / 24 = .33 -> 8.
    64²: alone 4 / 2 = 2.0, packs of 4: 1 wave x 4 / 2.1 = 1.9 -> 4. Sizing by the first
    config alone would pack the 64² trials in 8s."""
    small = [TrialConfig(seed=s, **TINY) for s in range(16)]
    big = [c.replace(image_size=64, load_size=72, ngf=16, ndf=16, n_blocks=3) for c in small[:8]]
    plan = plan_of(small[:4] + big + small[4:])
    packed = packs.with_packs(plan, "auto", 0.0, slots=2)
    sizes = {c.key(): packs.sizes_of(c) for c in plan.cfgs}
    by_group = {}
    for p in packed.packs:
        assert len({sizes[k] for k in p.keys}) == 1          # a pack holds one size
        by_group.setdefault(sizes[p.keys[0]], []).append(len(p.keys))
    assert by_group == {(32, 8, 2): [8, 8], (64, 16, 3): [4, 4]}
    assert sorted(k for p in packed.packs for k in p.keys) == sorted(sizes)
    assert plan.packs is None and packed is not plan          # a new plan; the old one unchanged
    assert "8 at 32x32 ngf 8 2 blocks" in packed.pack_note and "4 at 64x64" in packed.pack_note


def test_auto_leaves_trials_alone_where_packs_were_not_measured_faster(rates):
    """8 trials on 2 cores: alone 4 waves / 10 = .4, packs of 4: 1 wave x 4 / 20 = .2 ->
    packed. 3 trials: alone 2 waves / 10 = .2; one pack holds 3, at the rate measured for a
    pack of 3 or fewer (1: 10/s): 3 / 10 = .3 -> alone; on 4 cores alone is 1 wave.
    Unmeasured sizes: no packs."""
    three = [TrialConfig(seed=s, **TINY) for s in range(3)]
    assert packs.cpu_pack_size((32, 8, 2), 8, 2) == 4
    assert packs.cpu_pack_size((32, 8, 2), 3, 2) == 1
    alone = packs.with_packs(plan_of(three), "auto", 0.0, slots=2)
    assert alone.packs is None and alone.pack_note.endswith("no packs")
    assert packs.cpu_pack_size((128, 8, 2), 30, 2) == 1
    assert packs.with_packs(plan_of(three), 1, 0.0).packs is None   # --pack 1: each alone


def test_auto_tries_unmeasured_sizes_and_cuts_packs_to_fill_every_core(rates):
    """9 trials on 2 cores: packs of 8 leave 8 + 1 (8 / 24 = .33 on one core), of 4 leave
    4 + 4 + 1 (.2 + 1 / 10 = .3); packs of 5 (5 + 4, one each core, at the rate of 4: 5 / 20
    = .25) are soonest, though 5 was never measured. The dry run's packed estimate follows."""
    nine = [TrialConfig(seed=s, **TINY) for s in range(9)]
    assert packs.cpu_pack_size((32, 8, 2), 9, 2) == 5
    packed = packs.with_packs(plan_of(nine), "auto", 0.0, slots=2)
    assert sorted(len(p.keys) for p in packed.packs) == [4, 5]
    steps = total_steps(nine[0])
    assert costs.packed_cost(packed, 0.0).longest_cpu_hours == pytest.approx(
        5 * steps / 20.0 / 3600)


def test_a_probed_pack_asks_for_the_gpu_share_its_memory_justifies(rates):
    """1 GB of the process's own + 10 GB a member on a 140 GB card keeps 14 GB free: 12
    members fit, capped at the largest pack measured on a GPU (8). Two packs that each fill
    most of a card never share one."""
    probe = packs.MemoryProbe(fixed_gb=1.0, member_gb=10.0, card_gb=140.0)
    assert packs.gpu_pack_size(probe, cap=16) == 12 and packs.largest_measured_pack("gpu") == 8
    assert packs.gpu_share(probe, 12) == 1.0                  # 121 GB: one per card
    assert packs.gpu_share(packs.MemoryProbe(0.0, 63.0, 140.0), 2) == 1.0   # 2 x 90 %: no
    assert packs.gpu_share(packs.MemoryProbe(0.0, 63.0, 140.0), 1) == 0.5   # 45 %: two fit
    assert packs.gpu_share(probe, 2) == pytest.approx(1 / 6)  # 21 GB: six fit 126 GB
    cfgs = [TrialConfig(seed=s, steps=100) for s in range(20)]
    packed = packs.with_packs(plan_of(cfgs), "auto", 0.25, {(256, 64, 9): probe})
    assert [len(p.keys) for p in packed.packs] == [8, 8, 4] and packed.pack_gpus == 1.0
    resources = packs.pack_resources({"cpu": 1.0, "gpu": 0.25}, packed)
    assert resources == {"cpu": 1.0, "gpu": packed.pack_gpus}


def test_pack_auto_is_the_default_and_the_dry_run_shows_the_packs(tmp_path, capsys):
    assert run_grid.build_parser().parse_args([]).pack == "auto"
    assert run_grid.main(["--dry-run", "--storage", str(tmp_path)]) == 0   # the demo
    out = capsys.readouterr().out
    demo = grids.expand(grids.get_grid("demo"))
    lines = [line for line in out.splitlines() if line.split()[:1] in ([c.key()] for c in demo)]
    assert len(lines) == len(demo) and all("pack-" in line for line in lines)
    assert "packs: " in out and "--pack auto" in out and "estimate, packed:" in out
    assert run_grid.main(["--dry-run", "--storage", str(tmp_path), "--pack", "1"]) == 0
    out = capsys.readouterr().out
    assert "pack-" not in out and "estimate, packed" not in out


def test_dry_run_costs_agree_packed_and_unpacked(rates):
    """A 40-trial 32² grid is CPU-sized: CPU-hours, from the CPU rows, for both lines; a paper
    size grid costs GPU-hours at the GPU rows. Packed never above unpacked."""
    cfgs = [TrialConfig(seed=s, **TINY) for s in range(40)]
    plan = packs.with_packs(plan_of(cfgs), "auto", 0.25, slots=5)   # 0.25: GPUs asked for
    unpacked, packed = costs.unpacked_cost(plan, 0.25), costs.packed_cost(plan, 0.25)
    assert unpacked.gpu_hours == packed.gpu_hours == 0
    assert unpacked.cpu_hours == pytest.approx(40 * 1500 / 10.0 / 3600)
    assert packed.cpu_hours == pytest.approx(40 * 1500 / 24.0 / 3600)   # five packs of 8
    lines = costs.cost_lines(plan, 0.25, cores=5)
    assert lines[0].startswith(f"estimate, unpacked: {unpacked.cpu_hours:,.2f} CPU-hours")
    assert lines[1].startswith(f"estimate, packed:   {packed.cpu_hours:,.2f} CPU-hours")
    assert "GPU-hours" not in "".join(lines)
    paper = [TrialConfig(seed=s, steps=7200) for s in range(16)]
    plan = packs.with_packs(plan_of(paper), 8, 1.0)
    alone, fused = costs.unpacked_cost(plan, 1.0), costs.packed_cost(plan, 1.0)
    assert alone.cpu_hours == fused.cpu_hours == 0
    assert alone.gpu_hours == pytest.approx(16 * 7200 / 20.0 / 3600)
    assert fused.gpu_hours == pytest.approx(16 * 7200 / 40.0 / 3600)
    assert total_steps(paper[0]) == 7200


def test_a_dry_run_a_config_and_analysis_schema_import_neither_torch_nor_ray(tmp_path):
    code = ("import sys; from sweeps import run_grid; "
            f"assert run_grid.main(['--dry-run', '--storage', {str(tmp_path)!r}]) == 0; "
            "from trainer.core.config import TrialConfig; TrialConfig(arch='pix2pix', "
            "mode='paired', image_size=32, load_size=32); import analysis.schema; "
            "print(sorted({m.split('.')[0] for m in sys.modules} & "
            "{'torch', 'torchvision', 'ray', 'optuna'}))")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines()[-1] == "[]"


@pytest.mark.gpu
def test_the_memory_probe_measures_a_real_member_on_the_gpu(small_streets):
    """The probe trains the smoke grid's hungriest member through train_pack as packs of one
    and two: a member takes memory, both packs fit the card, and they size a pack >= 1."""
    from sweeps.tune.probe import hungriest, probe_member_memory
    smoke = grids.expand(grids.get_grid("smoke"), data_root=small_streets)
    member = hungriest(smoke)
    assert member is not None and member.unpaired == max(c.unpaired for c in smoke)
    probe = packs.MemoryProbe(*probe_member_memory(member.to_row()))
    assert 0 < probe.member_gb and probe.fixed_gb + 2 * probe.member_gb < probe.card_gb
    assert packs.gpu_pack_size(probe, cap=8) >= 1 and 0 < packs.gpu_share(probe, 1) <= 1
