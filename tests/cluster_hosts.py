"""Machines for the cluster tests, made of Linux namespaces on this one computer.

A `Machine` is a process tree in namespaces of its own:
- network: its own address on a private LAN (`wire`), no route out;
- mount: its own home at /root, its own /tmp and /run; folders of this computer bound in under
  /mnt (the shared "NFS" folder, a package mirror); the rest of the file system is this one's;
- PID: Ray's stop command (the first start command of cluster-onprem.yaml) run there sees
  only this machine's processes, never the suite's or another engineer's Ray; and when the
  tree's first process dies, the kernel ends every other process in it;
- UTS: its own hostname (fewpair's lease compares hostnames and PIDs).
Everything a machine runs ends with it, and it ends with the test: the `unshare` process that
owns it is killed when the test's process dies (PR_SET_PDEATHSIG) and takes its tree along
(--kill-child). `wire` builds the LAN inside the first machine's network namespace, so this
computer's own network gains nothing, not even a leftover interface.

Where namespaces cannot be made (not root, tools missing, a sandbox that forbids them) the tests
skip with the reason, except under CI=true, where they fail instead.
"""
from __future__ import annotations

import ctypes
import os
import shlex
import shutil
import signal
import subprocess
import sys
import sysconfig
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NS_FLAGS = ("--net", "--mount", "--propagation", "private", "--uts", "--pid", "--fork",
            "--mount-proc", "--kill-child=SIGKILL")
LOGIN_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"   # root's, sshd's
TOOLS = ("unshare", "nsenter", "ip", "ss", "ssh", "ssh-keygen", "rsync")
SSHD = "/usr/sbin/sshd"
PR_SET_PDEATHSIG = 1


def namespace_problem() -> str | None:
    """Why this computer cannot make the test machines, or None when it can."""
    if os.geteuid() != 0:
        return "needs root (network, mount and PID namespaces; an sshd per machine)"
    missing = [t for t in TOOLS if not shutil.which(t)] + ([] if os.access(SSHD, os.X_OK)
                                                           else [SSHD])
    if missing:
        return (f"missing {', '.join(missing)} (Debian: apt-get install openssh-server rsync "
                f"iproute2; .ci/run installs them)")
    try:
        probe = subprocess.run(["unshare", *NS_FLAGS, "true"], capture_output=True, text=True,
                               timeout=30)
    except (OSError, subprocess.TimeoutExpired) as err:
        return f"cannot make namespaces here: {err}"
    if probe.returncode:
        return f"cannot make namespaces here: {probe.stderr.strip()}"
    return None


def require(problem: str | None) -> None:
    """Skip with the reason; under CI=true fail instead (CI must run these tests)."""
    if problem is None:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI=true, and the cluster test cannot run: {problem}")
    pytest.skip(problem)


def _die_with_parent() -> None:   # in the child, before exec: SIGKILL when the test dies
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


