"""structlog setup: JSON lines when stderr is not a terminal, readable lines when it is."""

from __future__ import annotations

import contextlib
import logging
import sys
import threading
from typing import Any, TextIO

import structlog

_WRITE = threading.Lock()


class StderrLogger:
    """Prints each rendered line to the stream given, and never raises.

    A log call sits inside the scheduler's background threads (leader election, the cycle,
    agent sessions). A stream closed or broken under them (a daemon's stderr pipe gone, a
    test capture closed while a thread was between its lookup and its write) must cost a log
    line, not the thread: a leader-election thread that died while logging "leadership_gained"
    left a replica holding the lease without ever scheduling."""

    def __init__(self, file: TextIO) -> None:
        self._file = file

    def msg(self, message: str) -> None:
        # A closed stream raises ValueError, a broken pipe OSError.
        with _WRITE, contextlib.suppress(OSError, ValueError):
            print(message, file=self._file, flush=True)

    log = debug = info = warn = warning = msg
    fatal = failure = err = error = critical = exception = msg


def _stderr_logger(*_args: Any) -> StderrLogger:
    # Looked up at each call rather than bound once, so a redirected sys.stderr (a daemon's
    # log file, a test's capture) is honoured.
    return StderrLogger(sys.stderr)


def configure(level: str = "info", *, json: bool | None = None) -> None:
    if json is None:
        json = not sys.stderr.isatty()
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer(ensure_ascii=False)
        if json
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.getLevelNamesMapping()[level.upper()]
        ),
        logger_factory=_stderr_logger,
        cache_logger_on_first_use=False,
    )
