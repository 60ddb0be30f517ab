"""Progress of a running stage is read from the count files its workers write."""

from __future__ import annotations

import io as stdio
import time

from thresher.pipelines import progress
from thresher.pipelines.beam_util import record_counts


def test_progress_lines_report_documents_bytes_rate_and_step(tmp_path, monkeypatch):
    monkeypatch.setattr(progress, "LOG_EVERY", 0.2)
    monkeypatch.setattr(progress, "POLL", 0.05)
    stream = stdio.StringIO()  # not a terminal: plain lines
    with progress.follow("ingest", tmp_path, total_bytes=4 << 20, stream=stream):
        record_counts(tmp_path, "read-00000", {"in": 1500, "bytes": 1 << 20})
        record_counts(tmp_path, "read-00001", {"in": 500, "bytes": 1 << 20})
        time.sleep(0.6)
    lines = stream.getvalue().splitlines()
    assert lines, "no progress line was written"
    assert lines[-1].startswith("ingest: 2,000 documents read, 2/4 MB, ")
    assert "step read" in lines[-1]


def test_snapshot_follows_the_newest_step_and_ignores_non_counts(tmp_path):
    record_counts(tmp_path, "bands-00000", {"in": 10, "no_shingles": 1})
    time.sleep(0.01)
    record_counts(tmp_path, "components", {"candidates": 4})
    s = progress.snapshot(tmp_path)
    assert s == {"docs": 10, "bytes": 0, "step": "components"}
    assert progress.snapshot(tmp_path / "missing") == {"docs": 0, "bytes": 0, "step": "starting"}
