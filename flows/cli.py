"""`thresher`: the command line. Commands are thin: parse, load config, call library code.

User errors (`UserError`) print one line and exit 1; `--debug` (anywhere before `--`) shows
the traceback. Each command group lives in `flows/commands/<name>.py` with a
`register(subparsers)`.

Parsing is strict: an unknown option or stray word is an error with a suggestion, never
silently handed to Beam. Beam pipeline options go after a literal `--`
(`thresher run --input x -- --runner ...`) and are checked against Beam's own option parser.
"""

from __future__ import annotations

import argparse
import atexit
import difflib
import errno
import os
import sys

from thresher.flows import temporary_api
from thresher.flows.prefect_env import (
    configure,
    drop_worker_tracebacks,
    hide_user_error_tracebacks,
    quiet_beam_import,
    send_pending_logs_and_events,
    show_thresher_logs,
)
from thresher.scorers.errors import UserError

_PARSER_ATTR = "_command_parser"  # the innermost (sub)command parser, set while parsing


class UsageError(UserError):
    """The command line itself is wrong (unknown option, missing argument, bad value)."""


def _suggest(word: str, candidates, what: str, otherwise: str) -> str:
    """'<what> <word>; did you mean X?', or `otherwise` when nothing is close."""
    close = difflib.get_close_matches(word, list(candidates), n=1)
    return f"{what} {word}; {f'did you mean {close[0]}?' if close else otherwise}"


def _see_help(prog: str) -> str:
    return f"see `{prog} --help`"


class ThresherParser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one-line `UsageError`s (exit 1, no usage text),
    and which rejects leftover arguments instead of returning them. `add_subparsers`
    uses the parser's own class, so every (sub)command parser is one of these."""

    def error(self, message: str):
        raise UsageError(f"{message}; {_see_help(self.prog)}")

    def parse_known_args(self, args=None, namespace=None):
        namespace, extras = super().parse_known_args(args, namespace)
        # Subcommand parsers return first, so the innermost one records itself.
        if not hasattr(namespace, _PARSER_ATTR):
            setattr(namespace, _PARSER_ATTR, self)
        if extras:
            raise UsageError(self._leftover(extras[0]))
        return namespace, extras

    def _leftover(self, arg: str) -> str:
        if arg.startswith("-"):
            return _suggest(
                arg.split("=", 1)[0],
                self._option_string_actions,
                "unknown option",
                _see_help(self.prog),
            )
        if "--input" in self._option_string_actions:
            return f"unexpected argument {arg!r}; did you mean --input {arg}?"
        return f"unexpected argument {arg!r}; {_see_help(self.prog)}"

    def _check_value(self, action, value):
        # An unknown subcommand: name it as such and suggest the nearest one.
        if isinstance(action, argparse._SubParsersAction) and value not in action.choices:
            group = self.prog.removeprefix("thresher").strip()
            what = f"unknown {group} subcommand" if group else "unknown command"
            raise UsageError(
                _suggest(repr(value), map(repr, action.choices), what, _see_help(self.prog))
            )
        super()._check_value(action, value)


def command_modules() -> list[str]:
    """Every module in flows/commands, so a new command group needs no edit here."""
    import pkgutil

    import thresher.flows.commands

    return sorted(m.name for m in pkgutil.iter_modules(thresher.flows.commands.__path__))


STAGES_HELP = """\
stages of `thresher run`, in order (pipelines/stages.py):
  ingest -> exact_dedup -> language_id (optional) -> quality_filters (optional) -> near_dedup -> score (optional) -> shards (optional)
  (`filters_after: near_dedup` in the config moves language_id and quality_filters after near_dedup)
adding a stage (the stage contract, pipelines/stage.py): write one module with a config
model, a Beam pipeline that ends in one terminal transform, `run(ctx, cfg, docs, upstream)`
running inside `run_stage` (staging, resume, accounting, atomic publish, output record),
and `STAGE_DEF = Stage(...)`; list it in pipelines/stages.py. Its config section, Prefect
task and place in `thresher run` follow from that."""


