"""Progress of a running stage, read from the count files its workers write.

Every stage's workers record each finished unit of work in `<staging>/_counts/*.json`
(see beam_util.record_counts) on every runner, local or distributed, so the driver can
follow a stage without Beam metrics: documents read so far (the `in` counts), input bytes
read (ingest's `bytes`), and the step the stage has reached (the newest count file's
name, e.g. `bands`, `components`, `clusters`, `write`). On a terminal this is a `rich`
progress bar; otherwise one line on stderr every LOG_EVERY seconds.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path

POLL = 0.5
LOG_EVERY = 10.0


def snapshot(staging: Path) -> dict:
    """Documents and bytes read so far, and the step of the newest count file."""
    docs = nbytes = 0
    step, newest = "starting", 0.0
    # a stage's own count files, or those of a work directory inside its staging (shards)
    found = [*staging.glob("_counts/*.json"), *staging.glob("*/_counts/*.json")]
    for path in found:
        try:
            counts = json.loads(path.read_text())
            mtime = path.stat().st_mtime
        except (OSError, ValueError):  # being replaced or already collected
            continue
        docs += counts.get("in", 0) if isinstance(counts.get("in"), int) else 0
        nbytes += counts.get("bytes", 0)
        if mtime >= newest:
            newest, step = mtime, path.stem.split("-")[0]
    return {"docs": docs, "bytes": nbytes, "step": step}


def _line(
    stage: str, s: dict, total_docs: int | None, total_bytes: int | None, seconds: float
) -> str:
    rate = s["docs"] / seconds if seconds > 0 else 0.0
    of = f"/{total_docs:,}" if total_docs else ""
    mb = f", {s['bytes'] / 2**20:,.0f}/{total_bytes / 2**20:,.0f} MB" if total_bytes else ""
    return (
        f"{stage}: {s['docs']:,}{of} documents read{mb}, {rate:,.0f} docs/s, "
        f"step {s['step']}, {seconds:.0f} s"
    )


@contextmanager
def follow(
    stage: str,
    staging: Path,
    total_docs: int | None = None,
    total_bytes: int | None = None,
    stream=None,
):
    """Report the stage's progress while the block runs (a daemon thread; never fails it)."""
    stream = stream or sys.stderr
    done = threading.Event()
    started = time.time()
    interactive = hasattr(stream, "isatty") and stream.isatty()

    def report_lines():
        last = started
        while not done.wait(POLL):
            if time.time() - last >= LOG_EVERY:
                last = time.time()
                print(
                    _line(stage, snapshot(staging), total_docs, total_bytes, last - started),
                    file=stream,
                    flush=True,
                )

    def report_bar():
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

        unit, total = ("bytes", total_bytes) if total_bytes else ("docs", total_docs)
        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.fields[info]}"),
            TimeElapsedColumn(),
            transient=True,
        ) as bar:
            task = bar.add_task(stage, total=total or None, info="")
            while not done.wait(POLL):
                s = snapshot(staging)
                seconds = time.time() - started
                bar.update(
                    task,
                    completed=s[unit],
                    info=f"{s['docs']:,} docs, {s['docs'] / max(seconds, 1e-9):,.0f}/s, {s['step']}",
                )

    thread = threading.Thread(target=report_bar if interactive else report_lines, daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join(timeout=2)
