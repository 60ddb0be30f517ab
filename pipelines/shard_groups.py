"""What a shard set is split by (`shards.split_by`): each document's group is its source,
its language (from the run's language ID attributes, joined on id), or both.

The planner (pipelines.shards.Plan) holds every document's metadata in one worker anyway,
so the language join happens there: one (id, language) table of the run, no extra pass.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from thresher.pipelines import io
from thresher.pipelines.attributes import LANGUAGE_ATTRIBUTES
from thresher.pipelines.stage import StageContext
from thresher.scorers.errors import ConfigError

UNDETERMINED = "und"  # BCP 47's code for a document without a language


def label(meta: pa.Table, split_by: str, languages: pa.Table | None) -> pa.Table:
    """`meta` with `language` (from `languages`: id, language; joined on id) and `group`
    columns: what a shard set is split by."""
    if languages is None:
        meta = meta.append_column("language", pa.nulls(meta.num_rows, pa.string()))
    else:
        meta = meta.join(languages, "id", join_type="left outer")
        meta = meta.set_column(
            meta.schema.get_field_index("language"),
            "language",
            pc.fill_null(meta["language"], UNDETERMINED),
        )
    group = {
        "source": meta["source"],
        "language": meta["language"],
        "source_language": pc.binary_join_element_wise(meta["source"], meta["language"], "."),
    }[split_by]
    return meta.append_column("group", group)


def read_languages(directory: str | None) -> pa.Table | None:
    """(id, language) of every document language ID measured, or None without a directory."""
    if directory is None:
        return None
    parts = sorted(Path(directory).glob("part-*.parquet"))
    if not parts:
        return pa.table({"id": pa.array([], pa.string()), "language": pa.array([], pa.string())})
    return io.read_table(parts, columns=["id", "language"])


def language_source(ctx: StageContext) -> str:
    """Language ID's attributes directory in this run (split_by needs it), or a one-line error."""
    if not ctx.stats_path("language_id").exists():
        raise ConfigError(
            "shards.split_by needs the documents' languages: add a `language_id:` section "
            "(e.g. `language_id: {}`) to the run config, or split by source"
        )
    return str(ctx.run_dir / LANGUAGE_ATTRIBUTES)