def build_parser() -> ThresherParser:
    import importlib

    from thresher import __version__

    parser = ThresherParser(
        prog="thresher",
        description="Curate pretraining data: ingest, dedupe, score, infer mixtures, emit shards. "
        "Beam pipeline options go after a literal `--`, e.g. "
        "`thresher run --input x -- --runner ...`.",
        epilog=STAGES_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--debug",
        action="store_true",
        help="show tracebacks on errors (accepted anywhere before --)",
    )
    parser.add_argument("--version", action="version", version=f"thresher {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in command_modules():
        importlib.import_module(f"thresher.flows.commands.{name}").register(sub)
    return parser


def split_beam_args(argv: list[str]) -> tuple[list[str], list[str]]:
    """(thresher's arguments, Beam's): everything after the first literal `--` is Beam's."""
    if "--" not in argv:
        return argv, []
    i = argv.index("--")
    return argv[:i], argv[i + 1 :]


def parse(argv: list[str]) -> argparse.Namespace:
    """The namespace for `argv`, with `beam_args` (checked) and `debug` set."""
    ours, beam = split_beam_args(argv)
    debug = "--debug" in ours
    args = build_parser().parse_args([a for a in ours if a != "--debug"])
    command = getattr(args, _PARSER_ATTR)
    delattr(args, _PARSER_ATTR)
    if beam and not getattr(args, "accepts_beam_args", False):
        raise UsageError(f"`{command.prog}` takes no Beam options; remove the arguments after --")
    if beam:  # imported here: Beam logs at import, before main() has quieted that line
        from thresher.pipelines.beam_util import check_beam_args

        beam = check_beam_args(beam)  # a bad one is a ConfigError: one line too
    args.beam_args = beam
    args.debug = debug
    return args


def _unreachable_api(exc: BaseException) -> str | None:
    """The Prefect API URL when `exc` (or its cause) is a failed connection to it, else None.
    Prefect wraps the httpx error: RuntimeError("Failed to reach API at ...")."""
    import httpx
    from prefect.settings import get_current_settings

    api = get_current_settings().api.url
    for e in _chain(exc):
        if isinstance(e, httpx.ConnectError | httpx.ConnectTimeout) and api:
            return api if _request_url(e).startswith(api.rstrip("/")) else None
    return None


def _chain(exc: BaseException) -> list[BaseException]:
    """`exc` and the exceptions it was raised from or during, once each."""
    chain = [exc]
    while (nxt := chain[-1].__cause__ or chain[-1].__context__) is not None and nxt not in chain:
        chain.append(nxt)
    return chain


def _known_environment_failure(exc: BaseException) -> str | None:
    """One line for failures of the machine rather than of Thresher: a full disk anywhere
    in a stage (Beam may hand it back as text inside its own error), and a temporary
    Prefect API server that did not start in time."""
    text = str(exc)
    if (
        any(getattr(e, "errno", None) == errno.ENOSPC for e in _chain(exc))
        or "No space left on device" in text
    ):
        return (
            "the disk is full (No space left on device): free space and run the same command "
            "again; finished stages are kept and the run resumes"
        )
    if "CRC checksum verification failed" in text:
        return (
            "a Parquet file of this run is damaged (a page checksum failed): `thresher verify "
            "--repair RUN_DIR` finds it, then the same command again redoes its stage"
        )
    if "Timed out while attempting to connect to ephemeral Prefect API server" in text:
        wait = os.environ.get("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "20")
        return (
            f"the temporary Prefect API server did not start within {wait} s (a busy machine?): "
            "raise PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS, or start one with "
            "`prefect server start` and set PREFECT_API_URL"
        )
    return None


def _request_url(exc) -> str:
    try:
        return str(exc.request.url)
    except RuntimeError:  # an httpx error raised without its request
        return ""


def _run(args: argparse.Namespace) -> int:
    import httpx

    try:
        return int(args.handler(args) or 0)
    except UserError as exc:
        if args.debug:
            raise
        print(f"thresher: error: {exc}", file=sys.stderr)
        return 1
    except (RuntimeError, OSError, httpx.ConnectError, httpx.ConnectTimeout) as exc:
        known = None if args.debug else _known_environment_failure(exc)
        if known:
            print(f"thresher: error: {known}", file=sys.stderr)
            return 1
        api = _unreachable_api(exc)
        if api is None or args.debug:
            raise
        cause = " ".join(str(exc.__cause__ or exc).split())
        print(
            f"thresher: error: cannot reach the Prefect API at {api}: {cause}; start it with "
            "`prefect server start` or unset PREFECT_API_URL",
            file=sys.stderr,
        )
        return 1


# the commands whose handler runs a Prefect flow (their parsers set starts_flow; a test
# checks the two agree): known from the command word, so a temporary API server can start
# before the parser imports every command's modules
FLOW_COMMANDS = frozenset({"run", "dedup"})


def starts_flow(argv: list[str]) -> bool:
    """Will this command line run a flow (and so need a Prefect API)?"""
    own = split_beam_args(argv)[0]
    words = [a for a in own if not a.startswith("-")]
    helps = {"-h", "--help", "--version"}
    return bool(words) and words[0] in FLOW_COMMANDS and not helps.intersection(own)


def main(argv: list[str] | None = None) -> int:
    configure()
    quiet_beam_import()
    show_thresher_logs()
    argv = list(sys.argv[1:] if argv is None else argv)
    quiet = "--debug" not in split_beam_args(argv)[0]
    hide_user_error_tracebacks(quiet)
    drop_worker_tracebacks(quiet)
    try:
        # a flow command's temporary Prefect API starts first, beside the imports and checks
        with temporary_api.early(starts_flow(argv)):
            try:
                args = parse(argv)
            except UserError as exc:  # a usage error, or a Beam option Beam's parser refuses
                print(f"thresher: error: {exc}", file=sys.stderr)
                return 1
            except SystemExit as exc:  # --help, --version
                return int(exc.code or 0)
            return _run(args)
    except KeyboardInterrupt:
        print("thresher: interrupted", file=sys.stderr)
        return 130


def entry() -> None:
    """The `thresher` console script: `main`, then exit without the rest of the
    interpreter's teardown (0.2-0.8 s here: waiting on Beam's, gRPC's and Prefect's
    threads, freeing every module). By then every output is published (stats are a stage's
    commit point) and its files closed; Prefect's last logs and events are sent here, and
    the exit handlers still run (~1 ms: logging's flush, temporary-directory finalizers)."""
    code = main()
    send_pending_logs_and_events()
    atexit._run_exitfuncs()  # what a normal exit runs first; os._exit skips only the rest
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    entry()
