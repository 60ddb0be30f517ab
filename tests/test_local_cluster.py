"""infra/local-cluster.sh: the service topology without containers. Brought up in a fresh
directory, it runs the demo through the Prefect server on its own PostgreSQL and Beam on its
Dask cluster, with outputs byte-identical to Beam's in-process runner; `down` leaves no
process behind."""

from __future__ import annotations

import glob
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest
from test_distributed_and_faults import run_outputs  # tests/ is on sys.path

SCRIPT = Path(__file__).parents[1] / "infra" / "local-cluster.sh"


def cluster(action: str, state: Path, env: dict, timeout: float = 300):
    return subprocess.run(
        ["bash", str(SCRIPT), action, str(state)],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


# the parts `status` lists, but `serve` (started only with a service file)
PARTS = ["postgres", "prefect-server", "dask-scheduler", "dask-worker-1", "dask-worker-2"]
PARTS += ["dashboard"]
ALL_DOWN = dict.fromkeys([*PARTS, "serve"], "down")


def parts(status: str) -> dict[str, str]:
    """`status` output: each part's name and `up` or `down`."""
    return dict(line.split()[:2] for line in status.splitlines())


def exports(stdout: str) -> dict[str, str]:
    """`export NAME=VALUE` lines (the value optionally in double quotes)."""
    found = {}
    for line in stdout.splitlines():
        if line.startswith("export "):
            name, _, value = line.removeprefix("export ").partition("=")
            found[name] = value.strip('"')
    return found


def thresher(env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "thresher.flows.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def post(url: str, body: dict):
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    return json.loads(urllib.request.urlopen(request, timeout=10).read())


def processes_mentioning(text: str) -> list[str]:
    """Command lines of live processes that name `text` (a zombie's command line is empty)."""
    found = []
    for cmdline in glob.glob("/proc/[0-9]*/cmdline"):
        try:
            args = Path(cmdline).read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if text in args:
            found.append(args)
    return found


def process_groups(state: Path) -> list[int]:
    """The cluster's process groups: one per part, and PostgreSQL's postmaster."""
    pidfiles = [*(state / "pids").glob("*.pid"), state / "pg" / "postmaster.pid"]
    return [int(p.read_text().split()[0]) for p in pidfiles if p.exists()]


def group_alive(pgid: int) -> bool:
    """A live process (not a zombie waiting for its parent) in the process group `pgid`."""
    for stat in glob.glob("/proc/[0-9]*/stat"):
        try:
            fields = Path(stat).read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":  # fields: state, ppid, pgrp, ...
            return True
    return False


@pytest.mark.slow
def test_demo_on_the_local_cluster_matches_the_in_process_runner():
    pg_bins = sorted(glob.glob("/usr/lib/postgresql/*/bin"))
    assert pg_bins and os.access(f"{pg_bins[-1]}/initdb", os.X_OK), (
        "PostgreSQL server binaries not found in /usr/lib/postgresql/*/bin: "
        "apt-get install postgresql (.ci/run installs it)"
    )
    # a short path (the unix socket lives in it) that the `postgres` user can enter when the
    # tests run as root (pytest's tmp_path is under a folder private to its user)
    state = Path(tempfile.mkdtemp(prefix="thc-", dir="/tmp"))
    state.chmod(0o755)
    env = {k: v for k, v in os.environ.items() if not k.startswith("THRESHER_")}
    env.pop("PREFECT_API_URL", None)
    env["THRESHER_PYTHON"] = sys.executable
    started = time.monotonic()
    try:
        up = cluster("up", state, env)
        assert up.returncode == 0, up.stderr
        given = exports(up.stdout)
        api, beam_args = given["PREFECT_API_URL"], given["THRESHER_BEAM_ARGS"].split()
        assert "--dask_client_address" in beam_args
        up_seconds = time.monotonic() - started
        page = urllib.request.urlopen(given["THRESHER_DASHBOARD_URL"] + "/", timeout=10)
        assert (
            page.status == 200 and "No runs under this output directory yet" in page.read().decode()
        )

        # the same demo, on Beam's in-process runner and then on the Dask cluster, both
        # recorded by the cluster's Prefect server
        run_env = {**env, "PREFECT_API_URL": api}
        out = state / "out"
        local = thresher(run_env, "run", "--out", str(out), "--run-id", "local")
        assert local.returncode == 0, local.stderr
        on_dask = thresher(
            run_env, "run", "--out", str(out), "--run-id", "cluster", "--", *beam_args
        )
        assert on_dask.returncode == 0, on_dask.stderr

        a, b = run_outputs(out / "runs" / "local"), run_outputs(out / "runs" / "cluster")
        assert {"documents", "dedup", "scores", "shards"} <= {p.split("/")[0] for p in a}
        assert sorted(a) == sorted(b)
        assert a == b

        # the flow run is in the server's API ...
        runs = post(f"{api}/flow_runs/filter", {})
        by_run_id = {r["parameters"]["config"]["run_id"]: r for r in runs}
        assert by_run_id["cluster"]["state_type"] == "COMPLETED"
        # ... and the server's tables are in the cluster's PostgreSQL
        ports = dict(
            line.split("=", 1) for line in (state / "cluster.env").read_text().splitlines()
        )
        psql = [f"{pg_bins[-1]}/psql", "-h", str(state / "sock"), "-p", ports["PG_PORT"]]
        rows = subprocess.run(
            [*psql, "-U", "thresher", "-d", "prefect", "-Atc", "SELECT count(*) FROM flow_run"],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        )
        assert int(rows.stdout) >= 2

        # the dashboard shows both runs; `up` again changes nothing that runs
        page = urllib.request.urlopen(given["THRESHER_DASHBOARD_URL"] + "/", timeout=10).read()
        assert b'data-run="local"' in page and b'data-run="cluster"' in page
        again = cluster("up", state, env)
        assert again.returncode == 0, again.stderr
        assert "prefect-server already up" in again.stderr
        status = cluster("status", state, env)
        assert status.returncode == 0, status.stdout + status.stderr
        assert parts(status.stdout) == {**dict.fromkeys(PARTS, "up"), "serve": "down"}
        print(f"cluster up in {up_seconds:.0f} s; whole test {time.monotonic() - started:.0f} s")
    finally:
        groups = process_groups(state)
        down = cluster("down", state, env)
        left = [g for g in groups if group_alive(g)] + processes_mentioning(str(state))
        status = cluster("status", state, env)
        shutil.rmtree(state, ignore_errors=True)
    assert down.returncode == 0, down.stderr
    assert not left, f"still running after down: {left}"
    assert status.returncode == 3 and parts(status.stdout) == ALL_DOWN
