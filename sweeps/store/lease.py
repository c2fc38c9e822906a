"""One driver per grid and storage: a lease file `<results>/_leases/<grid>.json`.

Two drivers of one grid on one storage would train the same trials twice and overwrite each
other's Tune state (`_ray/<grid>/experiment_state-*.json`), so the lease names its holder
(host, pid, start time) and the holder refreshes it every REFRESH_S seconds from a daemon thread
while it lives. A second driver refuses, naming the holder. A lease whose holder is gone is
taken over with a message: on the same host when its pid no longer exists; from any host when
it has not been refreshed for STALE_S seconds (a killed driver on another machine).

Local folders (NFS included): the lease is created with O_EXCL and taken over by renaming the
stale file away first, so of two drivers starting together exactly one holds it.
Object stores (`s3://`, `gs://`) have no create-if-absent in pyarrow: the lease is written, then
read back after SETTLE_S seconds and held only if it is still ours. Two drivers starting within
those seconds of each other can both pass; liveness across machines is the refresh time alone.
"""
from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import socket
import sys
import threading
import time
import uuid
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.fs as pafs

LEASE_DIR = "_leases"   # under the results root; "_" keeps row readers out
REFRESH_S = 30.0        # the holder rewrites its lease this often
STALE_S = 120.0         # a lease not refreshed for this long is a dead driver's
SETTLE_S = 2.0          # object stores: wait this long before reading a written lease back


class LeaseHeld(ValueError):
    """Another live driver holds the lease; one line naming it."""


@dataclass
class Lease:
    path: str                  # local path or URI of the lease file
    holder: dict               # host, pid, started, refreshed, token: what the file says
    note: str | None = None    # a takeover's message, for the driver to print
    _stop: threading.Event | None = None

    def release(self) -> None:
        """Stop refreshing and remove the file if it is still ours."""
        if self._stop is not None:
            self._stop.set()
        if (_read(self.path) or {}).get("token") == self.holder["token"]:
            _remove(self.path)

    def __enter__(self) -> "Lease":
        return self

    def __exit__(self, *exc) -> None:
        self.release()


def lease_path(results_root: str, grid: str) -> str:
    return "/".join([results_root.rstrip("/"), LEASE_DIR, f"{grid}.json"])


def acquire(results_root: str, grid: str, refresh_s: float = REFRESH_S,
            stale_s: float = STALE_S) -> Lease:
    """Hold the grid's lease (refreshed until released), or raise LeaseHeld."""
    path = lease_path(results_root, grid)
    mine = _holder()
    note = None
    for _ in range(3):   # a takeover lost to another driver: look again
        current = _read(path)
        if current is not None:
            why = _gone(current, stale_s)
            if why is None:
                raise LeaseHeld(f"grid {grid!r} at {results_root} is being run by another "
                                f"driver: {_describe(current)}; lease {path}")
            if not _take_away(path):
                continue
            note = (f"note: took over the lease of grid {grid!r} from a driver that is gone "
                    f"({_describe(current)}; {why})")
        if _create(path, mine):
            lease = Lease(path, mine, note)
            lease._stop = _start_refresh(path, mine, refresh_s)
            return lease
    raise LeaseHeld(f"grid {grid!r} at {results_root}: another driver is starting; lease {path}")


@contextlib.contextmanager
def hold(results_root: str, grid: str):
    """`acquire` for a driver's run: a takeover's note on stderr, released at the end."""
    with acquire(results_root, grid) as held:
        if held.note:
            print(held.note, file=sys.stderr)
        yield held


def _holder() -> dict:
    now = _now()
    return {"host": socket.gethostname(), "pid": os.getpid(), "started": now, "refreshed": now,
            "token": uuid.uuid4().hex}


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def _describe(holder: dict) -> str:
    return (f"host {holder.get('host')}, pid {holder.get('pid')}, started "
            f"{holder.get('started')}, refreshed {holder.get('refreshed')}")


