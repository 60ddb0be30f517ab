"""`thresher run`: the `curate` flow on the demo corpus or the user's data."""

from __future__ import annotations

import argparse
from pathlib import Path

DEMO_CONFIG = {"ingest": {"max_chars": 100_000}}


def add_run_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--input", action="append", metavar="GLOB",
                   help="input file, directory or glob (repeatable); default: the demo corpus")
    p.add_argument("--out", help="output root (default: ./thresher-out)")
    p.add_argument("--config", metavar="FILE", help="YAML/JSON run config (see README)")
    p.add_argument("--run-id", help="run directory name (default: hash of config + inputs)")
    p.add_argument("--partitions", type=int, help="part files per output table")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "run",
        help="run the curate flow (no arguments: the built-in demo)",
        description="Run the curate flow: ingest -> exact dedup -> ... into <out>/runs/<run_id>/. "
        "Unrecognised --flags are passed to Beam unchanged (e.g. --runner DaskRunner "
        "--dask_client_address HOST:PORT); the default runner is Beam's in-process runner.",
    )
    add_run_arguments(p)
    p.set_defaults(handler=handle, accepts_beam_args=True)


def load_run_config(args, demo_overrides: dict | None = None, demo_shards: bool = False,
                    demo_score: bool = False):
    from pipelines.config import load_config

    overrides = {"out": args.out, "run_id": args.run_id, "partitions": args.partitions}
    if args.beam_args:
        overrides["beam_args"] = args.beam_args
    if args.input:
        overrides["inputs"] = args.input
        return load_config(args.config, **overrides)
    # The demo: generated inputs, demo settings under anything the user gave.
    from flows.demo import write_demo_corpus

    config = load_config(args.config, **overrides)
    if config.inputs:
        return config
    demo_dir = Path(config.out) / "demo-input"
    write_demo_corpus(demo_dir)
    data = config.model_dump(exclude_unset=True)
    for section, values in (demo_overrides or DEMO_CONFIG).items():
        data[section] = {**values, **data.get(section, {})}
    if demo_score and "score" not in data:
        data["score"] = demo_score_config(Path(config.out), demo_dir)
    if demo_shards and "shards" not in data:
        data["shards"] = demo_shards_config(Path(config.out), demo_dir)
    data["inputs"] = [str(demo_dir)]
    return load_config(None, **data)


def demo_shards_config(out: Path, demo_dir: Path) -> dict:
    """Shard settings for the demo, with a small byte-level BPE trained on the demo corpus
    itself (written once to <out>/demo-tokenizer/; nothing is downloaded)."""
    path = (out / "demo-tokenizer" / "tokenizer.json").resolve()
    if not path.exists():
        from pipelines import io
        from pipelines.records import ReaderSettings, RecordReader
        from scorers.text_tokenizers import train_byte_level_bpe

        reader = RecordReader(ReaderSettings())
        texts = [t for f in io.expand_inputs([str(demo_dir)]) for docs, _, _ in reader.read_file(f)
                 for t in docs.column("text").to_pylist()]
        io.write_text(train_byte_level_bpe(texts, 4096).to_str(), path)
    return {"tokenizer": str(path), "name": "demo", "shard_tokens": 250_000}


def demo_score_config(out: Path, demo_dir: Path) -> dict:
    """Score settings for the demo, with a small fastText scorer the project trains on the
    demo corpus's known quality tiers (edited prose = positive; spam and forum chatter =
    negative), written once to <out>/demo-scorer/model.bin; nothing is downloaded."""
    path = (out / "demo-scorer" / "model.bin").resolve()
    if not path.exists():
        from pipelines import io
        from pipelines.records import ReaderSettings, RecordReader
        from scorers.scorer_training import TrainSettings, train_fasttext

        reader = RecordReader(ReaderSettings())
        tiers: dict[str, list[str]] = {}
        for f in io.expand_inputs([str(demo_dir)]):
            for docs, _, _ in reader.read_file(f):
                for src, text in zip(docs["source"].to_pylist(), docs["text"].to_pylist(), strict=True):
                    tiers.setdefault(src, []).append(text)
        settings = TrainSettings(dim=32, bucket=50_000, epoch=10, valid_fraction=0.1)
        model, _ = train_fasttext(tiers.get("news", []), tiers.get("spam", []) + tiers.get("forum", []),
                                  settings)
        io.write_with(model.save_model, path)
    return {"model": str(path), "name": "demo-quality", "keep_top_chars": 0.3}


def print_summary(summary: dict) -> None:
    from flows.curate import FUNNEL_COLUMNS
    from flows.render import table_text

    print()
    print(table_text(summary["funnel"], FUNNEL_COLUMNS))
    print()
    print(f"outputs: {summary['run_dir']}")
    out_root = Path(summary["run_dir"]).parent.parent
    shard_stats = Path(summary["run_dir"]) / "stats" / "shards.json"
    if shard_stats.exists():
        from pipelines import io

        st, name = io.read_json(shard_stats), summary["run_dir"] + "/shards/"
        print(f"shards:  {st['shards']} Megatron shards, {st['tokens']:,} tokens ({st['dtype']}) "
              f"in {name}{st['config']['shards']['name']}/ (blend.txt for --data-path)")
    print(f'query:   thresher query --out {out_root} "SELECT source, count(*) FROM documents GROUP BY ALL"')


def handle(args) -> int:
    config = load_run_config(args, demo_shards=True, demo_score=True)
    from flows.curate import curate

    summary = curate(config)
    print_summary(summary)
    return 0
