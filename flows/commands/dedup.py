"""`thresher dedup`: ingest + exact dedup + near dedup alone, as a small Prefect flow."""

from __future__ import annotations

import argparse
from pathlib import Path

DEDUP_STAGES = ("ingest", "exact_dedup", "near_dedup")
NEAR_FLAGS = ("threshold", "num_perm", "bands", "rows", "ngram", "unit", "verify", "keep")


def register(sub: argparse._SubParsersAction) -> None:
    from thresher.flows.commands.run import add_run_arguments

    p = sub.add_parser(
        "dedup",
        help="remove exact and near duplicates (MinHash + LSH) from the input",
        description="Ingest, exact dedup and near dedup into <out>/runs/<run_id>/: surviving "
        "documents in documents/stage=near_dedup, clusters in dedup/clusters.parquet. "
        "Flags override the near_dedup section of --config. Beam options go after a literal --.",
    )
    add_run_arguments(p)
    p.add_argument("--threshold", type=float, help="Jaccard similarity of a near duplicate (0.8)")
    p.add_argument("--num-perm", type=int, help="MinHash permutations (128)")
    p.add_argument("--bands", type=int, help="LSH bands (default: chosen from the threshold)")
    p.add_argument("--rows", type=int, help="rows per band (with --bands)")
    p.add_argument("--ngram", type=int, help="shingle length (5)")
    p.add_argument("--unit", choices=["word", "char"], help="shingle unit (word)")
    p.add_argument(
        "--verify",
        choices=["signature", "exact", "none"],
        help="check cluster members against their anchor (signature)",
    )
    p.add_argument("--keep", help="keeper priority: longest, shortest, id, max:FIELD, min:FIELD")
    p.set_defaults(handler=handle, accepts_beam_args=True, starts_flow=True)


def dedup_config(args):
    """The run config with the command's near-dedup flags on top of --config."""
    from thresher.flows.commands.run import load_run_config
    from thresher.pipelines.config import load_config

    base = load_run_config(args, with_models=False).model_dump(exclude_unset=True)
    flags = {k: getattr(args, k) for k in NEAR_FLAGS if getattr(args, k) is not None}
    base["near_dedup"] = {**base.get("near_dedup", {}), **flags, "enabled": True}
    return load_config(None, **base)


def handle(args) -> int:
    from thresher.flows import temporary_api
    from thresher.flows.commands.run import print_summary
    from thresher.flows.curate import curate

    config = dedup_config(args)
    temporary_api.ready()  # started with the command (flows/temporary_api.py)
    # the same flow and runner as `thresher run`, restricted to the dedup stages
    result = curate(config, only=DEDUP_STAGES)
    print_summary(result)
    if "batches" in result:  # a collection's batches: their tables said it all
        return 0
    near = result["stats"][-1]
    print(
        f"near dedup: {near['bands']} bands x {near['rows']} rows, {near['candidates']} "
        f"candidates, {near['clusters']} clusters, "
        f"{near['dropped'].get('near_duplicate', 0)} near duplicates removed"
    )
    out_root = Path(result["run_dir"]).parent.parent
    print(f'clusters: thresher query --out {out_root} "SELECT * FROM clusters ORDER BY cluster_id"')
    return 0
