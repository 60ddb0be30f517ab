"""The run configuration: one typed section per stage, loaded from YAML or JSON.

Validation errors become one `ConfigError` line naming the field, the problem and the fix.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    create_model,
    model_validator,
)

from thresher.pipelines.beam_util import check_beam_args
from thresher.pipelines.collection import NAME_PATTERN
from thresher.pipelines.stages import FILTER_PLACES, STAGES
from thresher.scorers.errors import ConfigError


class RunSettings(BaseModel):
    """What every run has besides its stages' sections. Unknown keys are errors (typos
    must not pass)."""

    model_config = ConfigDict(extra="forbid")

    inputs: list[str] = Field(default_factory=list, description="input paths or globs")
    out: str = Field("thresher-out", description="output root; runs go to <out>/runs/<run_id>")
    run_id: str | None = Field(
        None,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$",
        description="run directory name (default: a hash of config + input files, so reruns resume)",
    )
    partitions: int | None = Field(
        None,
        ge=1,
        le=65536,
        description="hash partitions of each shuffle (ids, text hashes, LSH bands; default: "
        "one per 32 MB of input files, at least 8, so a partition fits a worker's memory)",
    )
    beam_args: list[str] = Field(default_factory=list, description="Beam pipeline flags")
    collection: str | None = Field(
        None,
        pattern=NAME_PATTERN,
        description="make the run the next batch of this collection under <out>/collections/: "
        "it takes only input files no earlier batch took, and dedup also removes duplicates "
        "of what earlier batches kept",
    )

    filters_after: Literal[FILTER_PLACES] = Field(
        "exact_dedup",
        description="where language_id and quality_filters run: right after exact_dedup (each "
        "text judged once; near dedup then compares fewer) or right after near_dedup (fewer "
        "documents to measure when near duplicates are many)",
    )

    @model_validator(mode="after")
    def _languages_for_shards(self):
        shards = getattr(self, "shards", None)  # the stage sections are added below
        if shards is not None and shards.by_language and getattr(self, "language_id", None) is None:
            raise ValueError(
                f"shards.split_by {shards.split_by} needs the documents' languages: add a "
                "`language_id:` section (e.g. `language_id: {}`), or split by source"
            )
        return self

    @model_validator(mode="after")
    def _collection_names_its_runs(self):
        if self.collection and self.run_id:
            raise ValueError(
                "a collection names its batches' runs itself (<collection>-bNNNNN): drop run_id"
            )
        return self


def _section(stage) -> tuple:
    if stage.optional:
        return (stage.config | None, Field(None, description=stage.description))
    return (stage.config, Field(default_factory=stage.config, description=stage.description))


# One section per stage, named after it, built from the stage list so a new stage needs no
# edit here. Optional sections (score, shards) are off unless present.
RunConfig = create_model(
    "RunConfig",
    __base__=RunSettings,
    __doc__="Everything a `thresher run` needs.",
    **{stage.name: _section(stage) for stage in STAGES},
)


def describe_validation_error(exc: ValidationError, origin: str) -> str:
    """First error as one line: 'ingest.max_chars: Input should be ... (got 0)'."""
    err = exc.errors()[0]
    where = ".".join(str(p) for p in err["loc"]) or "(top level)"
    if err["type"] == "extra_forbidden":
        return f"{origin}: unknown setting '{where}': check its spelling against the README's config reference"
    got = (
        f" (got {err['input']!r})" if "input" in err and not isinstance(err["input"], dict) else ""
    )
    more = f"; {len(exc.errors()) - 1} more error(s)" if len(exc.errors()) > 1 else ""
    return f"{origin}: {where}: {err['msg']}{got}{more}"


def load_config(path: str | None = None, **overrides: Any) -> RunConfig:
    """Read a YAML/JSON config file (optional) and apply CLI overrides on top."""
    data: dict = {}
    origin = "config"
    if path:
        p = Path(path)
        origin = f"config {path}"
        if not p.is_file():
            raise ConfigError(f"config file {path} does not exist: check the --config path")
        try:
            data = yaml.safe_load(p.read_text()) or {}
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" at line {mark.line + 1}" if mark else ""
            raise ConfigError(f"{origin} is not valid YAML/JSON{where}: fix the syntax") from None
        if not isinstance(data, dict):
            raise ConfigError(f"{origin} must be a mapping of settings, not {type(data).__name__}")
    for key, value in overrides.items():
        if value is not None:
            data[key] = value
    try:
        config = RunConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(describe_validation_error(exc, origin)) from None
    check_beam_args(config.beam_args)
    return config
