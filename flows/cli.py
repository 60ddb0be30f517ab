"""`thresher`: the command line. Commands are thin: parse, load config, call library code.

User errors (`UserError`) print one line and exit 1; `--debug` shows the traceback.
Each command group lives in `flows/commands/<name>.py` with a `register(subparsers)`.
"""

from __future__ import annotations

import argparse
import logging
import sys
import warnings

from thresher.flows.prefect_env import configure


def command_modules() -> list[str]:
    """Every module in flows/commands, so a new command group needs no edit here."""
    import pkgutil

    import thresher.flows.commands

    return sorted(m.name for m in pkgutil.iter_modules(thresher.flows.commands.__path__))


def build_parser() -> argparse.ArgumentParser:
    import importlib

    parser = argparse.ArgumentParser(
        prog="thresher",
        description="Curate pretraining data: ingest, dedupe, score, infer mixtures, emit shards.",
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in command_modules():
        importlib.import_module(f"thresher.flows.commands.{name}").register(sub)
    return parser


def _quiet_third_party() -> None:
    # Beam warns about optional GCP clients on import; it is noise for local runs.
    logging.getLogger().setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", category=UserWarning)


def main(argv: list[str] | None = None) -> int:
    configure()
    _quiet_third_party()
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    from thresher.scorers.errors import UserError

    if not debug:
        from thresher.flows.prefect_env import hide_user_error_tracebacks

        hide_user_error_tracebacks()

    parser = build_parser()
    try:
        args, extra = parser.parse_known_args(argv)
        handler = args.handler
        if extra and not getattr(args, "accepts_beam_args", False):
            parser.error(f"unrecognized arguments: {' '.join(extra)}")
        args.beam_args = extra
        return int(handler(args) or 0)
    except UserError as exc:
        if debug:
            raise
        print(f"thresher: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("thresher: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
