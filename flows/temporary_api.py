"""Prefect's temporary API server, started as a flow command begins instead of when its
flow does.

Without PREFECT_API_URL, Prefect starts a temporary API server (uvicorn in a subprocess)
when the flow asks for its first client, and waits for it: the command first imports Beam,
the stages and the server's own modules, then sits idle while the server imports the same
modules again and migrates its SQLite database. Started here, right after the command line
is parsed, the server comes up on the other core while this process imports, loads the
models the run names and lists its inputs; and this process never imports the server's
modules (the flow gets the server's URL, as with any running server). Same server, same
database (PREFECT_HOME), same settings; it stops when the command ends.
"""

from __future__ import annotations

import contextlib
import ctypes
import importlib.util
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from thresher.flows.prefect_env import send_pending_logs_and_events

_started: TemporaryAPI | None = None
PR_SET_PDEATHSIG = 1  # linux/prctl.h


class TemporaryAPI:
    def __init__(self, process: subprocess.Popen, url: str, timeout: float):
        self.process, self.url, self.timeout = process, url, timeout
        self._settings = None

    def wait(self) -> None:
        """Block until the server answers, then point this process's Prefect at it."""
        if self._settings is not None:
            return
        deadline = time.monotonic() + self.timeout
        while not healthy(self.url):
            if self.process.poll() is not None or time.monotonic() > deadline:
                # the text the CLI turns into its one-line hint (flows/cli.py)
                raise RuntimeError(
                    "Timed out while attempting to connect to ephemeral Prefect API server."
                )
            time.sleep(0.05)
        from prefect.settings import PREFECT_API_URL, temporary_settings

        self._settings = temporary_settings(updates={PREFECT_API_URL: self.url})
        self._settings.__enter__()

    def stop(self) -> None:
        # Prefect sends its last log lines and events at exit, after this: sent to a server
        # already gone they wait out a 5 s timeout. Send them now, while it still answers.
        send_pending_logs_and_events()
        if self._settings is not None:
            self._settings.__exit__(None, None, None)
            self._settings = None
        self.process.terminate()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def start() -> TemporaryAPI | None:
    """Start the temporary server now, if this command will need one (no API URL set and
    Prefect's temporary mode allowed); None otherwise.

    The server is launched before this process imports Prefect (~1 s here) whenever the
    environment does not already name an API: the child reads the same environment and
    profile as Prefect would here, so nothing needs passing. Once Prefect's settings are
    loaded, a profile that names an API (or turns temporary mode off) stops it again."""
    global _started
    if _api_named():
        return None
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    prefect_dir = Path(importlib.util.find_spec("prefect").origin).parent
    # the command and environment Prefect's own SubprocessASGIServer uses
    env = {
        **os.environ,
        "PREFECT_UI_ENABLED": "0",
        "PREFECT__SERVER_EPHEMERAL": "1",
        "PREFECT__SERVER_FINAL": "1",
    }
    command = [sys.executable, "-m", "uvicorn", "--app-dir", str(prefect_dir.parent)]
    command += ["--factory", "prefect.server.api.server:create_app", "--host", "127.0.0.1"]
    command += ["--port", str(port), "--log-level", "error", "--lifespan", "on"]
    process = subprocess.Popen(command, env=env, preexec_fn=stop_with_parent)
    api = TemporaryAPI(process, f"http://127.0.0.1:{port}/api", timeout=0)
    from prefect.settings import get_current_settings

    settings = get_current_settings()
    if _names_api(settings):
        api.stop()
        return None
    api.timeout = settings.server.ephemeral.startup_timeout_seconds
    _started = api
    return api


def _api_named() -> bool:
    """Is an API server named (or temporary mode off) where that costs nothing to ask: the
    environment, or Prefect's settings when this process has loaded them already (tests,
    `prefect_test_harness`)."""
    if os.environ.get("PREFECT_API_URL"):
        return True
    if "prefect.settings" not in sys.modules:
        return False
    from prefect.settings import get_current_settings

    return _names_api(get_current_settings())


def _names_api(settings) -> bool:
    """Prefect's settings name an API server, or forbid a temporary one."""
    return bool(settings.api.url) or not settings.server.ephemeral.enabled


def ready() -> None:
    """Before a flow starts: wait for the server `start` launched (nothing if none)."""
    if _started is not None:
        _started.wait()


@contextlib.contextmanager
def early(wanted: bool):
    """`start()` when `wanted`, stop at the end of the block."""
    global _started
    api = start() if wanted else None
    try:
        yield api
    finally:
        if api is not None:
            api.stop()
            _started = None


def stop_with_parent() -> None:
    """In the child before exec: SIGTERM when the parent exits (Linux prctl PDEATHSIG; it
    follows the thread that started the child, here the main thread)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def healthy(url: str) -> bool:
    """Does a Prefect API server answer at `url`?"""
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=2) as r:
            return r.status == 200
    except OSError:
        return False
