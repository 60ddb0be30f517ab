"""`thresher verify RUN_DIR`: every published output of a run against its record."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "verify",
        help="check a run's outputs against the sizes, rows and checksums its stages recorded",
        description="Check every output file of a run (<out>/runs/<run_id>) against the record "
        "its stage wrote when it finished: present, same size, same Parquet rows, same xxh3 "
        "checksum, and no file that was not published. Exit 1 on any difference. With "
        "--repair, the stages whose outputs differ are marked unfinished, so running the same "
        "command again redoes them.",
    )
    p.add_argument("run_dir", metavar="RUN_DIR", help="a run directory, <out>/runs/<run_id>")
    p.add_argument(
        "--repair",
        action="store_true",
        help="mark the stages with problems unfinished (their outputs are redone on the next run)",
    )
    p.set_defaults(handler=handle)


def handle(args) -> int:
    from pathlib import Path

    from thresher.flows.render import table_text
    from thresher.pipelines.stage import verify_run
    from thresher.scorers.errors import InputError

    run_dir = Path(args.run_dir)
    if not (run_dir / "stats").is_dir():
        raise InputError(f"{run_dir} is not a run directory (no stats/): pass <out>/runs/<run_id>")
    rows = verify_run(run_dir, repair=args.repair)
    print(
        table_text(
            [{**r, "ok": not r["problems"]} for r in rows], ["stage", "files", "bytes", "ok"]
        )
    )
    problems = [f"{r['stage']}: {p}" for r in rows for p in r["problems"]]
    for p in problems:
        print(f"problem: {p}")
    if problems and args.repair:
        stages = sorted({r["stage"] for r in rows if r["problems"]})
        raise InputError(
            f"{len(problems)} problem(s) in {run_dir}; marked {', '.join(stages)} unfinished: "
            "run the same command again to redo them"
        )
    if problems:
        raise InputError(
            f"{len(problems)} problem(s) in {run_dir}: `thresher verify --repair {run_dir}`, "
            "then the same command again, redoes the stages whose outputs differ"
        )
    print(f"ok: {sum(r['files'] for r in rows)} files match what their stages recorded")
    return 0
