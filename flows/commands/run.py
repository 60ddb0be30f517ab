"""`thresher run`: the `curate` flow on the demo corpus or the user's data."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_run_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--input",
        action="append",
        metavar="GLOB",
        help="input file, directory or glob (repeatable); default: the demo corpus",
    )
    p.add_argument("--out", help="output root (default: ./thresher-out)")
    p.add_argument("--config", metavar="FILE", help="YAML/JSON run config (see README)")
    p.add_argument("--run-id", help="run directory name (default: hash of config + inputs)")
    p.add_argument("--partitions", type=int, help="part files per output table")
    p.add_argument(
        "--collection",
        metavar="NAME",
        help="run as the next batch of this collection: only input files no earlier batch "
        "took, deduplicated against what earlier batches kept",
    )


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "run",
        help="run the curate flow (no arguments: the built-in demo)",
        description="Run the curate flow: ingest -> exact dedup -> ... into <out>/runs/<run_id>/. "
        "Beam options go after a literal -- and are checked by Beam's own parser (e.g. -- "
        "--runner apache_beam.runners.dask.dask_runner.DaskRunner --dask_client_address "
        "HOST:PORT); the default runner is Beam's in-process runner.",
    )
    add_run_arguments(p)
    p.set_defaults(handler=handle, accepts_beam_args=True, starts_flow=True)


def load_run_config(args, with_models: bool = True):
    """The run config from --config plus flags; without inputs, the demo's settings
    (corpus generated under <out>/demo-input, and with `with_models` its own scorer and
    tokenizer) under anything the user gave."""
    from thresher.pipelines.config import load_config

    overrides = {
        "out": args.out,
        "run_id": args.run_id,
        "partitions": args.partitions,
        "collection": args.collection,
    }
    if args.beam_args:
        overrides["beam_args"] = args.beam_args
    if args.input:
        overrides["inputs"] = args.input
    config = load_config(args.config, **overrides)
    if config.inputs:
        return config
    from thresher.flows.demo import write_demo_corpus
    from thresher.flows.demo_models import DEMO_SETTINGS, demo_score_settings, demo_shards_settings

    out, demo_dir = Path(config.out), Path(config.out) / "demo-input"
    write_demo_corpus(demo_dir)
    data = config.model_dump(exclude_unset=True)
    for section, values in DEMO_SETTINGS.items():
        data[section] = {**values, **data.get(section, {})}
    if with_models:
        data.setdefault("score", demo_score_settings(out, demo_dir))
        data.setdefault("shards", demo_shards_settings(out, demo_dir))
    data["inputs"] = [str(demo_dir)]
    return load_config(None, **data)


def print_summary(summary: dict) -> None:
    if "batches" in summary:
        print_collection_summary(summary)
        return
    from thresher.flows.curate import FUNNEL_COLUMNS
    from thresher.flows.render import table_text

    print()
    print(table_text(summary["funnel"], FUNNEL_COLUMNS))
    print()
    print(f"outputs: {summary['run_dir']}")
    out_root = Path(summary["run_dir"]).parent.parent
    shard_stats = Path(summary["run_dir"]) / "stats" / "shards.json"
    if shard_stats.exists():
        from thresher.pipelines import io

        st, name = io.read_json(shard_stats), summary["run_dir"] + "/shards/"
        print(
            f"shards:  {st['shards']} Megatron shards, {st['tokens']:,} tokens ({st['dtype']}) "
            f"in {name}{st['config']['shards']['name']}/ (blend.txt for --data-path)"
        )
    print(
        f'query:   thresher query --out {out_root} "SELECT source, count(*) FROM documents GROUP BY ALL"'
    )


def print_collection_summary(summary: dict) -> None:
    name, batches = summary["collection"], summary["batches"]
    if not batches:
        print(
            f"collection {name}: nothing new: the {summary['listed_files']} input file(s) "
            "listed were all taken by earlier batches"
        )
        return
    for batch in batches:
        print(f"\ncollection {name}, batch {batch['batch']}:")
        print_summary(batch)
    print(f"collection: {summary['collection_dir']}")


def handle(args) -> int:
    from thresher.flows import temporary_api

    config = load_run_config(args)
    from thresher.flows.curate import curate

    temporary_api.ready()  # started with the command (flows/temporary_api.py)
    summary = curate(config)
    print_summary(summary)
    return 0
