"""One writer per run directory: a second writer fails with one line naming the holder,
and a killed holder leaves no lock behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from thresher.pipelines import runlock

HOLD = """
import sys, time
from thresher.pipelines import runlock
with runlock.hold(sys.argv[1]):
    print("held", flush=True)
    time.sleep(600)
"""


def test_a_second_run_into_a_locked_run_exits_1_naming_the_holder(
    tmp_path, jsonl, cli, prefect_api
):
    data = jsonl(
        tmp_path / "in.jsonl",
        [{"id": f"d{i}", "text": f"text number {i} " * 30} for i in range(50)],
    )
    run_dir = tmp_path / "out" / "runs" / "r1"
    with runlock.hold(run_dir) as holder:
        code, _, err = cli("dedup", "--input", data, "--out", tmp_path / "out", "--run-id", "r1")
    assert code == 1
    assert err.count("\n") == 1 and f"PID {os.getpid()} on {holder['host']}" in err
    assert "another --run-id" in err
    assert not (run_dir / "stats").exists()  # the second writer wrote nothing
    code, _, err = cli("dedup", "--input", data, "--out", tmp_path / "out", "--run-id", "r1")
    assert code == 0, err  # released when the holder's block ended


def test_a_killed_holder_releases_the_lock(tmp_path):
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(tmp_path / "run")], stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout.readline().strip() == "held"
        with (
            pytest.raises(runlock.RunLocked, match=f"PID {proc.pid} "),
            runlock.hold(tmp_path / "run"),
        ):
            pass
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    with runlock.hold(tmp_path / "run", wait=5) as holder:  # no stale lock after SIGKILL
        assert holder["pid"] == os.getpid()


def test_a_waiting_writer_gets_the_lock_when_the_holder_finishes(tmp_path):
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD.replace("600", "1"), str(tmp_path / "run")],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout.readline().strip() == "held"
    started = time.time()
    with runlock.hold(tmp_path / "run", wait=30):
        waited = time.time() - started
    assert 0.3 < waited < 30  # it waited for the holder's second, then got the lock
    proc.wait()
