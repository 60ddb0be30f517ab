"""`thresher shards`: tokenized Megatron shards; `shards inspect PATH`, `shards verify DIR`.

`shards` itself builds (its options sit on the group parser, so `thresher shards --tokenizer
... --input ... --out ...` needs no extra word); `inspect` and `verify` are subcommands
with their own options and no Beam flags. Beam flags follow a literal `--`, so the word
after `shards` is always a subcommand.
"""

from __future__ import annotations

import argparse

BUILD_HELP = (
    "Tokenize documents and write Megatron .bin/.idx shards, one set per source, plus "
    "manifest.parquet and a blend file for Megatron's --data-path. Beam options go after a "
    "literal -- (e.g. -- --runner apache_beam.runners.dask.dask_runner.DaskRunner "
    "--dask_client_address HOST:PORT)."
)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "shards",
        help="write / inspect / verify tokenized Megatron shards",
        description=BUILD_HELP + " Subcommands: inspect PATH, verify DIR.",
    )
    p.add_argument("--tokenizer", metavar="PATH", help="local tokenizer.json or .tiktoken file")
    p.add_argument(
        "--input",
        action="append",
        metavar="GLOB",
        help="documents: JSONL[.gz|.zst] or Parquet with id/text[/source] (repeatable)",
    )
    p.add_argument(
        "--out",
        metavar="DIR",
        help="output directory: the set goes to DIR/shards/default/, stats to DIR/stats/",
    )
    p.add_argument(
        "--eos",
        default="auto",
        help="EOS token name or id appended to every "
        "document (default: auto = a usual EOS name; 'none' for no EOS)",
    )
    p.add_argument("--bos", help="BOS token name or id put before every document")
    p.add_argument("--dtype", choices=["auto", "uint16", "int32"], default="auto")
    p.add_argument(
        "--shard-tokens",
        type=int,
        default=100_000_000,
        metavar="N",
        help="target tokens per shard (default 100M)",
    )
    p.add_argument(
        "--mixture",
        metavar="FILE",
        help="YAML/JSON of target token shares per source (or a mixture.json)",
    )
    p.add_argument("--token-budget", type=int, metavar="N", help="total tokens with --mixture")
    p.add_argument(
        "--tolerance",
        type=float,
        default=0.01,
        help="max |achieved-target| per source, fraction of the budget",
    )
    p.add_argument("--seed", type=int, default=0, help="seed of document order and sampling")
    p.add_argument("--batch-size", type=int, default=1000, help="documents per encode_batch")
    p.add_argument(
        "--no-fast-path",
        action="store_true",
        help="always tokenize with HF tokenizers (no tiktoken fast path)",
    )
    p.set_defaults(handler=handle_build, accepts_beam_args=True)
    actions = p.add_subparsers(dest="action", metavar="[inspect|verify]")

    i = actions.add_parser(
        "inspect",
        help="header fields, counts and the first documents",
        description="Print a shard's header fields and counts, and decode its first documents.",
    )
    i.add_argument("path", help="shard prefix, its .bin/.idx, or a shard set directory")
    i.add_argument(
        "--tokenizer",
        metavar="PATH",
        help="decode with this tokenizer (default: the one in the shard set's stats)",
    )
    i.add_argument("--docs", type=int, default=3, help="documents to decode (default 3)")
    i.add_argument("--chars", type=int, default=300, help="characters shown per document")
    i.set_defaults(handler=handle_inspect, accepts_beam_args=False)

    v = actions.add_parser(
        "verify",
        help="check every shard against the manifest and spec",
        description="Check every shard of a set against manifest.parquet "
        "(counts, dtype, sha256) and the index format; exit 1 on any problem.",
    )
    v.add_argument("dir", help="shard set directory")
    v.set_defaults(handler=handle_verify, accepts_beam_args=False)


