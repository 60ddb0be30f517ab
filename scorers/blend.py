"""Mixture-weighted emission: how many copies of which documents each source contributes.

Given per-source document token counts (in the seeded hash order the shards use) and
target token shares, every source gets `target = share * budget` tokens: `r` full passes
over its documents (r = 0 when down-sampling) plus the prefix of its hash order whose
running total lands closest to the remainder. Whole documents only, so each source is off
by at most half a document's tokens; the hash order makes the choice seeded and
independent of input order.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml

from thresher.scorers.errors import ConfigError, InputError

SHARE_KEYS = ("proportions", "weights", "shares", "mixture")


def load_shares(path: str | Path) -> dict[str, float]:
    """Target shares from YAML/JSON: `{source: share}`, or the same under one of
    `proportions`/`weights`/`shares` (a mixture flow's `mixture.json`), or a list of
    `{source|category|name, proportion|share|weight}` rows. Normalised to sum to 1."""
    p = Path(path)
    if not p.is_file():
        raise InputError(f"mixture file {path} does not exist: pass a YAML/JSON of source shares")
    try:
        data = yaml.safe_load(p.read_text())
    except yaml.YAMLError:
        raise ConfigError(f"mixture file {path} is not valid YAML/JSON: fix the syntax") from None
    if isinstance(data, dict):
        data = next((data[k] for k in SHARE_KEYS if k in data), data)
    if isinstance(data, list):
        rows = {}
        for row in data:
            name = next((row.get(k) for k in ("source", "category", "name") if k in row), None)
            value = next((row.get(k) for k in ("proportion", "share", "weight") if k in row), None)
            if name is None or value is None:
                raise ConfigError(f"mixture file {path}: each row needs a source and a proportion")
            rows[str(name)] = value
        data = rows
    if not isinstance(data, dict) or not data:
        raise ConfigError(f"mixture file {path} must map source names to token shares")
    return normalise_shares({str(k): v for k, v in data.items()}, str(path))


def normalise_shares(shares: dict, origin: str = "mixture") -> dict[str, float]:
    out = {}
    for name, value in shares.items():
        if not isinstance(value, int | float) or value < 0 or not np.isfinite(value):
            raise ConfigError(f"{origin}: share of '{name}' must be a number >= 0, got {value!r}")
        out[name] = float(value)
    total = sum(out.values())
    if total <= 0:
        raise ConfigError(f"{origin}: shares sum to 0; give at least one source a positive share")
    return {k: v / total for k, v in sorted(out.items())}


@dataclass
class SourcePlan:
    source: str
    repeats: int  # full passes over every document
    prefix: int  # then one more copy of the first `prefix` documents in hash order
    available: int  # tokens in the source
    target: float
    achieved: int

    def copies(self, n_docs: int) -> np.ndarray:
        """Copies of each document, in hash order."""
        c = np.full(n_docs, self.repeats, np.int64)
        c[: self.prefix] += 1
        return c


def plan_mixture(
    tokens: dict[str, np.ndarray], shares: dict[str, float], budget: int | None
) -> dict[str, SourcePlan]:
    """`tokens[source]` = per-document token counts in hash order. Without a budget, the
    largest one that needs no repetition (the scarcest source is used whole)."""
    missing = sorted(set(shares) - set(tokens))
    if missing:
        raise ConfigError(
            f"mixture names source(s) with no documents: {', '.join(missing)} "
            f"(sources present: {', '.join(sorted(tokens)) or 'none'}); fix the mixture file"
        )
    totals = {s: int(t.sum()) for s, t in tokens.items()}
    if budget is None:
        budget = int(min(totals[s] / w for s, w in shares.items() if w > 0))
    plans = {}
    for source, counts in sorted(tokens.items()):
        target = shares.get(source, 0.0) * budget
        total = totals[source]
        repeats, rest = divmod(target, total) if total else (0, 0.0)
        cum = np.concatenate([[0], np.cumsum(counts)])
        # the prefix whose running total is closest to what is left to emit
        k = int(np.searchsorted(cum, rest))
        if k >= len(cum) or (k > 0 and rest - cum[k - 1] <= cum[k] - rest):
            k = max(k - 1, 0)
        achieved = int(repeats) * total + int(cum[k])
        plans[source] = SourcePlan(source, int(repeats), k, total, target, achieved)
    return plans


def achieved_table(plans: dict[str, SourcePlan], shares: dict[str, float]) -> list[dict]:
    """Rows of source, target/achieved share and tokens, repeats, error in tokens."""
    total = sum(p.achieved for p in plans.values()) or 1
    return [
        {
            "source": p.source,
            "target_share": round(shares.get(p.source, 0.0), 6),
            "achieved_share": round(p.achieved / total, 6),
            "target_tokens": round(p.target),
            "achieved_tokens": p.achieved,
            "available_tokens": p.available,
            "epochs": round(p.achieved / p.available, 4) if p.available else 0.0,
        }
        for p in plans.values()
    ]