class Machine:
    """A process tree in namespaces of its own (see the module's docstring). `binds`:
    (folder here, path there, read_only); targets other than /tmp must lie under /mnt.
    `main` is its first process (sshd, or a sleeper for a machine one only enters). `home_at`:
    where its own home appears: /root for a host one logs into as root; elsewhere for one that
    runs this computer's Python (this venv's interpreter may live under /root, e.g. pyenv's),
    with HOME set to it (`env`)."""

    def __init__(self, name: str, folder: Path, main: list[str],
                 binds: list[tuple[Path, str, bool]] = (), home_at: str = "/root"):
        self.name, self.folder, self.main, self.binds = name, folder, main, list(binds)
        self.home_at = home_at
        self.home, self.tmp = folder / "home", folder / "tmp"
        self.log = folder / "main.log"
        self.owner: subprocess.Popen | None = None
        self.pid = 0   # its first process, as this computer numbers it

    def start(self) -> "Machine":
        for path in (self.home, self.tmp):
            path.mkdir(parents=True, exist_ok=True)
        self.owner = subprocess.Popen(
            ["unshare", *NS_FLAGS, "sh", "-c", self._boot_script(), self.name, *self.main],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            text=True, preexec_fn=_die_with_parent)
        said = self.owner.stdout.readline()
        if said.strip() != "ready":
            rest = self.owner.stdout.read()
            raise RuntimeError(f"machine {self.name} did not boot: {said}{rest}")
        self.pid = _child_of(self.owner.pid)
        return self

    def _boot_script(self) -> str:
        q = shlex.quote
        lines = ["set -e", f"exec 3>{q(str(self.log))}",   # opened before /tmp changes
                 f"hostname {q(self.name)}",
                 "mount -t tmpfs -o mode=0755 machine-mnt /mnt",
                 "mount -t tmpfs -o mode=0755 machine-run /run", "mkdir -p /run/sshd"]
        kept = outer_tmp_paths()   # held at /mnt/.outer-N while /tmp changes, then put back
        for n, path in enumerate(kept):
            lines += [f"mkdir -p /mnt/.outer-{n}", f"mount --bind {q(str(path))} /mnt/.outer-{n}"]
        for source, target, read_only in [*self.binds, (self.home, self.home_at, False),
                                          (self.tmp, "/tmp", False)]:   # /tmp last: a source
            lines += [f"mkdir -p {q(target)}",                        # may lie in this /tmp
                      f"mount --bind {q(str(source))} {q(target)}"]
            if read_only:
                lines.append(f"mount -o remount,bind,ro {q(target)}")
        for n, path in enumerate(kept):
            lines += [f"mkdir -p {q(str(path))}", f"mount --bind /mnt/.outer-{n} {q(str(path))}"]
        lines += ["chmod 1777 /tmp", "echo ready", 'exec "$@" >&3 2>&3 3>&- </dev/null']
        return "\n".join(lines)

    def ray_logs(self) -> Path:
        """Ray's log folder of this machine's latest session, as this computer sees it."""
        latest = self.tmp / "ray" / "session_latest"
        try:
            return self.tmp / os.readlink(latest).removeprefix("/tmp/") / "logs"
        except OSError:
            return latest / "logs"

    def enter(self, args: list[str], cwd: str = "/", net_only: bool = False) -> list[str]:
        """`args` as a command run inside this machine (net_only: its network namespace only,
        with this computer's files and PIDs)."""
        spaces = ["--net"] if net_only else ["--net", "--mount", "--uts", "--pid", f"--wd={cwd}"]
        return ["nsenter", "-t", str(self.pid), *spaces, "--", *args]

    def run(self, args: list[str], env: dict | None = None, cwd: str = "/", timeout: float = 120,
            net_only: bool = False, **kw) -> subprocess.CompletedProcess:
        return subprocess.run(self.enter(args, cwd, net_only), env=env, timeout=timeout,
                              text=True, **kw)

    def processes(self) -> list[int]:
        """PIDs (this computer's numbering) of every process still in this machine."""
        try:
            mine = os.readlink(f"/proc/{self.pid}/ns/pid")
        except OSError:
            return []
        found = []
        for entry in os.listdir("/proc"):
            try:
                if entry.isdigit() and os.readlink(f"/proc/{entry}/ns/pid") == mine:
                    found.append(int(entry))
            except OSError:
                pass
        return found

    def own_pid(self, pid: int) -> int:
        """This computer's PID of the process this machine numbers `pid`."""
        for found in self.processes():
            try:
                status = Path(f"/proc/{found}/status").read_text()
            except OSError:
                continue
            numbers = next(line for line in status.splitlines() if line.startswith("NSpid:"))
            if int(numbers.split()[-1]) == pid:
                return found
        raise LookupError(f"no process {pid} in machine {self.name}")

    def commands(self) -> list[str]:
        """The command lines of the processes in this machine."""
        out = []
        for pid in self.processes():
            try:
                out.append(Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode())
            except OSError:
                pass
        return out

    def stop(self) -> None:
        """End the machine: its first process, then (the kernel) everything else in it."""
        for pid in (self.pid, self.owner.pid if self.owner else 0):
            if pid:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        if self.owner:
            self.owner.wait(timeout=30)
        deadline = time.monotonic() + 30
        while self.processes() and time.monotonic() < deadline:
            time.sleep(0.2)