def handle_build(args) -> int:
    from thresher.scorers.errors import ConfigError

    missing = [f"--{n}" for n in ("tokenizer", "input", "out") if not getattr(args, n)]
    if missing:
        raise ConfigError(
            f"thresher shards needs {', '.join(missing)} "
            "(or a subcommand: shards inspect PATH, shards verify DIR)"
        )
    from pydantic import ValidationError

    from thresher.pipelines.config import describe_validation_error
    from thresher.pipelines.shards import ShardsConfig, run_standalone

    try:
        cfg = ShardsConfig(
            tokenizer=args.tokenizer,
            eos=None if args.eos == "none" else args.eos,
            bos=args.bos,
            dtype=args.dtype,
            shard_tokens=args.shard_tokens,
            mixture=args.mixture,
            token_budget=args.token_budget,
            tolerance=args.tolerance,
            seed=args.seed,
            batch_size=args.batch_size,
            fast_path=not args.no_fast_path,
        )
    except ValidationError as exc:
        raise ConfigError(describe_validation_error(exc, "shards options")) from None
    from pathlib import Path

    stats = run_standalone(args.input, cfg, args.out, args.beam_args)
    print_stats(stats, Path(args.out) / "shards" / cfg.name)
    return 0


def print_stats(stats: dict, out) -> None:
    from thresher.flows.render import table_text

    if stats.get("skipped"):
        print(f"unchanged: {out} already holds these shards (same inputs and config)")
    if stats.get("mixture"):
        print("mixture (tokens):")
        print(
            table_text(
                stats["mixture"],
                [
                    "source",
                    "target_share",
                    "achieved_share",
                    "target_tokens",
                    "achieved_tokens",
                    "available_tokens",
                    "epochs",
                ],
            )
        )
    dropped = sum(stats["dropped"].values())
    print(
        f"documents in {stats['in']}, kept {stats['kept']}, dropped {dropped} "
        f"(mixture), rejected {stats['rejected']}, repeated copies {stats['repeated_copies']}"
    )
    print(
        f"{stats['shards']} shards, {stats['tokens']:,} tokens ({stats['dtype']}), "
        f"tokenizer {stats['tokenizer']}, {stats.get('reused_shards', 0)} reused, "
        f"{stats['seconds']} s"
    )
    print(f"outputs: {out}/ (manifest.parquet, blend.txt for Megatron --data-path)")


def handle_inspect(args) -> int:
    from pathlib import Path

    from thresher.flows.render import table_text
    from thresher.pipelines import shard_verify
    from thresher.scorers import megatron
    from thresher.scorers.text_tokenizers import load_tokenizer

    path = Path(args.path)
    if path.is_dir():
        stems = sorted({p.stem for p in path.glob("*.idx")})
        if not stems:
            from thresher.scorers.errors import InputError

            raise InputError(f"{path} holds no .idx shard files")
        print(f"{len(stems)} shards in {path}; showing {stems[0]}")
        path = path / stems[0]
    info = shard_verify.describe(path)
    width = max(map(len, info))
    print("\n".join(f"{k.ljust(width)}  {v}" for k, v in info.items()))
    shard = megatron.Shard(path)
    tok_path = args.tokenizer or shard_verify.tokenizer_of(shard.prefix)
    tok = load_tokenizer(tok_path, eos=None) if tok_path else None
    rows = []
    for i in range(min(args.docs, len(shard))):
        ids = shard[i]
        text = tok.decode(ids) if tok else " ".join(map(str, ids[:60].tolist()))
        rows.append({"doc": i, "tokens": len(ids), "text" if tok else "ids": text[: args.chars]})
    if rows:
        print()
        print(
            table_text(rows)
            if not tok
            else "\n".join(
                f"--- document {r['doc']} ({r['tokens']} tokens)\n{r['text']}" for r in rows
            )
        )
    if not tok:
        print("(pass --tokenizer PATH to decode)")
    return 0


def handle_verify(args) -> int:
    from thresher.flows.render import table_text
    from thresher.pipelines import shard_verify
    from thresher.scorers.errors import InputError

    rows, problems = shard_verify.verify_set(args.dir)
    print(table_text(rows, ["shard", "group", "documents", "tokens", "dtype", "ok"]))
    for p in problems:
        print(f"problem: {p}")
    if problems:
        raise InputError(f"{len(problems)} problem(s) in shard set {args.dir}")
    print(f"ok: {len(rows)} shards match manifest.parquet and the Megatron index format")
    return 0
