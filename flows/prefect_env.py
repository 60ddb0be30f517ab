"""Prefect settings that must be in place before `import prefect`, and log hygiene.

Offline machines cannot send telemetry; without a server URL Prefect starts a
temporary local API for the duration of the flow.
"""

import logging
import os


def configure() -> None:
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("DO_NOT_TRACK", "1")
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")


class _HideUserErrors(logging.Filter):
    """Drop Prefect's traceback logs for user errors: the CLI prints them as one line."""

    def filter(self, record: logging.LogRecord) -> bool:
        from thresher.scorers.errors import UserError

        if record.exc_info and isinstance(record.exc_info[1], UserError):
            return False
        message = record.getMessage()
        return not any(
            f"{cls.__name__}(" in message for cls in (UserError, *UserError.__subclasses__())
        )


_PREFECT_RUN_LOGGERS = ("prefect.flow_runs", "prefect.task_runs", "prefect.engine")


def hide_user_error_tracebacks(hide: bool = True) -> None:
    """Install (or, for `--debug`, remove) the filter; calling it again changes nothing."""
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
