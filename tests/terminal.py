"""A sweep driver run as a person runs it in a terminal: a real script whose stdin, stdout and
stderr are one pseudo-terminal, its controlling terminal, so that the key Ctrl-C written to the
terminal becomes the line discipline's SIGINT to the foreground process group (the driver and
the local Ray it starts), exactly as a person's Ctrl-C; and its console as the terminal shows
it (carriage returns overwrite, colour codes are not text).

The driver leads a session of its own: at the end whatever is left in its process group (Ray's
processes) is SIGKILLed, and its private RAY_TMPDIR (Ray's session files) removed.
"""
from __future__ import annotations

import fcntl
import os
import re
import select
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import termios
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CTRL_C = b"\x03"   # the byte the terminal's line discipline turns into SIGINT
ROWS, COLUMNS = 40, 160   # the terminal's size (tqdm and Ray read it)
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")   # colour and cursor codes: not text on screen
# The child takes the terminal as its controlling one (it leads a new session), then becomes
# the driver (exec: same pid, so a signal to the pid is a signal to the driver).
TAKE_TERMINAL = ("import fcntl, os, sys, termios; fcntl.ioctl(0, termios.TIOCSCTTY, 0); "
                 "os.execv(sys.executable, [sys.executable, *sys.argv[1:]])")


class Terminal:
    """`python script *argv` on a fresh pty; read() what it prints, screen() as shown."""

    def __init__(self, script: Path, argv: list[str]):
        self.ray_tmp = tempfile.mkdtemp(prefix="fp-")   # short: Ray's socket paths < 108 chars
        env = {**os.environ, "PYTHONPATH": str(ROOT), "RAY_TMPDIR": self.ray_tmp,
               "TERM": os.environ.get("TERM", "xterm")}
        env.pop("RAY_ADDRESS", None)   # the driver starts a Ray of its own, as `make demo`
        self.master, child = os.openpty()
        fcntl.ioctl(child, termios.TIOCSWINSZ, struct.pack("HHHH", ROWS, COLUMNS, 0, 0))
        self.proc = subprocess.Popen([sys.executable, "-c", TAKE_TERMINAL, str(script), *argv],
                                     stdin=child, stdout=child, stderr=child, env=env, cwd=ROOT,
                                     start_new_session=True)
        os.close(child)
        self.raw = bytearray()

    def read(self, timeout: float) -> bool:
        """Whatever arrives within `timeout` s; False once nothing more can (all writers gone)."""
        ready, _, _ = select.select([self.master], [], [], timeout)
        if not ready:
            return True
        try:
            data = os.read(self.master, 65536)
        except OSError:   # EIO: no process holds the terminal any more
            return False
        self.raw += data
        return bool(data)

    def wait_for(self, pattern: str, timeout: float) -> re.Match:
        """The first whole screen line (ended) matching `pattern`, waiting up to `timeout` s."""
        deadline = time.monotonic() + timeout
        while True:
            ended = self.screen(self.raw[:self.raw.rfind(b"\n") + 1])
            found = next(filter(None, (re.fullmatch(pattern, line) for line in ended)), None)
            if found:
                return found
            assert time.monotonic() < deadline and self.proc.poll() is None, \
                f"no line {pattern!r} within {timeout:.0f}s:\n" + "\n".join(self.screen())
            self.read(0.2)

    def press_ctrl_c(self) -> None:
        os.write(self.master, CTRL_C)

    def finish(self, timeout: float) -> int:
        """The driver's exit status, all it printed read (until its Ray's processes close the
        terminal or 5 s after the driver's exit)."""
        deadline = time.monotonic() + timeout
        while self.proc.poll() is None:
            assert time.monotonic() < deadline, "still running:\n" + "\n".join(self.screen())
            self.read(0.2)
        quiet_until = time.monotonic() + 5
        while time.monotonic() < quiet_until and self.read(0.2):
            pass
        return self.proc.returncode

    def screen(self, raw: bytes | None = None) -> list[str]:
        """The lines as the terminal shows them (of `raw`, default all it printed), blank ones
        left out."""
        shown = []
        text = bytes(self.raw if raw is None else raw).decode(errors="replace")
        for line in ANSI.sub("", text).split("\n"):
            text = ""
            for part in line.split("\r"):   # a carriage return: writes over from column 0
                text = part + text[len(part):]
            if text.strip():
                shown.append(text.rstrip())
        return shown

    def close(self) -> None:
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)   # the driver's group: its Ray's processes
        except ProcessLookupError:
            pass
        self.proc.wait(timeout=30)
        os.close(self.master)
        shutil.rmtree(self.ray_tmp, ignore_errors=True)


class Many:
    """Expected lines: one or more lines matching `pattern` (`least`=0: any number)."""

    def __init__(self, pattern: str, least: int = 1):
        self.pattern, self.least = pattern, least


def assert_lines(lines: list[str], expected: list) -> None:
    """Every line, in order, matches its expected pattern (a regex, whole line, or Many)."""
    at = 0
    for want in expected:
        many = isinstance(want, Many)
        pattern, least = (want.pattern, want.least) if many else (want, 1)
        matched = 0
        while at < len(lines) and (matched < 1 or many) and re.fullmatch(pattern, lines[at]):
            at, matched = at + 1, matched + 1
        assert matched >= least, (f"line {at + 1}: expected {pattern!r}, got "
                                  f"{lines[at] if at < len(lines) else 'the end'!r}\n"
                                  + "\n".join(lines))
    assert at == len(lines), f"unexpected line {at + 1}: {lines[at]!r}\n" + "\n".join(lines)
