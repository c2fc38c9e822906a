"""Ray heads started the way users start them (`ray start --head`), for the cluster tests: a
private HOME (so `~/.ray/auth_token` is the test's, not root's), a private --temp-dir, a free
GCS port; stopped by killing the head's own process group (never Ray's stop command, which
ends every Ray on the machine)."""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

RAY = str(Path(sys.executable).with_name("ray"))   # the venv's CLI
START_TIMEOUT_S = 120    # `ray start` on 2 shared cores took ~5 s


@dataclass
class Head:
    address: str          # 127.0.0.1:<gcs port>
    home: Path            # its HOME: .ray/auth_token inside
    pgid: int             # the process group of every process it started
    temp: str             # its --temp-dir (sessions, logs, sockets)

    def env(self, token: bool, **extra: str) -> dict[str, str]:
        """A driver's environment on this machine: the head's HOME, RAY_AUTH_MODE=token or
        none, no RAY_ADDRESS."""
        env = {k: v for k, v in os.environ.items()
               if k not in ("RAY_ADDRESS", "RAY_AUTH_MODE", "RAY_AUTH_TOKEN",
                            "RAY_AUTH_TOKEN_PATH")}
        env.update({"HOME": str(self.home), **({"RAY_AUTH_MODE": "token"} if token else {}),
                    **extra})
        return env

    def stop(self) -> None:
        """SIGTERM to the group, SIGKILL to whatever is left after 2 s (gcs_server ignores
        SIGTERM), then its temp dir removed."""
        for sig, wait in ((signal.SIGTERM, 2.0), (signal.SIGKILL, 5.0)):
            try:
                os.killpg(self.pgid, sig)
            except ProcessLookupError:
                break
            deadline = time.monotonic() + wait
            while time.monotonic() < deadline and _group_alive(self.pgid):
                time.sleep(0.2)
        shutil.rmtree(self.temp, ignore_errors=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_head(root: Path, *args: str, env: dict[str, str] | None = None,
               port: int | None = None) -> Head:
    """`ray get-auth-token --generate` then `ray start --head` with a token in a private HOME
    (Ray 2.60 then turns token authentication on, as on a user's machine where any earlier
    `ray.init()` wrote the token). `args`: more `ray start` flags (--num-cpus, ...); `port`:
    the GCS port (default: a free one)."""
    home = root / "home"
    home.mkdir(parents=True, exist_ok=True)
    temp = tempfile.mkdtemp(prefix="fp-ray-", dir="/tmp")   # short: socket paths <= 107 bytes
    base = {**os.environ, "HOME": str(home), **(env or {})}
    base.pop("RAY_ADDRESS", None)
    subprocess.run([RAY, "get-auth-token", "--generate"], env=base, check=True,
                   capture_output=True, timeout=60)
    port = port or free_port()
    cmd = [RAY, "start", "--head", f"--port={port}", f"--temp-dir={temp}",
           "--include-dashboard=false", "--disable-usage-stats",
           f"--ray-client-server-port={free_port()}", *args]
    proc = subprocess.Popen(cmd, env=base, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, start_new_session=True)
    head = Head(f"127.0.0.1:{port}", home, proc.pid, temp)
    try:
        out, _ = proc.communicate(timeout=START_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        head.stop()
        raise
    if proc.returncode != 0:
        head.stop()
        raise RuntimeError(f"ray start failed:\n{out}")
    return head


def _group_alive(pgid: int) -> bool:
    """Whether a process of group `pgid` still runs (zombies, left unreaped where PID 1 of a
    container reaps nothing, do not count)."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":   # fields: state, ppid, pgrp, ...
            return True
    return False