def parent_of(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


def children_of(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        try:
            if entry.isdigit() and parent_of(int(entry)) == pid:
                found.append(int(entry))
        except OSError:
            pass
    return found


def tree(pid: int) -> list[int]:
    """`pid` and all its descendants."""
    out = [pid]
    for child in children_of(pid):
        out += tree(child)
    return out


def _child_of(pid: int) -> int:
    children = children_of(pid)
    if not children:
        raise RuntimeError(f"process {pid} has no child")
    return children[0]


def wire(hub: Machine, hosts: dict[Machine, str], hub_ip: str, prefix: int = 24) -> None:
    """One LAN: a bridge in `hub`'s network namespace (address hub_ip), a veth to each host
    (its eth0, with its address); loopback up everywhere."""
    def sh(machine: Machine, script: str) -> None:
        machine.run(["sh", "-ec", script], net_only=True, check=True)
    sh(hub, f"ip link set lo up; ip link add br0 type bridge; "
            f"ip addr add {hub_ip}/{prefix} dev br0; ip link set br0 up")
    for host, ip in hosts.items():
        port = f"to-{host.name}"[:15]
        sh(hub, f"ip link add {port} type veth peer name eth0 netns {host.pid}; "
                f"ip link set {port} master br0; ip link set {port} up")
        sh(host, f"ip link set lo up; ip addr add {ip}/{prefix} dev eth0; ip link set eth0 up")


def listening(machine: Machine) -> set[tuple[str, int]]:
    """(address, port) of every TCP socket listening in `machine`."""
    out = machine.run(["ss", "-Hltn"], net_only=True, capture_output=True, check=True).stdout
    found = set()
    for line in out.splitlines():
        local = line.split()[3]
        address, _, port = local.rpartition(":")
        found.add((address.strip("[]"), int(port)))
    return found


def outer_tmp_paths() -> list[Path]:
    """The checkout and this Python's prefix where they lie under /tmp (a CI clone may): a
    machine's own /tmp would hide them, so each machine binds them back at the same path."""
    found: list[Path] = []
    for path in (ROOT, Path(sys.prefix).resolve()):
        if path.is_relative_to("/tmp") and not any(path.is_relative_to(p) for p in found):
            found.append(path)
    return found


def python_env(machine: Machine, **extra: str) -> dict[str, str]:
    """A clean environment for commands run in `machine` with this test's Python and Ray."""
    env = {"HOME": machine.home_at, "PATH": f"{Path(sys.executable).parent}:{LOGIN_PATH}",
           "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", "PYTHONPATH": str(ROOT)}
    env.update(extra)
    return env


def tail(path: Path, chars: int = 4000) -> str:
    try:
        return path.read_text(errors="replace")[-chars:]
    except OSError as err:
        return f"({path}: {err})"


# --- hosts one logs into (cluster-onprem.yaml's machines) -------------------------------------
SSHD_CONFIG = """\
ListenAddress 0.0.0.0
HostKey /mnt/host/ssh_host_ed25519_key
PidFile none
UsePAM no
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
StrictModes no
PrintMotd no
PrintLastLog no
# the launcher opens several connections and multiplexed sessions at once
MaxStartups 64
MaxSessions 64
SetEnv PYTHONPATH=/mnt/image/boot
"""
# This host's package index: a mirror the test made of what its image lacks (the hosts have no
# route out, as many clusters' nodes do not; their pip is pointed at one).
PIP_CONF = "[global]\nno-index = true\nfind-links = /mnt/pypi\n"
# The hosts' image: this computer's own site-packages (PyTorch & co.), read-only, added after
# every Python's own (a sitecustomize on PYTHONPATH), as a GPU node image carries PyTorch; without
# Ray and fewpair, which the yaml's setup installs into its venv. (PyTorch itself per host would
# be ~6 GB of CUDA wheels each.)
NOT_IN_IMAGE = ("ray", "fewpair", "pip", "setuptools", "pkg_resources", "_distutils_hack",
                "wheel")


def keygen(path: Path) -> str:
    """A fresh ed25519 key pair at `path` (+ .pub); returns the public key's line."""
    path.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", path.name, "-f",
                    str(path)], check=True)
    return path.with_suffix(".pub").read_text()


