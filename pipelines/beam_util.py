"""Beam plumbing shared by every stage: runner choice, partition keys, counters, writers.

Elements are *batches* (Arrow tables of a few thousand documents): Beam's local runner
costs 50-100 us per element, so per-document elements would dominate the run time.
"""

from __future__ import annotations

import difflib
import os
import uuid
from contextlib import contextmanager
from pathlib import Path

import apache_beam as beam
import pyarrow as pa
import xxhash
from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions

from thresher.pipelines import io
from thresher.scorers.errors import ConfigError


def make_pipeline(beam_args: list[str] | None = None) -> beam.Pipeline:
    """A pipeline on the runner the flags name, else Beam's in-process FnApiRunner.

    The in-process runner is chosen explicitly because Beam's default (Prism) downloads
    a binary on first use, which cannot work offline. Flags pass through unchanged, so
    `--runner DaskRunner --dask_client_address ...` or `--runner FlinkRunner ...` work.
    """
    args = list(beam_args or [])
    options = PipelineOptions(args)
    if options.view_as(StandardOptions).runner:
        return beam.Pipeline(options=options)
    from apache_beam.runners.portability.fn_api_runner import FnApiRunner

    # One worker thread per core (at most 4) unless the flags say otherwise: the heavy parts
    # of every stage (inflate, Parquet encode/decode, Arrow and numpy kernels) release the
    # GIL, so threads overlap them with the Python parts; worker processes cost ~1-2 s of
    # start-up per stage, which the 100k-document benchmark does not win back.
    if not any(a.startswith("--direct_num_workers") for a in args):
        args.append(f"--direct_num_workers={min(os.cpu_count() or 1, 4)}")
    if not any(a.startswith("--direct_running_mode") for a in args):
        args.append("--direct_running_mode=multi_threading")
    return beam.Pipeline(runner=FnApiRunner(), options=PipelineOptions(args))


def _beam_option_parser():
    """Beam's option parser as `PipelineOptions.get_all_options` builds it: every
    PipelineOptions subclass defined so far adds its flags (once per class name)."""
    from apache_beam.options.pipeline_options import PipelineOptions, _BeamArgumentParser

    class Parser(_BeamArgumentParser):
        def error(self, message: str):
            if message.startswith("ambiguous option: "):  # Beam ignores these too
                return
            raise ConfigError(f"Beam option: {message}")

    parser = Parser(allow_abbrev=False)
    classes: dict[str, type] = {}
    for cls in PipelineOptions.__subclasses__():
        classes.setdefault(str(cls), cls)  # a class defined twice (e.g. in __main__) adds once
    for cls in classes.values():
        cls._add_argparse_args(parser)
    return parser


def _load_runner(name: str) -> None:
    """Import the runner `--runner` names, so its own option class (e.g. DaskOptions) is
    known; a runner Beam cannot find is a usage error now rather than mid-flow."""
    from apache_beam.runners.runner import create_runner

    try:
        create_runner(name)
    except (ValueError, ImportError, AttributeError) as exc:
        raise ConfigError(f"Beam runner {name!r}: {' '.join(str(exc).split())}") from None


def check_beam_args(beam_args: list[str]) -> list[str]:
    """Beam pipeline flags (after `--` on the command line, or `beam_args` in a config),
    checked by Beam's own parser: Beam itself would only log "Discarding unparseable args"
    and run with its defaults. Returns them unchanged; a bad one is a one-line ConfigError."""
    import apache_beam  # noqa: F401  (defines Beam's option classes)

    parser = _beam_option_parser()
    known, unknown = parser.parse_known_args(beam_args)
    if getattr(known, "runner", None):
        _load_runner(known.runner)
        parser = _beam_option_parser()
        known, unknown = parser.parse_known_args(beam_args)
    if unknown:
        raise ConfigError(_unknown_beam_arg(unknown[0], parser))
    return beam_args


def _unknown_beam_arg(arg: str, parser) -> str:
    if not arg.startswith("-"):
        return f"unexpected Beam argument {arg!r}"
    name = arg.split("=", 1)[0]
    close = difflib.get_close_matches(name, list(parser._option_string_actions), n=1)
    return f"unknown Beam option {name}; " + (
        f"did you mean {close[0]}?" if close else "no Beam pipeline option is close"
    )


def partition_of(key: str, partitions: int) -> int:
    """Stable partition for a key: the same on every runner, machine and Python process."""
    return xxhash.xxh64_intdigest(key.encode("utf-8", "surrogatepass")) % partitions


