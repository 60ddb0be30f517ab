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


def hide_user_error_tracebacks() -> None:
    for name in ("prefect.flow_runs", "prefect.task_runs", "prefect.engine"):
        logging.getLogger(name).addFilter(_HideUserErrors())
