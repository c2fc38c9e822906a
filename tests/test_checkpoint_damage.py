"""Checkpoints that survive damage: a cut or garbled latest file falls back to the previous one
(one warning line), none readable is a fresh start; a full disk (an injected ENOSPC, and a real
1 MiB tmpfs where this machine lets the test mount one) fails with one line naming the path and
the free space and leaves the previous files and rows whole, with no temporary file behind."""
from __future__ import annotations

import errno
import os
import subprocess
import tempfile
from pathlib import Path

import pytest
import torch

from sweeps.store import results
from trainer.core.atomic import DiskFull
from trainer.core.config import TrialConfig
from trainer.step.checkpoint import has_checkpoint, load_checkpoint, state_payload, write_checkpoint
from trainer.step.state import build_state
from trainer.step import checkpoint

CPU = torch.device("cpu")
TINY = dict(dataset="toy-streets", image_size=32, load_size=36, ngf=8, ndf=8, n_blocks=2,
            unpaired=20, paired_budget=5, eval_limit=4, device="cpu", steps=8)

pytestmark = pytest.mark.usefixtures("one_thread")


def write_state(state, folder):
    return write_checkpoint(state_payload(state), folder)


def state_at(step: int):
    state = build_state(TrialConfig(**TINY), CPU, 8)
    state.step = step
    return state


def files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def test_two_files_are_kept_and_a_cut_latest_falls_back_to_the_previous(tmp_path, capsys):
    folder = tmp_path / "checkpoint"
    write_state(state_at(2), folder)
    write_state(state_at(4), folder)
    assert sorted(files(folder)) == ["state.prev.pt", "state.pt"]   # no temporary file left
    latest = folder / "state.pt"
    latest.write_bytes(latest.read_bytes()[:1000])                   # a node lost mid-copy
    assert load_checkpoint(state_at(0), folder).step == 2
    err = capsys.readouterr().err
    assert err.startswith(f"warning: unreadable checkpoint removed: {latest} (")
    assert err.endswith(f"; resuming from {folder / 'state.prev.pt'} (step 2)\n")
    assert err.count("\n") == 1 and not latest.exists()
    write_state(state_at(6), folder)   # the good previous file is rotated, not the cut one
    assert torch.load(folder / "state.prev.pt", weights_only=True)["step"] == 2


def test_no_readable_checkpoint_is_a_fresh_start_with_one_warning(tmp_path, capsys):
    folder = tmp_path / "checkpoint"
    write_state(state_at(2), folder)
    write_state(state_at(4), folder)
    (folder / "state.pt").write_bytes(b"")                  # empty
    (folder / "state.prev.pt").write_bytes(b"PK\x03\x04 garbled")
    fresh = state_at(0)
    fresh.extra["key"] = "k"
    assert load_checkpoint(fresh, folder) is fresh
    assert fresh.step == 0 and fresh.extra == {"key": "k"}
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.endswith("; no earlier checkpoint: training starts afresh\n")
    assert str(folder / "state.pt") in err and str(folder / "state.prev.pt") in err
    assert not has_checkpoint(folder)


def test_a_trial_resumes_from_the_previous_checkpoint_and_equals_a_straight_run(tmp_path):
    from trainer.run.loop import train
    cfg = TrialConfig(**TINY, checkpoint_every=2)
    straight = train(cfg, tmp_path / "straight").to_row()
    workdir = tmp_path / "cut"
    seen = []

    class Stop(Exception):
        pass

    def stop_at_6(metrics, folder):
        if folder and metrics["step"] == 6:
            raise Stop
        seen.append(metrics.get("step"))
    with pytest.raises(Stop):
        train(cfg, workdir, report=stop_at_6)
    latest = workdir / "checkpoint" / "state.pt"
    latest.write_bytes(latest.read_bytes()[:-100])                    # cut its tail
    resumed = train(cfg, workdir).to_row()
    assert resumed["steps_done"] == 8
    assert [resumed[c] for c in ("pixel_acc", "mean_iou")] == [straight[c] for c in
                                                               ("pixel_acc", "mean_iou")]


