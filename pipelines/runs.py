"""The run directory and its `run.json`: config, versions, status, per-stage timings."""

from __future__ import annotations

import platform
import time
from importlib import metadata
from pathlib import Path

from thresher.pipelines import io
from thresher.pipelines.stage import fingerprint

PACKAGES = (
    "thresher",
    "apache-beam",
    "prefect",
    "pyarrow",
    "duckdb",
    "datasketch",
    "fasttext-numpy2-wheel",
    "tokenizers",
    "tiktoken",
    "highspy",
    "numpy",
)


def package_versions() -> dict:
    versions = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def default_run_id(config: dict, input_files: list) -> str:
    """Same config + same input files -> same run id, so a rerun resumes that run.

    Runner flags are left out: outputs are byte-identical on every runner, so a run
    started locally can be resumed on a cluster."""
    settings = {
        k: v
        for k, v in config.items()
        if k not in {"out", "run_id", "inputs", "beam_args", "collection"}
    }
    return "run-" + fingerprint(settings, input_files)[:12]


class RunRecord:
    """Keeps `run.json` current: written at start, after every stage, and at the end."""

    def __init__(self, run_dir: Path, config: dict, batch: int | None = None):
        """`batch`: the run's number in its collection (config["collection"]), if any."""
        self.run_dir = Path(run_dir)
        self.path = self.run_dir / "run.json"
        previous = io.read_json(self.path) if self.path.exists() else {}
        self.data = {
            "run_id": self.run_dir.name,
            "config": config,
            "versions": package_versions(),
            "status": "running",
            "started_at": _now(),
            "attempts": previous.get("attempts", 0) + 1,
            "stages": {},
            "final_documents": None,
            "collection": config.get("collection"),
            "batch": batch,
        }
        self._t0 = time.time()
        self.save()

    def stage_done(self, stats: dict, documents: str) -> None:
        """`documents`: the document set later stages (and the `documents` view) read."""
        self.data["stages"][stats["stage"]] = {
            "seconds": stats["seconds"],
            "skipped": stats.get("skipped", False),
            "in": stats["in"],
            "kept": stats["kept"],
        }
        self.data["final_documents"] = documents
        self.save()

    def finish(self, status: str, error: str | None = None) -> None:
        self.data.update(
            status=status, finished_at=_now(), seconds=round(time.time() - self._t0, 3)
        )
        if error:
            self.data["error"] = error
        self.save()

    def save(self) -> None:
        io.write_json(self.data, self.path)


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
