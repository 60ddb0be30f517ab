"""What a run is doing: its run.json and stats files summarised, whether a writer still
holds it, and the progress of the stage that is running now.

A run.json that says `running` is only believed while a process holds the run's write
lock (pipelines/runlock.py); a killed run keeps saying `running`, and is shown as
`interrupted`. The lock is looked up without taking it: taking even a shared lock for an
instant could make a writer that starts at that instant fail with "run is being written".
"""

from __future__ import annotations

import calendar
import json
import os
import socket
import time
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from thresher.pipelines import progress


@dataclass
class RunSummary:
    run_id: str
    record: dict
    stages: list[dict]  # each stage's stats, in run order
    status: str
    progress: dict | None = None  # the running stage: stage, docs, bytes, step, of_docs
    extras: dict = field(default_factory=dict)

    @property
    def stage_names(self) -> list[str]:
        return [s["stage"] for s in self.stages]

    def stats(self, stage: str) -> dict | None:
        return next((s for s in self.stages if s["stage"] == stage), None)

    @property
    def started_at(self) -> str:
        return self.record.get("started_at") or ""

    @property
    def seconds(self) -> float | None:
        if self.status == "running":
            started = _parse_time(self.started_at)
            return round(time.time() - started, 1) if started else None
        return self.record.get("seconds")

    @property
    def input_files(self) -> int | None:
        ingest = self.stats("ingest")
        return ingest.get("files") if ingest else None

    @property
    def input_bytes(self) -> int | None:
        ingest = self.stats("ingest")
        return ingest.get("bytes") if ingest else None

    @property
    def docs_in(self) -> int | None:
        return self.stages[0]["in"] if self.stages else None

    @property
    def docs_final(self) -> int | None:
        """What the last finished stage kept: the run's final documents once it is done."""
        return self.stages[-1]["kept"] if self.stages else None

    @property
    def tokens(self) -> int | None:
        shards = self.stats("shards")
        return shards.get("tokens") if shards else None

    @property
    def error(self) -> str | None:
        return self.record.get("error")

    @property
    def prefect(self) -> dict:
        return self.record.get("prefect") or {}


def load(run_dir: Path) -> RunSummary:
    record = _read(run_dir / "run.json") or {}
    stats = {}
    for path in run_dir.glob("stats/*.json"):
        s = _read(path)
        if s:
            stats[s.get("stage", path.stem)] = s
    names = record.get("stage_order") or stage_names()  # the run's own order, when it says
    ordered = sorted(stats.values(), key=lambda s: _run_order(s, names))
    status = record.get("status") or "unknown"
    summary = RunSummary(run_dir.name, record, ordered, status)
    if status == "running":
        if writer_alive(run_dir):
            summary.progress = running_stage(run_dir, ordered)
        else:
            summary.status = "interrupted"
    return summary


@cache
def stage_names() -> list[str]:
    """Every stage, in the order a run runs them (pipelines/stages.py)."""
    from thresher.pipelines.stages import STAGES

    return [s.name for s in STAGES]


def _run_order(stats: dict, names: list[str]) -> tuple:
    """Stages in run order (`names`), unknown ones last."""
    stage = stats.get("stage")
    return (names.index(stage) if stage in names else len(names), stats.get("finished_at") or "")


def load_all(root: Path) -> list[RunSummary]:
    """Every run under `root`, newest first."""
    runs = [load(p.parent) for p in root.glob("runs/*/run.json")]
    return sorted(runs, key=lambda r: (r.started_at, r.run_id), reverse=True)


def running_stage(run_dir: Path, finished: list[dict]) -> dict | None:
    """The newest staging directory's stage and its workers' counts so far."""
    staging = [p for p in (run_dir / ".staging").glob("*-*") if p.is_dir()]
    if not staging:
        return None
    newest = max(staging, key=lambda p: p.stat().st_mtime)
    snap = progress.snapshot(newest)
    of_docs = finished[-1]["kept"] if finished else None  # what the upstream stage kept
    share = snap["docs"] / of_docs if of_docs else None
    return {
        "stage": newest.name.rsplit("-", 1)[0],
        **snap,
        "of_docs": of_docs,
        "percent": None if share is None else min(100.0, round(100 * share, 1)),
    }


def writer_alive(run_dir: Path) -> bool:
    lock = run_dir / ".lock"
    try:
        st = lock.stat()
    except OSError:
        return False
    held = _flock_in_proc_locks(st)
    if held is not None:
        return held
    return _holder_pid_alive(lock)


def _flock_in_proc_locks(st: os.stat_result) -> bool | None:
    """Whether /proc/locks lists a lock on the file; None where /proc/locks is not there."""
    try:
        text = Path("/proc/locks").read_text()
    except OSError:
        return None
    device = f"{os.major(st.st_dev):02x}:{os.minor(st.st_dev):02x}:{st.st_ino}"
    return any(line.split()[5:6] == [device] for line in text.splitlines() if "FLOCK" in line)


def _holder_pid_alive(lock: Path) -> bool:
    try:
        holder = json.loads(lock.read_text() or "{}")
    except (OSError, ValueError):
        return False
    if holder.get("host") != socket.gethostname():
        return True  # another machine's process: we cannot tell, so believe run.json
    try:
        os.kill(int(holder.get("pid", 0)), 0)
    except (OSError, ValueError):
        return False
    return True


def _read(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):  # being replaced by its writer, or damaged
        return None


def _parse_time(text: str) -> float | None:
    try:
        return calendar.timegm(time.strptime(text, "%Y-%m-%dT%H:%M:%SZ"))
    except (ValueError, TypeError):
        return None
