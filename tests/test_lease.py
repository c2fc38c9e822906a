"""The storage lease (sweeps.store.lease) on real files: one holder per grid and storage, named when
a second driver asks; a dead holder's lease taken over with a message (its pid gone on this
host, or not refreshed for too long from another); refreshed while held; object-store URIs."""
from __future__ import annotations

import datetime as dt
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sweeps.store import lease
from sweeps.store.lease import LeaseHeld, acquire, lease_path

ROOT = Path(__file__).resolve().parent.parent


def test_one_holder_then_the_next_after_release(tmp_path):
    with acquire(str(tmp_path), "smoke") as held:
        on_disk = json.loads(Path(lease_path(str(tmp_path), "smoke")).read_text())
        assert on_disk == held.holder and held.note is None
        assert (on_disk["host"], on_disk["pid"]) == (socket.gethostname(), os.getpid())
        dt.datetime.fromisoformat(on_disk["started"])
        with pytest.raises(LeaseHeld) as err:
            acquire(str(tmp_path), "smoke")
        assert str(err.value).startswith(
            f"grid 'smoke' at {tmp_path} is being run by another driver: host "
            f"{socket.gethostname()}, pid {os.getpid()}, started {on_disk['started']}")
        acquire(str(tmp_path), "other").release()   # another grid is another lease
    assert not Path(lease_path(str(tmp_path), "smoke")).exists()
    acquire(str(tmp_path), "smoke").release()


def test_a_killed_holders_lease_is_taken_over_with_a_message(tmp_path):
    code = (f"import sys, time; sys.path.insert(0, {str(ROOT)!r}); from sweeps.store.lease import "
            f"acquire; acquire({str(tmp_path)!r}, 'smoke'); print('held', flush=True); "
            f"time.sleep(600)")
    holder = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline() == "held\n"
        with pytest.raises(LeaseHeld, match=f"pid {holder.pid}, started "):
            acquire(str(tmp_path), "smoke")
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    with acquire(str(tmp_path), "smoke") as taken:
        assert taken.note.startswith("note: took over the lease of grid 'smoke' from a driver "
                                     f"that is gone (host {socket.gethostname()}, pid "
                                     f"{holder.pid}, started ")
        assert taken.note.endswith(f"pid {holder.pid} no longer exists on this host)")
        assert taken.holder["pid"] == os.getpid()
    assert os.listdir(tmp_path / lease.LEASE_DIR) == []   # no stale copy left behind


def _foreign(tmp_path: Path, minutes_ago: float) -> dict:
    at = (dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=minutes_ago)).isoformat()
    holder = {"host": "gpu-node-7", "pid": 4242, "started": at, "refreshed": at, "token": "x"}
    path = Path(lease_path(str(tmp_path), "smoke"))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(holder))
    return holder


def test_another_hosts_lease_holds_while_refreshed_and_expires_after(tmp_path):
    _foreign(tmp_path, minutes_ago=0.5)
    with pytest.raises(LeaseHeld, match="host gpu-node-7, pid 4242"):
        acquire(str(tmp_path), "smoke")
    _foreign(tmp_path, minutes_ago=10)
    with acquire(str(tmp_path), "smoke") as taken:
        assert "(host gpu-node-7, pid 4242, " in taken.note
        assert "; not refreshed for 6" in taken.note


def test_the_holder_refreshes_its_lease(tmp_path):
    with acquire(str(tmp_path), "smoke", refresh_s=0.2) as held:
        first = held.holder["refreshed"]
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            on_disk = json.loads(Path(held.path).read_text())
            if on_disk["refreshed"] != first:
                break
            time.sleep(0.2)
        assert on_disk["refreshed"] > first and on_disk["started"] == held.holder["started"]


def test_a_uri_lease_is_written_then_read_back(tmp_path, monkeypatch):
    """pyarrow's filesystem path, as for s3:// and gs:// (here file://, the same code)."""
    monkeypatch.setattr(lease, "SETTLE_S", 0.05)
    root = f"file://{tmp_path}"
    with acquire(root, "smoke") as held:
        assert held.path == f"{root}/{lease.LEASE_DIR}/smoke.json"
        assert json.loads(Path(lease_path(str(tmp_path), "smoke")).read_text())["token"] == \
            held.holder["token"]
        with pytest.raises(LeaseHeld, match=f"pid {os.getpid()}"):
            acquire(root, "smoke")
    assert not Path(lease_path(str(tmp_path), "smoke")).exists()
