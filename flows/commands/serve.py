"""`thresher serve`: the scheduled service (collections and mixture jobs) on Prefect."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "serve",
        help="serve scheduled deployments: one `curate` per collection, `mixture` jobs",
        description="Create Prefect deployments of the curate flow (one per collection in the "
        "service file, with its schedule) and of the mixture flow, and run them when due or "
        "requested (`prefect deployment run curate/NAME`) until interrupted. Uses the Prefect "
        "server at PREFECT_API_URL, or a temporary local one. See the README's 'Run it every "
        "night' section for the file's format.",
    )
    p.add_argument("--config", metavar="FILE", required=True, help="service file (YAML)")
    p.add_argument(
        "--check", action="store_true", help="validate the file and list its deployments, then exit"
    )
    p.set_defaults(handler=handle)


def handle(args) -> int:
    from thresher.flows import service

    if args.check:
        s = service.load_service(args.config)
        for c in s.collections:
            service.collection_run_config(s, c)
            when = f"cron {c.cron} ({c.timezone})" if c.cron else f"every {c.interval:g} s"
            print(f"curate/{c.name}: collection {c.name}, {when}, inputs {', '.join(c.inputs)}")
        for m in s.mixtures:
            when = f"cron {m.cron} ({m.timezone})" if m.cron else f"every {m.interval:g} s"
            print(f"mixture/{m.name}: {m.tokenizer}, {when}")
        print(f"# {args.config}: valid")
        return 0
    service.serve(args.config)
    return 0