def split_by_partition(table: pa.Table, keys: list[str], partitions: int):
    """Yield (partition, sub-table) for the rows of `table`, keyed by `keys[i]`."""
    if table.num_rows == 0:
        return
    import numpy as np

    parts = np.fromiter((partition_of(k, partitions) for k in keys), np.int64, len(keys))
    order = np.argsort(parts, kind="stable")
    sorted_parts = parts[order]
    bounds = np.flatnonzero(np.diff(sorted_parts)) + 1
    for chunk in np.split(order, bounds):
        yield int(parts[chunk[0]]), table.take(pa.array(chunk))


def merge_counts(counts) -> dict:
    """Sum count dictionaries; nested dicts (e.g. dropped-by-reason) are summed too."""
    total: dict = {}
    for c in counts:
        for k, v in c.items():
            if isinstance(v, dict):
                inner = total.setdefault(k, {})
                for reason, n in v.items():
                    inner[reason] = inner.get(reason, 0) + n
            else:
                total[k] = total.get(k, 0) + v
    return total


def record_counts(staging: str | Path, name: str, counts: dict) -> None:
    """Write one unit of work's counts to `<staging>/_counts/<name>.json`.

    Counts travel as files, not Beam metrics or a CombineGlobally, so they are exact on
    every runner (Beam's Dask runner does not support combiners with side inputs). `name`
    is deterministic per unit of work, so a retried bundle overwrites, never double counts.
    """
    io.write_json(counts, Path(staging) / "_counts" / f"{name}.json")


def spill(table: pa.Table, staging: str | Path, partition: int) -> str:
    """Write a batch bound for `partition` to an Arrow IPC file; returns its path.

    Shuffling file paths instead of tables keeps Beam's data plane and memory out of the
    hot path (pickling 300 MB through the local runner's GroupByKey doubled stage time,
    and held it all in memory). Workers already share the staging directory, since they
    write the outputs there. Files from a failed, retried bundle are never referenced
    downstream and vanish with the staging directory.
    """
    import uuid

    directory = Path(staging) / "_spill" / f"p{partition:05d}"
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{uuid.uuid4().hex}.arrow"
    with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_file(sink, table.schema) as writer:
        writer.write_table(table)
    return str(path)


def unspill(paths) -> pa.Table | None:
    """Read and concatenate spilled batches (memory-mapped); None for no paths."""
    tables = []
    for path in sorted(paths):  # one order per set of files (consumers sort what they need)
        with pa.memory_map(path) as source:
            tables.append(pa.ipc.open_file(source).read_all())
    table = pa.concat_tables(tables) if tables else None
    if table is not None:
        table = table.combine_chunks()  # copy out of the maps: the files may go any time
    return table


@contextmanager
def unspilled(paths):
    """`with unspilled(paths) as table:` the spilled batches, read. The files are deleted
    only when the block completes, so a bundle that fails inside it can be retried on the
    same files (distributed runners replay a failed bundle's elements); whatever a failed
    stage leaves goes with its staging directory."""
    paths = list(paths)
    yield unspill(paths)
    for path in paths:
        Path(path).unlink(missing_ok=True)


def write_arrow(table: pa.Table, path: str | Path, batch_rows: int | None = None) -> None:
    """A stage-internal table at a fixed staging path, written atomically (a retried step
    rewrites it whole; a reader never sees half of it); in batches of at most `batch_rows`
    rows, for a reader that streams it (`arrow_batches`)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".tmp-{uuid.uuid4().hex}-{path.name}")
    with pa.OSFile(str(tmp), "wb") as sink, pa.ipc.new_file(sink, table.schema) as writer:
        writer.write_table(table, max_chunksize=batch_rows)
    os.replace(tmp, path)


def arrow_batches(path: str | Path):
    """The record batches of a file `write_arrow` wrote, one at a time (memory-mapped)."""
    with pa.memory_map(str(path)) as source:
        reader = pa.ipc.open_file(source)
        for i in range(reader.num_record_batches):
            yield pa.Table.from_batches([reader.get_batch(i)])


def read_arrow(path: str | Path) -> pa.Table:
    """A table written by `write_arrow` (memory-mapped: pages load as they are used)."""
    with pa.memory_map(str(path)) as source:
        return pa.ipc.open_file(source).read_all()


def spill_by_value(
    table: pa.Table, column: str, staging: str | Path, partition: int, keep: list[str] | None = None
):
    """Yield (value, spilled rows) for every distinct value of `column`, e.g. to send rows
    to the documents part they belong to; `keep` selects the columns spilled."""
    import numpy as np

    values = table.column(column).to_numpy(zero_copy_only=False)
    rows = table.select(keep) if keep else table
    for value in np.unique(values).tolist():
        yield value, spill(rows.filter(pa.array(values == value)), staging, partition)
