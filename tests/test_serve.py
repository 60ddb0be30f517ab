"""`thresher serve` against a real Prefect server started here: a collection's deployment
runs on its interval schedule, each drop becomes a batch, the second batch removes what
duplicates the first, and the catalog shows both batches."""

from __future__ import annotations

import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import psutil
import pytest
from textgen import edited, vocabulary  # tests/ is on sys.path (pytest rootdir conftest)

from thresher.flows import catalog
from thresher.pipelines import io


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(check, timeout: float, what: str, procs=()):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if check():
            return
        for p in procs:
            assert p.poll() is None, f"{what}: a service process exited with {p.returncode}"
        time.sleep(0.5)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


@pytest.fixture
def prefect_server(tmp_path):
    """A real `prefect server start` (SQLite under its own PREFECT_HOME) on a free port."""
    port = free_port()
    env = {
        **os.environ,
        "PREFECT_HOME": str(tmp_path / "prefect-home"),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_UI_ENABLED": "false",
    }
    env.pop("PREFECT_API_URL", None)
    with open(tmp_path / "server.log", "wb") as log:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "prefect",
                "server",
                "start",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
            ],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}/api"

    def healthy() -> bool:
        try:
            return urllib.request.urlopen(f"{url}/health", timeout=2).status == 200
        except OSError:
            return False

    try:
        wait_for(healthy, 120, "the Prefect server", [proc])
        yield url, env
    finally:
        stop(proc)


def test_serve_runs_each_drop_as_a_batch_on_schedule(tmp_path, jsonl, prefect_server):
    url, env = prefect_server
    rng = random.Random(5)
    words = vocabulary(rng)
    first = [
        {"id": f"a{i}", "text": " ".join(rng.choice(words) for _ in range(80))} for i in range(150)
    ]
    second = [
        {"id": f"b{i}", "text": " ".join(rng.choice(words) for _ in range(80))} for i in range(100)
    ]
    second += [{"id": f"x{i}", "text": first[i]["text"].upper()} for i in range(10)]  # exact
    second += [
        {"id": f"n{i}", "text": edited(rng, first[20 + i]["text"], 1, words)} for i in range(10)
    ]
    drops = tmp_path / "drops"
    drops.mkdir()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    service = tmp_path / "service.yaml"
    service.write_text(
        json.dumps(
            {
                "out": "out",
                "collections": [{"name": "web", "inputs": ["drops/*.jsonl"], "interval": 5}],
            }
        )
    )
    jsonl(drops / "day-1.jsonl", first)
    serve_env = {**env, "PREFECT_API_URL": url, "PREFECT_RUNNER_POLL_FREQUENCY": "2"}
    with open(tmp_path / "serve.log", "wb") as log:
        serve = subprocess.Popen(
            [sys.executable, "-m", "thresher.flows.cli", "serve", "--config", str(service)],
            cwd=elsewhere,  # relative paths in the service file are the file's folder's
            env=serve_env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    state_file = tmp_path / "out" / "collections" / "web" / "collection.json"

    def committed() -> list[int]:
        if not state_file.exists():
            return []
        return [b["batch"] for b in io.read_json(state_file)["batches"]]

    try:
        wait_for(lambda: committed() == [1], 180, "batch 1 from the schedule", [serve])
        jsonl(drops / "day-2.jsonl", second)  # the next night's drop
        wait_for(lambda: committed() == [1, 2], 180, "batch 2 from the schedule", [serve])
        # later scheduled runs find nothing new and change nothing
        time.sleep(8)
        assert committed() == [1, 2]
    finally:
        stop(serve)

    con = catalog.connect(tmp_path / "out")
    rows = con.execute(
        "SELECT batch, state, files, docs_in, final_kept FROM collections "
        "WHERE collection = 'web' ORDER BY batch"
    ).fetchall()
    assert rows[0][:4] == (1, "committed", 1, 150)
    assert rows[1][:4] == (2, "committed", 1, 120)
    removed = dict(
        con.execute(
            "SELECT kind, count(*) FROM duplicates WHERE run_id = 'web-b00002' GROUP BY kind"
        ).fetchall()
    )
    assert removed.get("exact") == 10 and removed.get("near", 0) >= 9
    assert rows[1][4] == 120 - 10 - removed["near"]
    # both batches ran as flow runs of the served deployment, not in this process
    runs = con.execute("SELECT run_id, status FROM runs ORDER BY run_id").fetchall()
    assert runs == [("web-b00001", "succeeded"), ("web-b00002", "succeeded")]
    flow_runs = json.loads(
        urllib.request.urlopen(
            urllib.request.Request(
                f"{url}/flow_runs/filter",
                data=json.dumps(
                    {"flow_runs": {"state": {"type": {"any_": ["COMPLETED"]}}}}
                ).encode(),
                headers={"Content-Type": "application/json"},
            )
        ).read()
    )
    assert len(flow_runs) >= 2 and all(r["deployment_id"] for r in flow_runs)


def test_the_example_service_file_is_valid(cli):
    example = Path(__file__).parents[1] / "infra" / "service.example.yaml"
    code, out, err = cli("serve", "--config", example, "--check")
    assert code == 0, err
    assert "curate/web: collection web, cron 0 3 * * * (UTC)" in out


def test_a_bad_service_file_is_one_line(tmp_path, cli):
    bad = tmp_path / "service.yaml"
    bad.write_text(json.dumps({"collections": [{"name": "web", "inputs": ["x"]}]}))
    code, _, err = cli("serve", "--config", bad, "--check")
    assert code == 1 and "give exactly one of cron or interval" in err
    bad.write_text(
        json.dumps(
            {"collections": [{"name": "web", "inputs": ["x"], "cron": "0 3 * * *", "schedul": 1}]}
        )
    )
    code, _, err = cli("serve", "--config", bad, "--check")
    assert code == 1 and "unknown setting 'collections.0.schedul'" in err
    assert len(err.strip().splitlines()) == 1


def test_without_an_api_url_serve_starts_a_server_that_schedules(tmp_path, jsonl):
    """Prefect's temporary API runs no scheduler: `serve` starts a real local server instead,
    and stops it on exit."""
    rng = random.Random(9)
    words = vocabulary(rng)
    docs = [
        {"id": f"a{i}", "text": " ".join(rng.choice(words) for _ in range(60))} for i in range(40)
    ]
    jsonl(tmp_path / "drops" / "day-1.jsonl", docs)
    service = tmp_path / "service.yaml"
    service.write_text(
        json.dumps(
            {"out": "out", "collections": [{"name": "web", "inputs": ["drops/*"], "interval": 5}]}
        )
    )
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    env.update(PREFECT_HOME=str(tmp_path / "home"), PREFECT_RUNNER_POLL_FREQUENCY="2")
    env["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
    state_file = tmp_path / "out" / "collections" / "web" / "collection.json"
    with open(tmp_path / "serve.log", "wb") as log:
        serve = subprocess.Popen(
            [sys.executable, "-m", "thresher.flows.cli", "serve", "--config", str(service)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        wait_for(
            lambda: state_file.exists() and io.read_json(state_file)["batches"],
            180,
            "batch 1 from the schedule of the server serve started",
            [serve],
        )
    finally:
        stop(serve)
    assert "started a Prefect server" in (tmp_path / "serve.log").read_text()
    home = str(tmp_path / "home")

    def server_gone() -> bool:
        return not [
            p
            for p in psutil.process_iter(["cmdline", "environ"])
            if "server" in (p.info["cmdline"] or [])
            and (p.info["environ"] or {}).get("PREFECT_HOME") == home
        ]

    wait_for(server_gone, 30, "the Prefect server serve started to stop")
