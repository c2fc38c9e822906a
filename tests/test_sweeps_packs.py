"""Packed sweeps on the session's real local Ray with the real trainer: the smoke grid as one
pack of three writes the unpacked sweep's trial keys, each an `ok` row with pack_size 3; a member
whose loss goes non-finite gets its own `failed` row while the others finish, and the retried
pack trains only that member, resumed from its checkpoint through Tune."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from ray import cloudpickle

from stock_readers import every_order, stock_reads
from sweeps import run_grid
from sweeps.plan import grids, packs, sweep as sweep_plan
from sweeps.store import results
from sweeps.tune.grid_sweep import plan_status, run_sweep
from trainer.run.schedule import total_steps

cloudpickle.register_pickle_by_value(sys.modules[__name__])   # PoisonAfterFirstStop: in trials

SMOKE = grids.expand(grids.get_grid("smoke"))   # 2 hybrid + 1 unpaired-only: one pack of 3


@pytest.fixture(scope="session")
def smoke_data(fewpair_cache) -> str:
    """toy-streets' small variant (40 train / 16 val images): the smoke grid's data."""
    from trainer.data import toy_root
    return str(toy_root("toy-streets", "small"))


@pytest.mark.slow
def test_a_packed_smoke_sweep_writes_the_same_trial_keys_each_ok_in_a_pack_of_three(
        ray_session, smoke_data, tmp_path, capsys):
    argv = ["--grid", "smoke", "--data-root", smoke_data, "--storage", str(tmp_path),
            "--pack", "3", "--gpus-per-trial", "0"]
    assert run_grid.main(argv) == 0
    assert "in packs (--pack 3)" in capsys.readouterr().out
    rows = results.read_rows(str(tmp_path), "smoke").set_index("trial_key")
    assert sorted(rows.index) == sorted(c.key() for c in SMOKE)
    assert set(rows["status"]) == {"ok"} and set(rows["pack_size"]) == {3}
    assert rows["pack_id"].nunique() == 1 and rows["pack_id"].iloc[0].startswith("pack-")
    for cfg in SMOKE:
        row = rows.loc[cfg.key()]
        assert (row["mode"], row["selection"], row["steps_done"]) == (cfg.mode, cfg.selection, 4)
        assert len(row["paired_indices"]) == cfg.paired_budget and 0 <= row["pixel_acc"] <= 1
        assert Path(row["samples_png"]).is_file()
    for grid in every_order(tmp_path / "smoke", tmp_path / "orders"):   # as README shows
        frame, table = stock_reads(grid)   # an unpaired-only row (no pairs) beside hybrid ones
        assert sorted(frame.index) == sorted(table.index) == sorted(rows.index)
        for cfg in SMOKE:
            assert list(frame.loc[cfg.key(), "paired_indices"]) == \
                list(rows.loc[cfg.key(), "paired_indices"])
    assert run_grid.main(argv) == 0
    assert "all 3 trials have rows; nothing to train" in capsys.readouterr().out


class PoisonAfterFirstStop:
    """trainer.run.loop.train_pack's loop, but on attempt 1 the member `poisoned` gets an infinite
    λ_cycle once the pack's first stop (a checkpoint at step 2) reached Tune: its g_total is inf
    from step 3. Each attempt notes its members, the step each resumes from, and the poisoned
    member's row as the attempt starts. With `crash`, attempt 1 raises instead (a lost process,
    say) once that first checkpoint reached Tune."""

    def __init__(self, marks: Path, poisoned: str, row: str, crash: bool = False):
        self.marks, self.poisoned, self.row, self.crash = marks, poisoned, row, crash

    def __call__(self, cfgs, workdirs, reports, on_stop):
        from trainer.run.loop import PackRun
        from trainer.run.trial import TrialRun
        attempt = len(list(self.marks.glob("attempt-*"))) + 1
        members = [TrialRun(c, w, r) for c, w, r in zip(cfgs, workdirs, reports)]
        row = results.read_row(self.row, ("status", "error")) if Path(self.row).is_file() else {}
        note = {"starts": {m.cfg.key(): m.state.step for m in members}, "row": row}
        (self.marks / f"attempt-{attempt}").write_text(json.dumps(note))
        run = PackRun(members)
        while not run.done:
            run.advance()
            on_stop()
            if attempt == 1 and self.crash:   # not deterministic: Tune retries the pack
                raise RuntimeError("injected crash of the pack's process")
            if attempt == 1:
                for k, member in enumerate(members):
                    if member.cfg.key() == self.poisoned:
                        run.step.weights["cycle"][k] = float("inf")
        return run.finish()


def packed_smoke(smoke_data: str, tmp_path: Path):
    """(marks folder, parsed args, plan) of the smoke grid in packs of 3, one retry."""
    marks = tmp_path / "marks"
    marks.mkdir()
    args = run_grid.build_parser().parse_args(
        ["--grid", "smoke", "--data-root", smoke_data, "--storage", str(tmp_path / "res"),
         "--pack", "3", "--gpus-per-trial", "0", "--max-failures", "1"])
    return marks, args, packs.with_packs(sweep_plan.plan_sweep(args), 3, 0.0)


@pytest.mark.slow
def test_a_failed_member_fails_alone_and_a_rerun_trains_only_it(ray_session, smoke_data, tmp_path):
    marks, args, plan = packed_smoke(smoke_data, tmp_path)
    poisoned, *healthy = [c.key() for c in SMOKE]
    row = results.row_path(plan.results, "smoke", SMOKE[0])
    outcome = run_sweep(plan, args, train_fn=PoisonAfterFirstStop(marks, poisoned, row))
    first = json.loads((marks / "attempt-1").read_text())
    assert first == {"starts": dict.fromkeys([poisoned, *healthy], 0), "row": {}}
    # a non-finite loss is deterministic: a failed row at once, no retry of the pack
    assert not (marks / "attempt-2").exists() and not outcome.errors
    rows = results.read_rows(plan.results, "smoke").set_index("trial_key")
    assert rows.loc[poisoned, "status"] == "failed"
    assert rows.loc[poisoned, "error"] == "NonFiniteLoss: non-finite loss at step 3: g_total = inf"
    assert set(rows.loc[healthy, "status"]) == {"ok"} and set(rows["pack_size"]) == {3}
    assert plan_status(plan)[0] == 1
    # the next run of the sweep trains only the member without an `ok` row, as a pack of one
    plan = packs.with_packs(sweep_plan.plan_sweep(args), 3, 0.0)
    assert [c.key() for c in plan.todo] == [poisoned]
    run_sweep(plan, args, train_fn=PoisonAfterFirstStop(marks, poisoned, row))
    rerun = json.loads((marks / "attempt-2").read_text())
    assert rerun["starts"] == {poisoned: 0} and rerun["row"]["status"] == "failed"
    rows = results.read_rows(plan.results, "smoke").set_index("trial_key")
    assert set(rows["status"]) == {"ok"} and set(rows["steps_done"]) == {4}
    assert rows["pack_id"].nunique() == 1 and plan_status(plan)[0] == 0


@pytest.mark.slow
def test_a_crashed_pack_is_retried_and_resumes_every_member_from_its_checkpoint(
        ray_session, smoke_data, tmp_path):
    marks, args, plan = packed_smoke(smoke_data, tmp_path)
    keys = [c.key() for c in SMOKE]
    row = results.row_path(plan.results, "smoke", SMOKE[0])
    outcome = run_sweep(plan, args, train_fn=PoisonAfterFirstStop(marks, keys[0], row, crash=True))
    retry = json.loads((marks / "attempt-2").read_text())
    # every member from its own checkpoint of step 2 (the smoke grid checkpoints every 2 steps),
    # after the crash was recorded in the rows
    assert retry["starts"] == dict.fromkeys(keys, 2)
    assert retry["row"] == {"status": "failed", "error": retry["row"]["error"]}
    assert retry["row"]["error"].startswith("RuntimeError: injected crash of the pack's process")
    assert not (marks / "attempt-3").exists() and not outcome.errors
    rows = results.read_rows(plan.results, "smoke").set_index("trial_key")
    assert set(rows["status"]) == {"ok"} and set(rows["steps_done"]) == {4}
    assert set(rows["pack_size"]) == {3} and plan_status(plan)[0] == 0


def test_pack_sizes_and_the_dry_run_without_ray(tmp_path, capsys):
    assert run_grid.main(["--grid", "smoke", "--pack", "0", "--dry-run"]) == 2
    assert capsys.readouterr().err == "error: --pack '0': give a pack size >= 1 or 'auto'\n"
    argv = ["--grid", "table2", "--pack", "8", "--gpus-per-trial", "1", "--dry-run",
            "--storage", str(tmp_path)]
    assert run_grid.main(argv) == 0
    out = capsys.readouterr().out
    plan = packs.with_packs(sweep_plan.plan_sweep(run_grid.build_parser().parse_args(argv)), 8, 1)
    assert all(len(p.keys) <= 8 for p in plan.packs)
    assert sorted(k for p in plan.packs for k in p.keys) == sorted(c.key() for c in plan.cfgs)
    steps = {c.key(): total_steps(c) for c in plan.cfgs}
    fp32 = packs.measured_rate("gpu", packs.PAPER_SIZES, "fp32", 1)   # no fp32 pack measured:
    hours = sum(steps[p.keys[0]] * len(p.keys) for p in plan.packs) / fp32 / 3600   # no gain
    assert f"packs: {len(plan.packs)} to run" in out
    assert f"estimate, packed:   {hours:,.1f} GPU-hours" in out
    assert f"estimate, unpacked: {hours:,.1f} GPU-hours" in out   # the same rate: they agree
    assert "pack-" in out                              # each trial's pack in the table
