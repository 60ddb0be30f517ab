"""`thresher mixture infer|experiment`: what a BPE tokenizer's merges say about its data."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "mixture",
        help="infer a BPE tokenizer's training-data mixture from its merge list",
        description="Data mixture inference (Hayase et al. 2024): replay the tokenizer's merges "
        "over sample text of each category and solve an LP for the byte shares.",
    )
    cmds = p.add_subparsers(dest="mixture_command", metavar="SUBCOMMAND")
    cmds.required = True

    inf = cmds.add_parser(
        "infer",
        help="tokenizer + category samples -> proportions",
        description="Writes OUT/mixture.json and OUT/mixture.parquet and prints the table. Use "
        "--out ROOT/mixtures/NAME so `thresher query --out ROOT` shows it in the `mixtures` view. "
        "Beam options go after a literal --.",
    )
    inf.add_argument(
        "--tokenizer",
        required=True,
        metavar="PATH",
        help="tokenizer.json (BPE), merges.txt / vocab.bpe, or a .tiktoken rank file",
    )
    inf.add_argument(
        "--pattern",
        metavar="gpt2|cl100k|o200k|REGEX",
        help="pre-tokenisation regex of a .tiktoken/merges file (default: from the "
        "file name, e.g. cl100k_base.tiktoken; merges files: gpt2)",
    )
    _common(inf)
    inf.add_argument(
        "--out",
        default="thresher-out/mixtures/mixture",
        metavar="DIR",
        help="output directory (default: thresher-out/mixtures/mixture)",
    )
    inf.add_argument(
        "--cache",
        metavar="DIR",
        help="pretoken count cache, shared by tokenizers that split alike "
        "(default: OUT/pretoken-cache)",
    )
    inf.add_argument(
        "--max-bytes",
        type=int,
        metavar="N",
        help="read at most N bytes of text from each input file",
    )
    inf.set_defaults(handler=handle_infer, accepts_beam_args=True)

    ex = cmds.add_parser(
        "experiment",
        help="controlled experiments: known mixtures -> trained BPE -> inferred",
        description="Per trial: weights uniform on the simplex, a byte-level BPE (HF tokenizers) "
        "trained on text drawn in those byte shares, then inference on disjoint count text. "
        "Reports log10 MSE (mean, std) next to random guessing. Writes OUT/experiment.json, "
        "OUT/trials.parquet and OUT/mixtures/trial-NNN/.",
    )
    _common(ex)
    ex.add_argument("--out", required=True, metavar="DIR")
    ex.add_argument("--n", type=int, metavar="K", help="categories per trial (default: all)")
    ex.add_argument("--trials", type=int, default=5, metavar="R", help="trials (default 5)")
    ex.add_argument("--vocab", type=int, default=30000, help="BPE vocabulary (default 30000)")
    ex.add_argument(
        "--train-bytes",
        type=int,
        default=1_600_000,
        metavar="N",
        help="tokenizer training text per trial (default 1.6 MB; less when a "
        "category's training part cannot cover its share without repeats)",
    )
    ex.add_argument(
        "--count-bytes",
        type=int,
        metavar="N",
        help="cap the count sample of each category at N bytes",
    )
    ex.add_argument(
        "--train-fraction",
        type=float,
        default=0.5,
        help="share of each category's text used for training (default 0.5)",
    )
    ex.add_argument("--seed", type=int, default=0)
    ex.set_defaults(handler=handle_experiment, accepts_beam_args=True)


def _common(p) -> None:
    p.add_argument(
        "--category",
        action="append",
        required=True,
        metavar="NAME=GLOB",
        help="a category and its sample files (repeatable; repeat a NAME to add globs)",
    )
    p.add_argument(
        "--merges",
        type=int,
        default=30000,
        metavar="T",
        help="use the first T merges (default 30000)",
    )
    p.add_argument(
        "--stop",
        choices=["settled", "stable", "converged"],
        default="settled",
        help="settled (default): the mean of the last 5 rounds' proportions stopped moving "
        "(the answer is that mean); stable: no proportion moved over the last 5 rounds; "
        "converged: no violated constraint",
    )
    p.add_argument(
        "--gap-tol",
        type=float,
        default=0.0,
        metavar="G",
        help="also stop once the certified gap (upper - lower) / upper is at most G",
    )
    p.add_argument("--max-rounds", type=int, default=500, help="constraint-generation rounds")


def _options(args):
    from thresher.scorers.errors import ConfigError
    from thresher.scorers.mixture_lp import SolveOptions

    if args.merges < 1:
        raise ConfigError(f"--merges {args.merges} must be at least 1")
    if not 0 <= args.gap_tol < 1:
        raise ConfigError(f"--gap-tol {args.gap_tol} must be in [0, 1) (e.g. --gap-tol 0.05)")
    return SolveOptions(stop=args.stop, max_rounds=args.max_rounds, gap_tol=args.gap_tol)


def handle_infer(args) -> int:
    from thresher.flows.mixture import infer
    from thresher.flows.render import table_text

    s = infer(
        args.tokenizer,
        args.category,
        args.out,
        args.merges,
        args.pattern,
        args.cache,
        args.max_bytes,
        _options(args),
        args.beam_args,
    )
    rows = sorted(
        (
            {"category": k, "proportion": v, "sample_bytes": s["sample_bytes"][k]}
            for k, v in s["proportions"].items()
        ),
        key=lambda r: -r["proportion"],
    )
    print(table_text(rows, ["category", "proportion", "sample_bytes"]))
    print(
        f"\nmerges used {s['merges_used']}, objective {s['objective']:.6g}, rounds {s['rounds']} "
        f"({s['stop_reason']}), {s['constraints']} constraints, {s['seconds']:.1f} s"
    )
    u = s["unexplained"]
    print(
        f"certified upper bound {s['upper_bound']:.6g} (gap {s['gap']:.3f}); {u['steps']} merges "
        f"({u['share']:.1%}) occur in no category's sample, taking {u['slack_share']:.1%} "
        "of the slack"
    )
    print(f"outputs: {args.out}/mixture.json, {args.out}/mixture.parquet")
    return 0


def handle_experiment(args) -> int:
    from thresher.flows.mixture import run_experiment
    from thresher.flows.render import table_text

    cols = [
        "trial",
        "categories",
        "train_bytes",
        "count_bytes",
        "merges_used",
        "log10_mse",
        "max_abs_error",
        "rounds",
        "infer_seconds",
    ]
    r = run_experiment(
        args.category,
        args.out,
        args.n,
        args.trials,
        args.vocab,
        args.merges,
        args.train_bytes,
        args.count_bytes,
        args.train_fraction,
        args.seed,
        _options(args),
        args.beam_args,
        log=None,
    )
    print(table_text(r["rows"], cols))
    print(
        f"\nlog10 MSE {r['log10_mse_mean']:.2f} ± {r['log10_mse_std']:.2f} over {r['trials']} "
        f"trials (n={r['n']}); random guessing {r['random_guess_log10_mse']:.2f}"
    )
    print(f"outputs: {args.out}/experiment.json, {args.out}/trials.parquet")
    return 0
