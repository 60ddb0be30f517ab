"""Collections: a named corpus that grows by batches (e.g. one run per night), deduplicated
across them.

A batch is an ordinary run (`<out>/runs/<collection>-bNNNNN/`) whose dedup stages also look
up what earlier batches of the collection kept. The collection lives in
`<out>/collections/<name>/`:

  collection.json               batches committed (their run, input files, counts), the one
                                pending (started, not committed), the settings that must not
                                change between batches, the partition count
  index/ids/bNNNNN-part-PPPPP.parquet         id: every id ingest accepted (id partition P)
  index/exact/bNNNNN-part-PPPPP.parquet       text_hash, id: the kept documents' exact hashes
  index/near_bands/bNNNNN-part-PPPPP.parquet  key, id: the kept documents' LSH band keys
  index/near_sigs/bNNNNN-part-NNNNN.parquet   id, sig: their MinHash signatures (verification)

Index files are keyed by the same hash partitions as the stages' shuffles (the partition
count is fixed by the first batch), so a stage's worker for partition P reads only the
files of partition P. A stage writes its batch's contributions under `<run>/collection/`;
they join the index only when the whole batch has succeeded (`commit`): the index files
are written first, then `collection.json` names the batch, and readers read only the
batches it names. So a failed or killed batch leaves the collection as it was, and its
rerun (same run directory, same input files) gives the same result.

Keeper rule across batches: a document an earlier batch kept stays kept; a document of the
new batch that duplicates it (exactly, or at or above the near-dup threshold) is removed
in its favour. Within the batch the usual rules apply.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from thresher.pipelines import io
from thresher.pipelines.docsets import DocSet
from thresher.scorers.errors import ConfigError

CONTRIBUTIONS = "collection"  # run-relative: this batch's index contributions, by kind
KINDS = ("ids", "exact", "near_bands", "near_sigs")
STATE = "collection.json"
# a later batch reads only the row groups of the signature index that hold its candidates:
# 1,024 signatures of 128 permutations are ~0.5 MB
SIG_GROUP_ROWS = 1024
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]*$"


def collection_dir(out: str | Path, name: str) -> Path:
    return Path(out).resolve() / "collections" / name


def batch_run_id(name: str, batch: int) -> str:
    return f"{name}-b{batch:05d}"


@dataclass(frozen=True)
class CollectionView:
    """What a batch's stages see of its collection: the committed batches only."""

    name: str
    root: Path
    partitions: int
    batch: int  # this batch's number
    committed: tuple[int, ...] = field(default_factory=tuple)

    def identity(self) -> dict:
        """Part of each dedup stage's fingerprint: a batch rerun against the same committed
        state resumes; against another (a batch committed meanwhile) it runs again."""
        return {"name": self.name, "batch": self.batch, "committed": list(self.committed)}

    def prior(self, kind: str, name: str) -> list[tuple[int, str]]:
        """(batch, path) of the committed index files of `kind` named `name` (e.g. one
        hash partition's file)."""
        found = []
        for b in self.committed:
            path = self.root / "index" / kind / f"b{b:05d}-{name}"
            if path.exists():
                found.append((b, str(path)))
        return found

    def prior_all(self, kind: str) -> list[str]:
        """Every committed index file of `kind`, in batch then name order."""
        wanted = {f"b{b:05d}" for b in self.committed}
        files = sorted((self.root / "index" / kind).glob("b*-*.parquet"))
        return [str(p) for p in files if p.name.split("-", 1)[0] in wanted]

    def read_prior(self, kind: str, name: str, columns: list[str]) -> pa.Table | None:
        """The committed rows of one partition file of `kind`, with a `batch` column."""
        tables = []
        for b, path in self.prior(kind, name):
            t = io.read_parquet_file(path).read(columns=columns)
            tables.append(t.append_column("batch", pa.repeat(b, t.num_rows).cast(pa.int32())))
        return pa.concat_tables(tables) if tables else None


def contribution(staging: str | Path, kind: str, name: str) -> Path:
    """Where a stage writes its batch's rows of index `kind` (published with its outputs)."""
    return Path(staging) / CONTRIBUTIONS / kind / name


