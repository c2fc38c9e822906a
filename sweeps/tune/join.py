"""Joining a running Ray cluster (`--address` / RAY_ADDRESS), with one `error:` line, naming the
address, for each way it can fail instead of Ray's 20 retries and a 60-line traceback.

Token authentication (Ray 2.60): a head started by `ray start --head` where `~/.ray/auth_token`
exists (any earlier `ray.init()` on that machine writes one) asks every client for that token.
A client sends one only when its shell says `RAY_AUTH_MODE=token`; it reads the token from
`RAY_AUTH_TOKEN`, else the file `RAY_AUTH_TOKEN_PATH` names, else `~/.ray/auth_token`. The driver
follows Ray's own rule and never sends `~/.ray/auth_token` to an address by itself: Ray reads it
unasked only for `--address auto` (a cluster on this machine); sent to a typed address, the token
would go to whatever host answers there. So before `ray.init` the driver asks the GCS once
(ray._raylet.GcsClient, ~0.3 s) and turns a refusal into the line that says what to set.
"""
from __future__ import annotations

import contextlib
import os
import socket

from sweeps.plan.grids import GridError

REACH_TIMEOUT_S = 5.0   # a TCP connect to the head's GCS port; Ray itself would retry ~40 s
TOKEN_HELP = ("export RAY_AUTH_MODE=token; the token is the head node's ~/.ray/auth_token "
              "(`ray get-auth-token` on the head prints it): copy it to this machine's "
              "~/.ray/auth_token, or set RAY_AUTH_TOKEN to it or RAY_AUTH_TOKEN_PATH to a file "
              "holding it")


class JoinError(GridError):
    """The cluster at an address cannot be joined; one line naming the address."""


def join(address: str, runtime_env: dict | None, log_to_driver: bool) -> None:
    """ray.init(address=...) after the checks of the module docstring."""
    import ray
    if _host_port(address) is not None:   # not `auto`, not a `ray://` client address
        _check_reachable(address)
        _check_token(address)
    try:
        ray.init(address=address, runtime_env=runtime_env, log_to_driver=log_to_driver)
    except (ConnectionError, RuntimeError, ValueError, ray.exceptions.RayError) as err:
        raise JoinError(f"cannot join the Ray cluster at {address}: {_first_line(err)}") from None


def _host_port(address: str) -> tuple[str, int] | None:
    """(host, port) of a GCS address `host:port`; None for anything Ray resolves itself."""
    host, _, port = address.rpartition(":")
    if "://" in address or not host or not port.isdigit():
        return None
    return host.strip("[]"), int(port)


def _check_reachable(address: str) -> None:
    host, port = _host_port(address)
    try:
        socket.create_connection((host, port), timeout=REACH_TIMEOUT_S).close()
    except OSError as err:
        why = os.strerror(err.errno) if err.errno else "timed out"
        raise JoinError(f"cannot reach the Ray cluster at {address} ({why}): is the head "
                        f"running there, and is that its GCS port (`ray start --head --port`, "
                        f"default 6379)?") from None


def _check_token(address: str) -> None:
    """One GCS call without Ray's retries: a refused or missing token becomes TOKEN_HELP."""
    from ray._private.authentication.authentication_token_setup import (
        ensure_token_if_auth_enabled)
    from ray._raylet import GcsClient
    from ray.exceptions import AuthenticationError
    mode = os.environ.get("RAY_AUTH_MODE", "")
    try:   # RAY_AUTH_MODE=token with no token anywhere: Ray's GcsClient would abort the process
        ensure_token_if_auth_enabled(None, create_token_if_missing=False)
    except AuthenticationError:
        raise JoinError(f"RAY_AUTH_MODE=token but no Ray token was found to send to the "
                        f"cluster at {address}: {TOKEN_HELP.split('; ', 1)[1]}") from None
    try:
        with _quiet_stderr():   # Ray's C++ client logs each refusal on stderr itself
            GcsClient(address=address)
    except AuthenticationError:
        if mode.lower() == "token":
            raise JoinError(f"the Ray cluster at {address} refused this shell's token: use the "
                            f"head node's (`ray get-auth-token` on the head prints it) in "
                            f"RAY_AUTH_TOKEN, RAY_AUTH_TOKEN_PATH or ~/.ray/auth_token, "
                            f"whichever this shell uses first") from None
        raise JoinError(f"the Ray cluster at {address} asks for a token (token "
                        f"authentication) and this shell sends none: {TOKEN_HELP}") from None
    except Exception as err:   # e.g. not a Ray GCS at that port: ray.init would say it slower
        raise JoinError(f"cannot join the Ray cluster at {address}: {_first_line(err)}") \
            from None


@contextlib.contextmanager
def _quiet_stderr():
    """File descriptor 2 to /dev/null for the block (C++ logging bypasses sys.stderr)."""
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def _first_line(err: BaseException) -> str:
    lines = str(err).strip().splitlines()
    return lines[0] if lines else type(err).__name__
