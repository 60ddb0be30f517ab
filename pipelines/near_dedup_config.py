"""Near dedup's settings (`near_dedup:` in a run config) and its keeper rule: which member
of a near-duplicate cluster stays (`keep`), and the check that a `keep: max:FIELD` rule
found its field at all."""

from __future__ import annotations

import json
import math
from typing import Literal

import numpy as np
import pyarrow as pa
from pydantic import BaseModel, ConfigDict, Field, model_validator

from thresher.scorers import minhash
from thresher.scorers.errors import ConfigError


class NearDedupConfig(BaseModel):
    """MinHash + LSH settings. Defaults: word 5-grams, 128 permutations, threshold 0.8."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = Field(True, description="run the near-dedup stage at all")
    threshold: float = Field(
        0.8, gt=0, lt=1, description="Jaccard similarity that counts as a near duplicate"
    )
    num_perm: int = Field(128, ge=8, le=1024, description="MinHash permutations (signature length)")
    bands: int | None = Field(None, ge=1, description="LSH bands (default: chosen from threshold)")
    rows: int | None = Field(
        None, ge=1, description="rows per band (default: chosen from threshold)"
    )
    fp_weight: float = Field(
        0.1,
        ge=0,
        le=1,
        description="weight of false positives vs (1 - it) false negatives when "
        "choosing bands x rows; low because verification removes false positives afterwards",
    )
    ngram: int = Field(5, ge=1, le=64, description="shingle length in units")
    unit: Literal["word", "char"] = Field(
        "word", description="shingle unit; CJK characters are words"
    )
    lowercase: bool = Field(True, description="fold case before shingling")
    strip_punctuation: bool = Field(True, description="treat punctuation and symbols as spaces")
    normalize_digits: bool = Field(True, description="treat every digit as 0")
    remove_accents: bool = Field(True, description="drop accents (combining marks after NFD)")
    verify: Literal["signature", "exact", "none"] = Field(
        "signature",
        description="check members against their cluster's anchor: estimated "
        "Jaccard from full signatures, exact Jaccard of shingles, or not at all",
    )
    keep: str = Field(
        "longest",
        pattern=r"^(longest|shortest|id|(max|min):[A-Za-z0-9_.-]+)$",
        description="keeper priority: longest, shortest, id (smallest id only), or "
        "max:FIELD / min:FIELD of a numeric metadata field; ties go to the smallest id",
    )
    seed: int = Field(1, ge=0, description="seed of datasketch's permutations")
    batch_size: int = Field(1000, ge=1, le=100_000, description="documents per signature batch")

    @model_validator(mode="after")
    def _check_combination(self):
        if (self.bands is None) != (self.rows is None):
            raise ValueError(
                "bands and rows go together: give both (e.g. bands 14, rows 9) or neither "
                "to have them chosen from the threshold"
            )
        if self.bands is not None and self.bands * self.rows > self.num_perm:
            raise ValueError(
                f"bands x rows = {self.bands * self.rows} exceeds num_perm = {self.num_perm}: "
                "lower bands or rows, or raise num_perm"
            )
        if self.unit == "char" and self.ngram < 3:
            raise ValueError(
                f"char {self.ngram}-grams match almost any two texts: use ngram >= 3 "
                "(5 for CJK-heavy data, 20+ for Latin text) or unit word"
            )
        return self

    def band_rows(self) -> tuple[int, int]:
        if self.bands is not None:
            return self.bands, self.rows
        return minhash.optimal_bands(
            self.threshold, self.num_perm, self.fp_weight, 1 - self.fp_weight
        )

    def spec(self) -> minhash.ShingleSpec:
        return minhash.ShingleSpec(
            ngram=self.ngram,
            unit=self.unit,
            lowercase=self.lowercase,
            strip_punctuation=self.strip_punctuation,
            normalize_digits=self.normalize_digits,
            remove_accents=self.remove_accents,
        )


def priorities(keep: str, n_chars: pa.Array, metadata: pa.Array) -> np.ndarray:
    """Smaller is better. Missing or non-numeric metadata values rank last."""
    if keep in ("longest", "shortest"):
        n = np.asarray(n_chars.to_numpy(zero_copy_only=False), dtype=np.float64)
        return -n if keep == "longest" else n
    if keep == "id":
        return np.zeros(len(n_chars))
    sign, field = keep.split(":", 1)
    values = []
    for raw in metadata.to_pylist():
        try:
            v = float(json.loads(raw or "{}").get(field))
        except (TypeError, ValueError, AttributeError):
            v = math.nan
        values.append(v)
    v = np.asarray(values, dtype=np.float64)
    v = -v if sign == "max" else v
    return np.where(np.isnan(v), np.inf, v)


def check_keep_field(cfg: NearDedupConfig, counts: dict) -> None:
    """`keep: max:FIELD` ranks members by a metadata field; members without it rank last
    (counted in the stats as keep_field_missing). When no candidate at all has the field,
    the rule decided nothing: almost surely a misspelt field, so the run stops."""
    counts.setdefault("keep_field_missing", 0)
    if (
        ":" in cfg.keep
        and counts["candidates"]
        and counts["keep_field_missing"] == counts["candidates"]
    ):
        field = cfg.keep.split(":", 1)[1]
        raise ConfigError(
            f"near_dedup.keep {cfg.keep}: none of the {counts['candidates']} near-duplicate "
            f"candidates has a numeric metadata field '{field}': check the field name, or use "
            "keep longest / shortest / id"
        )
