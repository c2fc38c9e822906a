"""A Tune worker's SIGTERM (a spot node about to be taken), on the session's real local Ray:
the trial checkpoints at its next step, reports it to Tune, writes a `stopped` row naming the
step, and Tune's retry resumes from that step to an `ok` row -- alone and in a pack."""
from __future__ import annotations

import dataclasses

import os
import signal
import sys
from pathlib import Path

import pytest
import torch
from ray import cloudpickle

from sweeps.tune import grid_sweep
from sweeps.store import results
from sweeps.plan.packs import with_packs
from sweeps.plan.sweep import plan_sweep

cloudpickle.register_pickle_by_value(sys.modules[__name__])   # Preempt runs inside trials


class Preempt:
    """The real trainer (or pack); on its first attempt the worker SIGTERMs itself at the first
    step-1 report (no checkpoint is due before step 4). Each attempt leaves a mark naming the
    step it starts from and the status its row had then."""

    def __init__(self, marks: Path, storage: str, packed: bool):
        self.marks, self.storage, self.packed = marks, storage, packed

    def __call__(self, cfgs, workdirs, reports, **kwargs):
        from trainer.run.loop import train_pack
        from trainer.run.loop import train
        many = self.packed
        cfgs, workdirs, reports = (cfgs, workdirs, reports) if many else ([cfgs], [workdirs],
                                                                        [reports["report"]])
        attempt = len(list(self.marks.glob("attempt-*"))) + 1
        starts = [_step(Path(w) / "checkpoint") for w in workdirs]
        rows = [results.read_row(results.row_path(self.storage, "smoke", c), ("status", "error"))
                for c in cfgs]
        (self.marks / f"attempt-{attempt}").write_text(repr((starts, rows)))
        if attempt == 1:
            reports = [_sigterm_at_step_1(r) for r in reports]
        if many:
            return train_pack(cfgs, workdirs, reports, **kwargs)
        return train(cfgs[0], workdirs[0], report=reports[0])


def _step(folder: Path) -> int:
    path = folder / "state.pt"
    return torch.load(path, weights_only=True)["step"] if path.is_file() else 0


def _sigterm_at_step_1(report):
    def wrapped(metrics, folder):
        report(metrics, folder)
        if metrics.get("step") == 1 and folder is None:
            os.kill(os.getpid(), signal.SIGTERM)
    return wrapped


def _raise_line() -> int:
    import inspect
    from trainer.run import interrupt
    lines, first = inspect.getsourcelines(interrupt.stop_if_requested)
    return first + next(i for i, line in enumerate(lines) if "raise Interrupted" in line)


def _solo(preempt):
    return lambda cfg, workdir, report: preempt(cfg, workdir, {"report": report})


@pytest.mark.slow
@pytest.mark.parametrize("packed", [False, True])
def test_a_preempted_worker_checkpoints_and_the_retry_resumes_from_that_step(
        ray_session, small_streets, tmp_path, packed):
    marks = tmp_path / "marks"
    marks.mkdir()
    storage = str(tmp_path / "res")
    args = grid_sweep.build_parser().parse_args([
        "--grid", "smoke", "--data-root", small_streets, "--storage", storage,
        "--max-failures", "1", "--gpus-per-trial", "0", "--set", "checkpoint_every=4",
        "--set", "report_every=1", *(["--pack", "2"] if packed else [])])
    plan = plan_sweep(args)
    plan = with_packs(plan, 2, 0.0) if packed else plan
    plan = dataclasses.replace(plan, todo=plan.todo[:2] if packed else plan.todo[:1])
    if packed:
        todo = {c.key() for c in plan.todo}
        plan = dataclasses.replace(plan, packs=[p for p in plan.packs if set(p.keys) <= todo])
        assert [len(p.keys) for p in plan.packs] == [2]
    preempt = Preempt(marks, results.resolve_root(storage), packed)
    outcome = grid_sweep.run_sweep(plan, args, train_fn=preempt if packed else _solo(preempt))
    assert not outcome.errors
    n = len(plan.todo)
    assert eval((marks / "attempt-1").read_text()) == ([0] * n, [{}] * n)
    # the retry starts from the SIGTERM's checkpoint (the step after the signal's report); the
    # rows then said `stopped` at that step
    starts, rows = eval((marks / "attempt-2").read_text())
    assert len(set(starts)) == 1 and 1 <= starts[0] < 4
    assert rows == [{"status": "stopped", "error": (
        f"Interrupted: interrupted at step {starts[0]}; checkpoint saved; rerun the same "
        f"command to resume (interrupt.py:{_raise_line()})")}] * n
    assert not (marks / "attempt-3").exists()
    rows = results.read_rows(storage, "smoke")
    assert sorted(rows["trial_key"]) == sorted(c.key() for c in plan.todo)
    assert (rows["status"] == "ok").all() and (rows["steps_done"] == 4).all()
