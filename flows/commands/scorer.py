"""`thresher scorer train|losses`: build a PreSelect quality scorer from a model family."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "scorer",
        help="train a quality scorer (PreSelect predictive strength)",
        description="Train fastText quality scorers from per-document losses "
        "of a model family and the family's benchmark scores.",
    )
    cmds = p.add_subparsers(dest="scorer_command", metavar="SUBCOMMAND")
    cmds.required = True
    _register_train(cmds)
    _register_losses(cmds)


def _register_train(cmds) -> None:
    t = cmds.add_parser(
        "train",
        help="losses + benchmark scores -> predictive strength -> fastText scorer",
        description="S = share of model pairs whose loss order on a document matches their "
        "benchmark order; positives S = 1, negatives as many lowest-S documents; fastText with "
        "PreSelect's settings (epoch 3, lr 0.1, wordNgrams 2). Writes model.bin, "
        "scorer_card.{json,md} and predictive_strength.parquet into --out.",
    )
    t.add_argument(
        "--documents",
        action="append",
        required=True,
        metavar="GLOB",
        help="documents (id, text): Parquet or JSONL, repeatable",
    )
    t.add_argument(
        "--losses",
        action="append",
        required=True,
        metavar="GLOB",
        help="losses table(s): Parquet/JSONL with id, model, nll_sum or bpc",
    )
    t.add_argument(
        "--benchmarks",
        required=True,
        metavar="FILE",
        help="YAML/JSON mapping model -> benchmark score (higher is better)",
    )
    t.add_argument("--out", required=True, metavar="DIR")
    t.add_argument(
        "--positive-fraction",
        type=float,
        metavar="F",
        help="when fewer than F of the documents have S = 1, positives = the top F "
        "by S (default: S = 1 only)",
    )
    t.add_argument(
        "--negatives",
        choices=["lowest", "random"],
        default="lowest",
        help="negatives: the lowest-S documents (PreSelect, default) or a random "
        "sample of the non-positives",
    )
    for flag, kind, default, text in (
        ("--epoch", int, 3, "fastText epochs"),
        ("--lr", float, 0.1, "learning rate"),
        ("--word-ngrams", int, 2, "word n-grams"),
        ("--dim", int, 100, "embedding size"),
        ("--min-count", int, 1, "minimal word count"),
        ("--bucket", int, 2_000_000, "n-gram hash buckets (model size ~ bucket x dim x 4 bytes)"),
        ("--threads", int, 1, "training threads (>1 is not reproducible)"),
        ("--seed", int, 0, "seed"),
        ("--valid-fraction", float, 0.1, "held-out share"),
    ):
        t.add_argument(flag, type=kind, default=default, help=f"{text} (default {default})")
    t.set_defaults(handler=handle_train)


def _register_losses(cmds) -> None:
    lo = cmds.add_parser(
        "losses",
        help="per-document losses of a model family -> losses.parquet",
        description="charlm: character n-gram LMs trained on --train, benchmark score = minus "
        "BPC on --target (also written to benchmarks.json). hf: local HF causal LMs "
        "(pip install 'thresher[lm]'); benchmark scores come from you.",
    )
    lo.add_argument("--family", choices=["charlm", "hf"], required=True)
    lo.add_argument(
        "--input",
        action="append",
        required=True,
        metavar="GLOB",
        help="documents to compute losses for (Parquet or JSONL)",
    )
    lo.add_argument("--out", required=True, metavar="DIR")
    lo.add_argument("--train", action="append", metavar="GLOB", help="charlm: family training text")
    lo.add_argument(
        "--target",
        action="append",
        metavar="GLOB",
        help="charlm: held-out target set ('the benchmark')",
    )
    lo.add_argument(
        "--orders", default="1,2,3,4,5", help="charlm: model orders (default 1,2,3,4,5)"
    )
    lo.add_argument("--sizes", default="1.0", help="charlm: training fractions (default 1.0)")
    lo.add_argument(
        "--mixtures",
        type=int,
        default=0,
        metavar="N",
        help="charlm: instead of orders x sizes, N order-5 members trained on random "
        "mixtures of the --train documents' sources",
    )
    lo.add_argument(
        "--model", action="append", metavar="PATH", help="hf: model directory (repeatable)"
    )
    lo.add_argument("--batch-size", type=int, default=8, help="hf: windows per forward pass")
    lo.add_argument("--max-length", type=int, help="hf: tokens per window (default: model's)")
    lo.set_defaults(handler=handle_losses)


def read_documents(patterns: list[str]):
    """id, source, text, n_chars of every document (documents tables as is, other files via ingest rules)."""
    import pyarrow as pa

    from thresher.pipelines import io
    from thresher.pipelines.records import ReaderSettings, RecordReader
    from thresher.pipelines.score import read_documents as read_part

    reader = RecordReader(ReaderSettings(batch_size=10_000))
    tables = [
        docs.select(["id", "source", "text", "n_chars"])
        for path in io.expand_inputs(patterns)
        for docs, _, _ in read_part(path, 10_000, reader)
    ]
    return pa.concat_tables(tables).combine_chunks() if tables else None


def _read_losses(patterns: list[str]):
    import pyarrow as pa
    import pyarrow.json as pj

    from thresher.pipelines import io
    from thresher.scorers.errors import InputError

    tables = []
    for path in io.expand_inputs(patterns):
        try:
            if io.file_format(path) == "parquet":
                tables.append(io.read_parquet_file(path).read())
            else:
                with io.open_input(path) as f:
                    tables.append(pj.read_json(f))
        except (pa.ArrowException, OSError) as exc:
            raise InputError(f"cannot read losses table {path}: {exc}") from None
    return pa.concat_tables(tables, promote_options="default")


def _read_mapping(path: str) -> dict:
    from pathlib import Path

    import yaml

    from thresher.scorers.errors import InputError

    p = Path(path)
    if not p.is_file():
        raise InputError(f"benchmark file {path} does not exist")
    try:
        data = yaml.safe_load(p.read_text())
    except yaml.YAMLError:
        raise InputError(f"benchmark file {path} is not valid YAML/JSON") from None
    if not isinstance(data, dict) or not data:
        raise InputError(f"benchmark file {path} must map model names to scores, e.g. {{m1: 0.41}}")
    return {str(k): v for k, v in data.items()}


def handle_train(args) -> int:
    from pathlib import Path

    from pydantic import ValidationError

    from thresher.pipelines import io, schemas
    from thresher.pipelines.config import describe_validation_error
    from thresher.scorers.errors import ConfigError, InputError
    from thresher.scorers.predictive_strength import train_scorer
    from thresher.scorers.scorer_training import TrainSettings, card_markdown

    try:
        settings = TrainSettings(
            epoch=args.epoch,
            lr=args.lr,
            wordNgrams=args.word_ngrams,
            dim=args.dim,
            minCount=args.min_count,
            bucket=args.bucket,
            thread=args.threads,
            seed=args.seed,
            valid_fraction=args.valid_fraction,
        )
    except ValidationError as exc:
        raise ConfigError(describe_validation_error(exc, "scorer train")) from None
    benchmarks = _read_mapping(args.benchmarks)
    losses = _read_losses(args.losses)
    docs = read_documents(args.documents)
    if docs is None or docs.num_rows == 0:
        raise InputError("no documents to train on")
    out = Path(args.out)
    model, card, per_doc = train_scorer(
        docs,
        losses,
        benchmarks,
        settings,
        args.positive_fraction,
        name=out.name,
        negatives=args.negatives,
    )
    io.write_with(model.save_model, out / "model.bin")
    card["model_file"] = str((out / "model.bin").resolve())
    io.write_parquet(per_doc.cast(schemas.PREDICTIVE_STRENGTH), out / "predictive_strength.parquet")
    io.write_json(card, out / "scorer_card.json")
    io.write_text(card_markdown(card), out / "scorer_card.md")
    v = card["validation"]
    print(f"models (worst -> best): {', '.join(m['name'] for m in card['models'])}")
    print(
        f"documents {card['documents']}: positives {card['positives']} ({card['positive_rule']}), "
        f"negatives {card['negatives']}"
    )
    print(
        f"validation: accuracy {v.get('accuracy')}, ROC-AUC {v.get('roc_auc')} "
        f"({v['valid_positives']} + {v['valid_negatives']} held out)"
    )
    print(
        f"model:  {out / 'model.bin'}  (score with: thresher score --model {out / 'model.bin'} ...)"
    )
    print(f"card:   {out / 'scorer_card.md'}")
    return 0


def handle_losses(args) -> int:
    from pathlib import Path

    from thresher.pipelines import io
    from thresher.pipelines.scorer_losses import charlm_losses, hf_losses
    from thresher.scorers.errors import ConfigError, InputError

    docs = read_documents(args.input)
    if docs is None or docs.num_rows == 0:
        raise InputError("no documents to compute losses for")
    out = Path(args.out)
    if args.family == "charlm":
        if not args.train or not args.target:
            raise ConfigError(
                "--family charlm needs --train GLOB (family data) and --target GLOB (benchmark)"
            )
        try:
            orders = [int(x) for x in args.orders.split(",")]
            sizes = [float(x) for x in args.sizes.split(",")]
        except ValueError:
            raise ConfigError(
                "--orders takes integers and --sizes fractions, comma-separated"
            ) from None
        train, target = read_documents(args.train), read_documents(args.target)
        losses, benchmarks = charlm_losses(docs, train, target, orders, sizes, args.mixtures)
        io.write_json(benchmarks, out / "benchmarks.json")
        print(f"benchmarks: {out / 'benchmarks.json'} (minus BPC on the target set)")
    else:
        if not args.model:
            raise ConfigError("--family hf needs --model PATH (repeatable, one per model)")
        losses = hf_losses(docs, args.model, args.batch_size, args.max_length)
    io.write_parquet(losses, out / "losses.parquet")
    print(
        f"losses: {out / 'losses.parquet'} ({losses.num_rows} rows, "
        f"{docs.num_rows} documents x {losses.num_rows // max(docs.num_rows, 1)} models)"
    )
    return 0
