"""Prefect settings that must be in place before `import prefect`, and log hygiene.

Offline machines cannot send telemetry; without a server URL Prefect starts a
temporary local API for the duration of the flow.
"""

import contextlib
import logging
import os
import sys
import threading


def configure() -> None:
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("DO_NOT_TRACK", "1")
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    # Without PREFECT_API_URL each command starts a temporary API server; Prefect waits 20 s
    # for it, which a loaded machine (load average ~6) overran. Give it longer.
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
    # Thresher's own log lines (each stage's counts and drop reasons; "a published part is
    # missing: running the stage again") also go to the Prefect API, so the UI shows them
    # next to the task, whatever Prefect's own (quiet) log level.
    os.environ.setdefault("PREFECT_LOGGING_EXTRA_LOGGERS", "thresher")
    # ... and outside a flow (`thresher shards`, `thresher score`) they just go to stderr
    os.environ.setdefault("PREFECT_LOGGING_TO_API_WHEN_MISSING_FLOW", "ignore")
    # Prefect's log and event workers warn "Still processing items" from their own thread
    # while they flush at the end of a command (an event of the flow still in flight): that
    # is the flush itself, not news, and would be a second line after a one-line error
    for worker in ("APILogWorker", "EventsWorker"):  # their loggers' names
        progress = logging.getLogger(worker)
        if _still_processing not in progress.filters:
            progress.addFilter(_still_processing)


def _still_processing(record: logging.LogRecord) -> bool:
    return not str(record.msg).startswith("Still processing items")


class _CurrentStderr(logging.StreamHandler):
    """Writes to whatever sys.stderr is at the time (a test's capture, a redirect). Stage
    count lines are for the Prefect log only: the terminal gets the funnel table at the end."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.name != "thresher.stages" and super().filter(record)

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, _value):
        pass


def show_thresher_logs() -> None:
    """Thresher's warnings on stderr as `thresher: ...` lines (once per process)."""
    logger = logging.getLogger("thresher")
    if not any(isinstance(h, _CurrentStderr) for h in logger.handlers):
        handler = _CurrentStderr()
        handler.setFormatter(logging.Formatter("thresher: %(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        # printed once, by this handler (Beam's import gives the root logger a handler too);
        # Prefect's API handler sits on this logger itself, so the UI still gets them
        logger.propagate = False


def _user_error_names() -> set[str]:
    from thresher.scorers.errors import UserError

    names, todo = set(), [UserError]
    while todo:
        cls = todo.pop()
        names.add(cls.__name__)
        todo += cls.__subclasses__()
    return names


class _HideUserErrors(logging.Filter):
    """Drop Prefect's traceback logs for user errors: the CLI prints them as one line."""

    def filter(self, record: logging.LogRecord) -> bool:
        from thresher.scorers.errors import UserError

        if record.exc_info and isinstance(record.exc_info[1], UserError):
            return False
        message = record.getMessage()
        # Prefect names the exception in its state messages: "Failed(... RunLocked(...)" for a
        # flow, "Task run encountered an exception ConfigError: ..." for a task
        if "No space left on device" in message or "CRC checksum verification failed" in message:
            return False  # the CLI reports these in one line
        return not any(
            f"{name}(" in message or f"exception {name}:" in message for name in _user_error_names()
        )


_PREFECT_RUN_LOGGERS = ("prefect.flow_runs", "prefect.task_runs", "prefect.engine")


class _BeamReraised(logging.Filter):
    """Beam logs a failing DoFn's exception with its traceback and then raises it to the
    pipeline's caller, where the CLI reports it (one line for a user's or the machine's
    fault, a traceback for a bug): drop the duplicate log record."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno < logging.ERROR


# Beam's loggers that log an exception they then re-raise.
_BEAM_RERAISING_LOGGERS = ("apache_beam.runners.common", "apache_beam.runners.worker.sdk_worker")


def hide_user_error_tracebacks(hide: bool = True) -> None:
    """Install (or, for `--debug`, remove) the filters; calling it again changes nothing."""
    for name in _BEAM_RERAISING_LOGGERS:
        logger = logging.getLogger(name)
        for f in [f for f in logger.filters if isinstance(f, _BeamReraised)]:
            logger.removeFilter(f)
        if hide:
            logger.addFilter(_BeamReraised())
    for name in _PREFECT_RUN_LOGGERS:
        logger = logging.getLogger(name)
        for f in [f for f in logger.filters if isinstance(f, _HideUserErrors)]:
            logger.removeFilter(f)
        if hide:
            logger.addFilter(_HideUserErrors())


class _BeamImportNoise(logging.Filter):
    """Beam's bigquery client package logs "apitools not found ..." on the root logger when
    it is imported without the GCP extra; it is noise for every run that does not use GCP."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.name == "root" and str(record.msg).startswith("apitools not found"))


def quiet_beam_import() -> None:
    """Drop just that one message (once per process), leaving every other log alone."""
    root = logging.getLogger()
    if not any(isinstance(f, _BeamImportNoise) for f in root.filters):
        root.addFilter(_BeamImportNoise())


class _WorkerTracebacksDropped:
    """sys.stderr, minus the tracebacks Beam's worker threads print for a failing bundle
    (`sdk_worker` prints them before handing the same error to the pipeline's caller, where
    the CLI reports it once). Everything else passes through unchanged."""

    def __init__(self, inner):
        self.inner = inner
        self._dropping = threading.local()  # print() writes the text, then its "\n" apart

    def write(self, text: str) -> int:
        worker = threading.current_thread() is not threading.main_thread()
        if worker and (
            text.startswith("Traceback (most recent call last):")
            or (text == "\n" and getattr(self._dropping, "end", False))
        ):
            self._dropping.end = text != "\n"
            return len(text)
        self._dropping.end = False
        return self.inner.write(text)

    def __getattr__(self, name):  # flush, isatty, fileno, encoding, ...
        return getattr(self.inner, name)


def drop_worker_tracebacks(drop: bool = True) -> None:
    """Wrap (or, for `--debug`, unwrap) the current sys.stderr; calling it again is harmless."""
    current = sys.stderr
    inner = current.inner if isinstance(current, _WorkerTracebacksDropped) else current
    sys.stderr = _WorkerTracebacksDropped(inner) if drop else inner


def send_pending_logs_and_events(timeout: float = 5) -> None:
    """Send the log lines and events Prefect still buffers (it would at interpreter exit),
    if Prefect's workers were started in this process; errors (no server to send to) are
    Prefect's to log, not a reason to fail a finished command."""
    for module, worker in (
        ("prefect.logging.handlers", "APILogWorker"),
        ("prefect.events.worker", "EventsWorker"),
    ):
        if module in sys.modules:
            with contextlib.suppress(Exception):
                getattr(sys.modules[module], worker).drain_all(timeout=timeout)