def ssh_host(name: str, folder: Path, client_key: str, binds: list[tuple[Path, str, bool]],
             image: Path) -> Machine:
    """A machine whose first process is an sshd on port 22 that admits root with
    `client_key` (a public key line); pip pointed at the mirror bound at /mnt/pypi, the image's
    packages (`image`) on PYTHONPATH."""
    etc = folder / "etc"
    etc.mkdir(parents=True)
    (etc / "sshd_config").write_text(SSHD_CONFIG)
    keygen(etc / "ssh_host_ed25519_key")
    home = folder / "home"
    (home / ".ssh").mkdir(parents=True)
    (home / ".ssh" / "authorized_keys").write_text(client_key)
    (home / ".config" / "pip").mkdir(parents=True)
    (home / ".config" / "pip" / "pip.conf").write_text(PIP_CONF)
    main = [SSHD, "-D", "-e", "-f", "/mnt/host/sshd_config"]
    site = Path(sysconfig.get_paths()["purelib"])
    return Machine(name, folder, main, [*binds, (etc, "/mnt/host", True),
                                        (site, "/mnt/site", True), (image, "/mnt/image", True)])


def host_image(dest: Path) -> None:
    """The hosts' image (bound at /mnt/image): site/, a link to each entry of this Python's
    site-packages (bound at /mnt/site) but NOT_IN_IMAGE's; boot/sitecustomize.py, which appends
    site/ to sys.path, after the stdlib and the venv's own packages."""
    (dest / "boot").mkdir(parents=True)
    (dest / "boot" / "sitecustomize.py").write_text(
        'import site\nsite.addsitedir("/mnt/image/site")\n')
    dest = dest / "site"
    dest.mkdir()
    for entry in Path(sysconfig.get_paths()["purelib"]).iterdir():
        name = entry.name.split("-")[0].split(".")[0]   # ray-2.60.0.dist-info: ray
        if not (name in NOT_IN_IMAGE or entry.name.startswith("__editable__")
                or entry.name.endswith(".pth")):
            (dest / entry.name).symlink_to(f"/mnt/site/{entry.name}")


def hosts_problem() -> str | None:
    """Why the hosts could not run cluster-onprem.yaml's setup (`python3.11 -m venv` on the
    login PATH), or None."""
    if sys.version_info[:2] != (3, 11):   # the hosts' image is this Python's site-packages
        return f"this Python is {sys.version.split()[0]}; the yaml's hosts run python3.11"
    python = shutil.which("python3.11", path=LOGIN_PATH)
    if not python:
        return "no python3.11 on the login PATH (Debian: apt-get install python3.11-venv)"
    probe = subprocess.run([python, "-c", "import ensurepip, venv"], capture_output=True)
    if probe.returncode:
        return f"{python} cannot make a venv (Debian: apt-get install python3.11-venv)"
    return None


def package_mirror(dest: Path) -> None:
    """What the hosts' pip will not find in their image, by this computer's pip and its
    configured index, into `dest`: the Ray this test runs, and setuptools (fewpair's build)."""
    import ray
    cmd = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "-d", str(dest),
           f"ray=={ray.__version__}", "setuptools>=68"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    if done.returncode:
        raise RuntimeError(f"the hosts' package mirror: {' '.join(cmd)}\n{done.stderr[-3000:]}")
