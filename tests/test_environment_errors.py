"""Failures of the machine, not of Thresher, are one line with what to do: an --out that is a
file, a full disk mid-run (the rerun after freeing space resumes), and a temporary Prefect
API server that does not start in time."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest


def corpus(tmp_path, jsonl, n=3000):
    return jsonl(
        tmp_path / "in.jsonl",
        [{"id": f"d{i}", "text": f"{i} " + "words of text " * 80} for i in range(n)],
    )


def test_out_that_is_a_file_is_one_line(cli, tmp_path, jsonl, prefect_api):
    (tmp_path / "out").write_text("not a directory")
    code, _, err = cli("dedup", "--input", corpus(tmp_path, jsonl, 10), "--out", tmp_path / "out")
    assert (
        code == 1
        and err
        == f"thresher: error: --out {tmp_path / 'out'} is a file: pass a directory (it is created if missing)\n"
    )


@pytest.mark.skipif(os.geteuid() != 0, reason="mounting a small tmpfs needs root (CI runs as root)")
def test_a_full_disk_is_one_line_and_the_rerun_after_freeing_space_resumes(
    cli, tmp_path, jsonl, prefect_api
):
    data = corpus(tmp_path, jsonl)  # ~3 MB of text: ingest's parts do not fit in 1 MB
    disk = tmp_path / "disk"
    disk.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(disk)], check=True)
    try:
        code, _, err = cli("dedup", "--input", data, "--out", disk / "out", "--run-id", "r")
        assert code == 1
        assert err.startswith("thresher: error: the disk is full") and err.count("\n") == 1
        subprocess.run(["mount", "-o", "remount,size=64m", str(disk)], check=True)  # freed
        code, out, err = cli("dedup", "--input", data, "--out", disk / "out", "--run-id", "r")
        assert code == 0, err
        assert "near_dedup" in out
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)  # lazy: a file may still be open


def test_a_temporary_prefect_server_that_does_not_start_in_time_is_one_line(tmp_path, jsonl):
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    env.update(
        PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS="0", PREFECT_HOME=str(tmp_path / "ph")
    )
    data = corpus(tmp_path, jsonl, 10)
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "thresher.flows.cli",
            "dedup",
            "--input",
            str(data),
            "--out",
            str(tmp_path / "out"),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 1, proc.stderr[-2000:]
    assert proc.stderr.count("\n") == 1
    assert "temporary Prefect API server did not start within 0 s" in proc.stderr