def _gone(holder: dict, stale_s: float) -> str | None:
    """Why the holder is gone, or None while it may be alive."""
    try:
        refreshed = dt.datetime.fromisoformat(holder["refreshed"])
        age = (dt.datetime.now(dt.timezone.utc) - refreshed).total_seconds()
    except (KeyError, TypeError, ValueError):
        return "its lease file is unreadable"
    if age > stale_s:
        return f"not refreshed for {age:.0f} s"
    if holder.get("host") == socket.gethostname() and not pid_alive(holder.get("pid")):
        return f"pid {holder.get('pid')} no longer exists on this host"
    return None


def pid_alive(pid: object) -> bool:
    """Whether a process of that id exists on this host."""
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:   # another user's process
        return True
    return True


# --- the file, local or on an object store -------------------------------------------------
def _is_uri(path: str) -> bool:
    return "://" in path


def _fs(path: str) -> tuple[pafs.FileSystem, str]:
    return pafs.FileSystem.from_uri(path)


def _read(path: str) -> dict | None:
    """The lease's contents; None when there is none; {} when it is unreadable."""
    try:
        if _is_uri(path):
            fs, inner = _fs(path)
            if fs.get_file_info(inner).type != pafs.FileType.File:
                return None
            with fs.open_input_stream(inner) as f:
                data = f.read()
        else:
            with open(path, "rb") as f:
                data = f.read()
    except FileNotFoundError:
        return None
    try:
        loaded = json.loads(data)
    except ValueError:
        return {}
    return loaded if isinstance(loaded, dict) else {}


def _create(path: str, holder: dict) -> bool:
    """Write the lease if there is none; False when another driver got there first."""
    data = json.dumps(holder).encode()
    if _is_uri(path):
        fs, inner = _fs(path)
        fs.create_dir(inner.rsplit("/", 1)[0], recursive=True)
        with fs.open_output_stream(inner) as f:
            f.write(data)
        time.sleep(SETTLE_S)   # a driver that wrote after us has overwritten it by now
        return (_read(path) or {}).get("token") == holder["token"]
    os.makedirs(os.path.dirname(path), exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError:
        return False
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    return True


def _take_away(path: str) -> bool:
    """Move a stale lease aside; False when another driver moved it first."""
    if _is_uri(path):
        _remove(path)
        return True
    try:
        os.rename(path, f"{path}.{uuid.uuid4().hex}.stale")
    except FileNotFoundError:
        return False
    for name in os.listdir(os.path.dirname(path)):   # keep no stale copies around
        if name.endswith(".stale"):
            _remove(os.path.join(os.path.dirname(path), name))
    return True


def _remove(path: str) -> None:
    try:
        if _is_uri(path):
            fs, inner = _fs(path)
            fs.delete_file(inner)
        else:
            os.remove(path)
    except (FileNotFoundError, OSError, pa.ArrowException):
        pass


def _replace(path: str, holder: dict) -> None:
    """Rewrite the lease whole (temporary name, then rename; object stores: one put)."""
    data = json.dumps(holder).encode()
    if _is_uri(path):
        fs, inner = _fs(path)
        with fs.open_output_stream(inner) as f:
            f.write(data)
        return
    tmp = f"{path}.{uuid.uuid4().hex}.tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def _start_refresh(path: str, holder: dict, every_s: float) -> threading.Event:
    stop = threading.Event()

    def refresh() -> None:
        while not stop.wait(every_s):
            if (_read(path) or {}).get("token") != holder["token"]:
                print(f"warning: lost the lease {path} to another driver; a second driver may "
                      f"now run this grid", file=sys.stderr)
                return
            holder["refreshed"] = _now()
            try:
                _replace(path, holder)
            except (OSError, pa.ArrowException) as err:   # storage hiccup: try again later
                print(f"warning: could not refresh the lease {path}: {err}", file=sys.stderr)
    threading.Thread(target=refresh, name="fewpair-lease", daemon=True).start()
    return stop
