"""Thresher: data curation for language-model pretraining.

The design card's top-level folders are this package's subpackages (see pyproject.toml's
package-dir): `thresher.pipelines` (Beam stages), `thresher.scorers` (pure algorithms),
`thresher.flows` (Prefect flows, CLI, catalog). Importing `thresher` has no side effects.
"""

from importlib import metadata

try:
    __version__ = metadata.version("thresher")
except metadata.PackageNotFoundError:  # run from a source tree that was never installed
    __version__ = "0.0.0+unknown"