def contributions_out(kind: str) -> str:
    """The run-relative directory a stage publishes its contributions of `kind` in."""
    return f"{CONTRIBUTIONS}/{kind}"


class Collection:
    """The collection's state file and its transitions: plan, begin, commit."""

    def __init__(self, out: str | Path, name: str):
        self.name = name
        self.root = collection_dir(out, name)
        self.path = self.root / STATE
        self.state = io.read_json(self.path) if self.path.exists() else None

    @property
    def exists(self) -> bool:
        return self.state is not None

    def committed(self) -> list[dict]:
        return list(self.state["batches"]) if self.state else []

    def ingested_files(self) -> set[tuple]:
        """Fingerprints (path, size, mtime) of every input file a committed or pending batch
        took: a later batch never takes them again."""
        taken = [b["inputs"] for b in self.committed()]
        if self.state and self.state.get("pending"):
            taken.append(self.state["pending"]["inputs"])
        return {tuple(f) for files in taken for f in files}

    def check_settings(self, settings: dict, partitions: int | None) -> None:
        """The settings that decide what 'duplicate' means must stay what the first batch
        used, or the indexes would compare unlike things."""
        if not self.state:
            return
        for section, was in self.state["settings"].items():
            now = settings.get(section)
            if now != was:
                raise ConfigError(
                    f"collection {self.name}: its batches were deduplicated with {section} "
                    f"{_brief(was)}, this run asks for {_brief(now)}: keep the collection's "
                    "settings, or start a new collection"
                )
        if partitions is not None and partitions != self.state["partitions"]:
            raise ConfigError(
                f"collection {self.name} is partitioned {self.state['partitions']} ways (set "
                f"by its first batch); this run asks for {partitions}: drop `partitions`, or "
                f"set it to {self.state['partitions']}"
            )

    def plan(self, listed: list[list]) -> list[tuple[int, list]]:
        """The batches to run now, in order: an unfinished batch first (with exactly the
        files it started with), then one new batch with the listed files (`io.list_inputs`
        fingerprints) no batch took."""
        batches = []
        pending = self.state.get("pending") if self.state else None
        if pending:
            batches.append((pending["batch"], pending["inputs"]))
        taken = self.ingested_files()
        new = [f for f in (absolute(f) for f in listed) if tuple(f) not in taken]
        if new:
            batches.append((self.next_batch() + len(batches), new))
        return batches

    def next_batch(self) -> int:
        done = [b["batch"] for b in self.committed()]
        return max(done, default=0) + 1

    def begin(self, batch: int, inputs: list, settings: dict, partitions: int) -> None:
        """Record the batch as pending (its input files are fixed from now on)."""
        if self.state is None:
            self.state = {
                "name": self.name,
                "created_at": _now(),
                "partitions": partitions,
                "settings": settings,
                "batches": [],
                "pending": None,
            }
        self.state["pending"] = {
            "batch": batch,
            "run_id": batch_run_id(self.name, batch),
            "inputs": inputs,
            "started_at": _now(),
        }
        io.write_json(self.state, self.path)

    def view(self, batch: int) -> CollectionView:
        return CollectionView(
            name=self.name,
            root=self.root,
            partitions=self.state["partitions"],
            batch=batch,
            committed=tuple(b["batch"] for b in self.committed()),
        )

    def commit(
        self,
        batch: int,
        run_dir: Path,
        survivors: pa.Array,
        near_removed: pa.Table | None,
        summary: dict,
    ):
        """Add the batch's contributions to the indexes, then name it in collection.json.

        `survivors`: the ids the batch's dedup stages kept. A stage's contribution may name
        documents a later stage removed (a filter, or near dedup after exact dedup); only
        survivors are keepers, so the exact and signature indexes keep just those.
        `near_removed` (id, keeper): what near dedup removed. Their band keys stay in the
        band index, pointing at their keeper, so a later document that resembles a removed
        one still meets the keeper it would have met in one run over both batches."""
        source = Path(run_dir) / CONTRIBUTIONS
        for kind in KINDS:
            for path in sorted((source / kind).glob("*.parquet")):
                table = io.read_parquet_file(str(path)).read()
                if kind in ("exact", "near_sigs"):
                    table = table.filter(pc.is_in(table["id"], value_set=survivors))
                elif kind == "near_bands" and near_removed is not None and near_removed.num_rows:
                    table = _to_keepers(table, near_removed)
                target = self.root / "index" / kind / f"b{batch:05d}-{path.name}"
                if kind == "near_sigs":  # looked up by id: sorted, in small row groups
                    io.write_parquet(table.sort_by("id"), target, row_group_size=SIG_GROUP_ROWS)
                else:  # atomic; overwritten by a rerun of the commit
                    io.write_parquet(table, target)
        entry = {
            **self.state["pending"],
            "committed_at": _now(),
            **summary,
        }
        self.state["batches"] = [b for b in self.committed() if b["batch"] != batch] + [entry]
        self.state["pending"] = None
        io.write_json(self.state, self.path)  # the commit point

    def index_bytes(self) -> int:
        return sum(p.stat().st_size for p in (self.root / "index").rglob("*.parquet"))


