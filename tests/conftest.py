"""Shared fixtures: a Prefect API for the session, an in-process CLI, tiny input writers.

Tests build their own small data; nothing here reads ../shared or downloads anything.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from thresher.flows.prefect_env import configure

configure()


@pytest.fixture(scope="session")
def prefect_api():
    """One temporary Prefect API server (SQLite) for every flow test (~10 s to start)."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


@pytest.fixture
def cli(capsys):
    """Run `thresher ARGS...` in-process; returns (exit code, stdout, stderr)."""
    from thresher.flows.cli import main

    def run(*args: str) -> tuple[int, str, str]:
        capsys.readouterr()
        try:
            code = main([str(a) for a in args])
        except SystemExit as exc:  # a handler that exits on its own
            code = exc.code
        out, err = capsys.readouterr()
        return code, out, err

    return run


def write_jsonl(path: Path, records: list, gz: bool = False) -> Path:
    """Records may be dicts (serialised) or bytes (written verbatim, for malformed lines)."""
    lines = [
        r if isinstance(r, bytes) else json.dumps(r, ensure_ascii=False).encode() for r in records
    ]
    data = b"\n".join(lines) + b"\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


@pytest.fixture
def jsonl():
    return write_jsonl