def _enospc_after(nbytes: int):
    """A torch.save that writes `nbytes` of the file, then meets a full disk."""
    def save(obj, out):
        out.write(b"\0" * nbytes)
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    return save


def test_a_full_disk_leaves_both_checkpoints_whole_and_names_path_and_free_space(tmp_path,
                                                                                monkeypatch):
    folder = tmp_path / "checkpoint"
    write_state(state_at(2), folder)
    write_state(state_at(4), folder)
    before = files(folder)
    monkeypatch.setattr(checkpoint.torch, "save", _enospc_after(4096))
    with pytest.raises(DiskFull) as caught:
        write_state(state_at(6), folder)
    message = str(caught.value)
    assert message.startswith(f"no space left on device writing {folder / 'state.pt'} (")
    assert message.endswith(f" MiB free on {folder})") and "\n" not in message
    assert files(folder) == before                          # nothing renamed, no temporary file


def test_the_trial_cli_says_a_full_disk_in_one_line(tmp_path, monkeypatch, capsys):
    from trainer.run.cli import main
    monkeypatch.setattr(checkpoint.torch, "save", _enospc_after(10))
    argv = [f"--{k.replace('_', '-')}={v}" for k, v in TINY.items()]
    assert main([*argv, "--workdir", str(tmp_path / "w")]) == 1
    err = capsys.readouterr().err.splitlines()
    assert [line for line in err if line.startswith("error: ")] == err[-1:]
    assert err[-1].startswith(f"error: no space left on device writing "
                              f"{tmp_path / 'w' / 'checkpoint' / 'state.pt'} (")
    assert os.listdir(tmp_path / "w" / "checkpoint") == []


def test_a_full_disk_while_writing_a_row_keeps_the_old_row(tmp_path, monkeypatch):
    cfg = TrialConfig(**TINY)
    now = results.utc_now()
    path = results.row_path(str(tmp_path), "g", cfg)
    row = results.make_row(cfg, "g", "failed", error="x", code_version="t", started_at=now,
                           finished_at=now)
    results.write_row(path, row)
    before = files(Path(path).parent)

    def full(table, out):
        out.write(b"PAR1" * 100)
        raise OSError(errno.ENOSPC, "No space left on device")
    monkeypatch.setattr(results.pq, "write_table", full)
    with pytest.raises(DiskFull, match=f"^no space left on device writing {path} "):
        results.write_row(path, {**row, "status": "ok"})
    assert files(Path(path).parent) == before and results.row_status(path) == "failed"


@pytest.fixture
def tiny_disk():
    """A 1 MiB tmpfs, mounted for the test (root only), unmounted after."""
    where = Path(tempfile.mkdtemp(prefix="fewpair-full-"))
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(where)],
                             capture_output=True).returncode == 0
    if not mounted:
        where.rmdir()
        pytest.skip("cannot mount a tmpfs here (needs root)")
    yield where
    subprocess.run(["umount", str(where)], check=True)
    where.rmdir()


def test_a_real_full_disk_fails_the_write_and_keeps_the_previous_checkpoint(tiny_disk):
    folder = tiny_disk / "checkpoint"
    checkpoint.write({"format": 1, "step": 1, "w": torch.zeros(64)}, folder)   # fits
    before = files(folder)
    with pytest.raises(DiskFull, match=r"MiB free on "):
        checkpoint.write({"format": 1, "step": 2, "w": torch.zeros(1 << 19)}, folder)  # 2 MiB
    assert files(folder) == before
    assert checkpoint.read(folder, CPU)["step"] == 1


def test_a_real_full_disk_keeps_the_old_row(tiny_disk):
    path = str(tiny_disk / "g" / "dataset=toy-streets" / "k.parquet")
    results.write_row(path, {"trial_key": "k", "status": "failed"})
    with pytest.raises(DiskFull, match=f"^no space left on device writing {path} "):
        results.write_row(path, {"trial_key": "k", "status": "ok",
                                 "error": os.urandom(2 << 20).hex()})   # incompressible 4 MiB
    assert os.listdir(Path(path).parent) == ["k.parquet"] and results.row_status(path) == "failed"
