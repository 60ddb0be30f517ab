"""Thresher: data curation for language-model pretraining.

The design card's top-level folders are this package's subpackages (see pyproject.toml's
package-dir): `thresher.pipelines` (Beam stages), `thresher.scorers` (pure algorithms),
`thresher.flows` (Prefect flows, CLI, catalog). Importing `thresher` does one thing besides
defining `__version__`: it sets two allocator defaults in the environment (below).
"""

import os
from importlib import metadata

# Arrow's allocator (mimalloc) keeps freed pages for a while by default: a stage streaming a
# 100k-document part in batches held ~200 MB more than Arrow ever had allocated at once, so a
# stage's peak grew with its part size. Returning them at once cost no measurable time and
# kept near dedup's peak within 7% from 100k to 300k documents (bench/results/
# near_dedup_scale.md). Set before pyarrow loads (mimalloc reads its options at start-up); a
# user's own setting wins, and worker processes inherit it.
os.environ.setdefault("MIMALLOC_PURGE_DELAY", "0")
os.environ.setdefault("MIMALLOC_ARENA_EAGER_COMMIT", "0")

try:
    __version__ = metadata.version("thresher")
except metadata.PackageNotFoundError:  # run from a source tree that was never installed
    __version__ = "0.0.0+unknown"
