"""`thresher query "SQL"`: DuckDB over every run's outputs."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    from thresher.flows import catalog

    p = sub.add_parser(
        "query",
        help="run read-only SQL over every run's outputs",
        description="Run one read-only SQL statement with DuckDB over the views:\n"
        + "\n".join(line for line in catalog.__doc__.splitlines()[2:] if line.strip()),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("sql", help='e.g. "SELECT stage, reason, count(*) FROM rejects GROUP BY ALL"')
    p.add_argument("--out", default="thresher-out", help="output root (default: thresher-out)")
    p.add_argument("--format", choices=["table", "csv", "json"], default="table")
    p.add_argument("--limit", type=int, default=1000, help="rows printed in table format")
    p.set_defaults(handler=handle)


def handle(args) -> int:
    from thresher.flows import catalog
    from thresher.flows.render import render

    table = catalog.query(args.out, args.sql)
    rows = table.to_pylist()
    shown = rows[: args.limit] if args.format == "table" else rows
    print(render(shown, args.format, table.column_names))
    if len(shown) < len(rows):
        print(f"({len(rows)} rows, first {len(shown)} shown; use --format csv for all)")
    return 0
