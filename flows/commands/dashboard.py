"""`thresher dashboard`: the read-only web dashboard over every run under --out."""

from __future__ import annotations

import argparse
import os

TOKEN_ENV = "THRESHER_DASHBOARD_TOKEN"


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "dashboard",
        help="serve a read-only web dashboard over every run under --out",
        description="Serve the dashboard: runs, funnels, rejects and drops, duplicates, scores, "
        "mixture, shards, trends across runs, and any document by id. Read-only and offline "
        "(scripts and styles ship in the package). It binds 127.0.0.1 unless told otherwise; "
        f"any other address needs a token (--token or {TOKEN_ENV}), checked on every request. "
        "Set THRESHER_DASHBOARD_URL where the curate flow runs to link each finished run's "
        "Prefect page to its dashboard page.",
    )
    p.add_argument("--out", default="thresher-out", help="output root (default: thresher-out)")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1)")
    p.add_argument(
        "--port", type=int, default=8765, help="port (default: 8765; 0 picks a free one)"
    )
    p.add_argument(
        "--token",
        default=None,
        help=f"require this token on every request (default: ${TOKEN_ENV}; required "
        "for a non-loopback --host)",
    )
    p.set_defaults(handler=handle)


def handle(args) -> int:
    from thresher.flows.dashboard.server import serve
    from thresher.scorers.errors import UserError

    if not 0 <= args.port <= 65535:
        raise UserError(f"--port {args.port} is not a port number (0-65535)")
    token = args.token or os.environ.get(TOKEN_ENV) or None
    serve(args.out, args.host, args.port, token)
    return 0