def _to_keepers(bands: pa.Table, removed: pa.Table) -> pa.Table:
    """Band rows with each removed id replaced by its keeper's (sorted and unique again)."""
    table = bands
    where = pc.index_in(table["id"], value_set=removed["id"])
    hit = pc.is_valid(where)
    ids = pc.if_else(hit, removed["keeper"].take(pc.fill_null(where, 0)), table["id"])
    mapped = table.set_column(table.schema.get_field_index("id"), "id", ids)
    unique = mapped.group_by(["key", "id"]).aggregate([])
    return unique.sort_by([("key", "ascending"), ("id", "ascending")])


def absolute(fingerprint: list) -> list:
    """A listed input file with a local path made absolute: a collection compares the files
    of runs started from different working directories (a shell, a scheduled service)."""
    path, *rest = fingerprint
    if "://" not in path:
        path = str(Path(path).resolve())
    return [path, *rest]


def _brief(value) -> str:
    return "off" if value is None else str(value)


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


# What a finished batch adds to its collection, read from the batch's run directory.

DEDUP_STAGES = ("exact_dedup", "near_dedup")  # their settings define a collection's "duplicate"


def dedup_settings(config, plan) -> dict:
    """The planned dedup stages' settings (None for one not run): fixed by the first batch."""
    planned = {stage.name for stage, _ in plan}
    return {s: getattr(config, s).model_dump() if s in planned else None for s in DEDUP_STAGES}


def dedup_survivors(run_dir: Path, plan) -> pa.Array:
    """The ids left after the batch's last dedup stage: the collection's new keepers
    (later stages, e.g. quality selection, do not change what counts as seen)."""
    docs, survivors = DocSet(""), DocSet("")
    for stage, cfg in plan:
        docs = stage.passes_on(docs, cfg)
        if stage.name in DEDUP_STAGES:
            survivors = docs
    ids = survivors.read(run_dir, columns=["id"]) if survivors.parts else pa.table({})
    if "id" not in ids.column_names:  # no documents at all
        return pa.array([], pa.string())
    return ids["id"].combine_chunks()


def near_removed(run_dir: Path, plan) -> pa.Table | None:
    """(id, keeper) of what near dedup removed in this batch (see Collection.commit)."""
    clusters = run_dir / "dedup" / "clusters.parquet"
    if not any(stage.name == "near_dedup" for stage, _ in plan) or not clusters.exists():
        return None
    table = io.read_parquet_file(str(clusters)).read(columns=["id", "cluster_id", "kept"])
    removed = table.filter(pc.invert(table["kept"]))
    return pa.table({"id": removed["id"], "keeper": removed["cluster_id"]}).combine_chunks()


def batch_summary(stats: list[dict]) -> dict:
    """What collection.json keeps per batch (the `collections` view reads it)."""
    by_stage = {s["stage"]: s for s in stats}
    dedup_last = [by_stage[s] for s in DEDUP_STAGES if s in by_stage]
    return {
        "docs_in": by_stage["ingest"]["in"] if "ingest" in by_stage else None,
        "dedup_kept": dedup_last[-1]["kept"] if dedup_last else None,
        "final_kept": stats[-1]["kept"] if stats else None,
        "tokens": by_stage["shards"].get("tokens") if "shards" in by_stage else None,
    }
