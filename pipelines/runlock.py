"""One writer per run directory: an OS-level lock that a killed process releases.

`flock` on `<run>/.lock` is held for the whole run; the kernel drops it when the holder
exits for any reason (SIGKILL included), so there is never a stale lock to clean up. The
file also names the holder (PID, host, start time) so a second writer can say who has it.
On filesystems without `flock` (some network mounts) the lock is a no-op on other hosts:
give every concurrent run its own --run-id there.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import time
from contextlib import contextmanager
from pathlib import Path

from thresher.scorers.errors import UserError

LOCK_NAME = ".lock"


class RunLocked(UserError):
    """Another process is writing this run."""


@contextmanager
def hold(run_dir: Path, wait: float = 0.0, what: str | None = None):
    """Hold the run directory's write lock for the block; wait up to `wait` seconds for a
    holder to finish, then fail with one line naming it. `what` names the directory in that
    line (default: the run)."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(run_dir / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        deadline = time.time() + wait
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.time() >= deadline:
                    raise RunLocked(_held_by(fd, run_dir, what)) from None
                time.sleep(0.5)
        holder = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(holder).encode(), 0)
        yield holder
    finally:
        os.close(fd)  # closing the descriptor releases the lock


def _held_by(fd: int, run_dir: Path, what: str | None) -> str:
    try:
        h = json.loads(os.pread(fd, 4096, 0) or b"{}")
    except ValueError:
        h = {}
    who = f"PID {h.get('pid', '?')} on {h.get('host', '?')} since {h.get('started', '?')}"
    if what:
        return f"{what} is being written by {who}: wait for that run to finish"
    return (
        f"run {run_dir} is being written by {who}: wait for it to finish, or run with "
        "another --run-id"
    )
