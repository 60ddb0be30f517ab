"""fastText `predict` on several cores with one loaded model.

fastText's Python binding holds the GIL for the whole of `predict` (measured: a pure-Python
thread ran at 4% of its speed while predict ran), so threads sharing one model take turns.
Instead, `PredictPool(model, processes=N)` forks N helpers after the model is loaded: each
sees the parent's model through copy-on-write pages, which predict only reads, so the model
is not copied (a second loaded process would hold a second copy: 2.7 GB more for
PreSelect's). A batch is cut into N contiguous slices, one per helper, and the answers are
joined in input order: the same answers as one call.

The calling thread only sends and waits, and waiting on a pipe releases the GIL: if it
predicted a slice itself it would hold the GIL that long, stalling every other thread of
the process (a Beam runner's other workers reading and writing their parts). Each helper
gets its slice through its own pipe, written by the caller before it waits (a
`multiprocessing.Pool` sends from a background thread, which cannot run while another
thread holds the GIL in predict: measured, two processes ran at 1.0x one). Calls from
several threads take turns, each using every helper.

>>> pool = PredictPool(model, processes=2)          # doctest: +SKIP
>>> labels, probs = pool.predict(lines, k=-1)      # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import threading

MIN_LINES_PER_PROCESS = 64  # below this a slice costs more to ship than to predict


def available_cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def _serve(model, conn) -> None:
    """A helper's loop: (lines, k) in, predict's (labels, probs) out, until None or EOF."""
    with contextlib.suppress(EOFError, KeyboardInterrupt):
        while (job := conn.recv()) is not None:
            lines, k = job
            labels, probs = model.predict(lines, k=k)
            conn.send((list(labels), list(probs)))


class PredictPool:
    """`predict(lines, k)` as the model's, run by `processes` processes (1: in this one)."""

    def __init__(self, model, processes: int = 1):
        self.model = model
        # A daemonic process may not have children (a Dask worker under its nanny is one):
        # there predict runs in this process; such runners already give each core a process.
        forkable = "fork" in multiprocessing.get_all_start_methods()
        forkable = forkable and not multiprocessing.current_process().daemon
        self.processes = max(1, processes) if forkable else 1
        self._helpers: list[tuple[multiprocessing.Process, object]] = []
        self._turn = threading.Lock()  # one call at a time uses the helpers

    def _start(self) -> None:
        context = multiprocessing.get_context("fork")
        for _ in range(self.processes):
            ours, theirs = context.Pipe()
            # forked after the model is loaded: the helper reads it through shared pages
            helper = context.Process(target=_serve, args=(self.model, theirs), daemon=True)
            helper.start()
            theirs.close()
            self._helpers.append((helper, ours))

    def predict(self, lines: list[str], k: int = 1):
        n = min(self.processes, len(lines) // MIN_LINES_PER_PROCESS)
        if n <= 1:
            return self.model.predict(lines, k=k)
        step = -(-len(lines) // n)
        slices = [lines[i : i + step] for i in range(0, len(lines), step)]
        labels, probs = [], []
        with self._turn:
            if not self._helpers:
                self._start()
            busy = self._helpers[: len(slices)]
            for (_, conn), piece in zip(busy, slices, strict=True):
                conn.send((piece, k))  # returns once the helper has read it
            for _, conn in busy:
                more_labels, more_probs = conn.recv()
                labels += more_labels
                probs += more_probs
        return labels, probs

    def close(self) -> None:
        with self._turn:
            for helper, conn in self._helpers:
                with contextlib.suppress(OSError):
                    conn.send(None)
                conn.close()
                helper.join(timeout=5)
                if helper.is_alive():
                    helper.kill()
                    helper.join()
            self._helpers = []

    def __del__(self):
        # at interpreter shutdown this may fail: the helpers are daemons and go with it
        with contextlib.suppress(Exception):
            self.close()
