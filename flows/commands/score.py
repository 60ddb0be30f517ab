"""`thresher score`: score documents with a fastText quality scorer and select the best."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "score",
        help="score documents with a fastText scorer; keep the top share",
        description="Score documents with any fastText supervised model (score = P(positive "
        "label)), write <out>/scores/<scorer>/ (id, score) and, with a selection rule, the kept "
        "documents to <out>/selected/. Input: documents Parquet (e.g. a run's "
        "documents/stage=near_dedup/; inside `thresher run` the stage reads the run's final "
        "document set) or raw JSONL/Parquet. Beam options go after a literal --.",
    )
    p.add_argument("--model", required=True, metavar="M.bin", help="fastText supervised model")
    p.add_argument(
        "--positive-label",
        default="__label__1",
        help="label whose probability is the score (DCLM: __label__hq)",
    )
    p.add_argument(
        "--input",
        action="append",
        required=True,
        metavar="GLOB",
        help="documents: file, directory or glob (repeatable)",
    )
    p.add_argument("--out", required=True, metavar="DIR", help="output directory")
    p.add_argument("--name", help="scorer name for scores/<name>/ (default: model file stem)")
    rule = p.add_mutually_exclusive_group()
    rule.add_argument(
        "--keep-top-chars",
        type=float,
        metavar="F",
        help="keep the top-scored documents holding F of all characters (PreSelect: 0.10)",
    )
    rule.add_argument(
        "--keep-top-docs", type=float, metavar="F", help="keep the top F of documents"
    )
    rule.add_argument("--threshold", type=float, metavar="S", help="keep documents with score >= S")
    p.add_argument(
        "--workers",
        type=int,
        default=1,
        help="local worker processes; each loads the whole model (default 1)",
    )
    p.add_argument("--batch-size", type=int, default=2000, help="documents per fastText call")
    p.set_defaults(handler=handle, accepts_beam_args=True)


def handle(args) -> int:
    from pathlib import Path

    from pydantic import ValidationError

    from thresher.flows.render import table_text
    from thresher.pipelines import io, runlock
    from thresher.pipelines import score as score_stage
    from thresher.pipelines.config import describe_validation_error
    from thresher.pipelines.stage import StageContext
    from thresher.scorers.errors import ConfigError

    values = {
        "model": args.model,
        "positive_label": args.positive_label,
        "name": args.name,
        "keep_top_chars": args.keep_top_chars,
        "keep_top_docs": args.keep_top_docs,
        "threshold": args.threshold,
        "workers": args.workers,
        "batch_size": args.batch_size,
    }
    try:
        cfg = score_stage.ScoreConfig.model_validate(
            {k: v for k, v in values.items() if v is not None}
        )
    except ValidationError as exc:
        raise ConfigError(describe_validation_error(exc, "score")) from None
    inputs = io.expand_inputs(args.input)
    ctx = StageContext(run_dir=Path(args.out).resolve(), beam_args=list(args.beam_args))
    with runlock.hold(ctx.run_dir):  # one writer per output directory
        stats = score_stage.run(ctx, cfg, inputs, [])
    row = {
        "scorer": cfg.scorer,
        "in": stats["in"],
        "kept": stats["kept"],
        "dropped": sum(stats["dropped"].values()),
        "rejected": stats["rejected"],
        "seconds": stats["seconds"],
        "skipped": stats.get("skipped", False),
    }
    print(table_text([row], list(row)))
    sel = stats.get("selection")
    if sel:
        tie = f" (at that score, ids up to {sel['tie_last_id']!r})" if sel["tie_last_id"] else ""
        print(
            f"selection: {sel['rule']}={sel['value']} -> threshold {sel['threshold']:.6f}{tie}, "
            f"{sel['kept_chars']} of {stats['scores_summary']['chars']} characters kept"
        )
    print(f"scores:    {ctx.run_dir / 'scores' / cfg.scorer}")
    if sel:
        print(f"selected:  {ctx.run_dir / score_stage.SELECTED_OUT}")
    return 0
