"""What the libraries log (espforge's logger), printed the way esptool prints its messages:
errors on stderr, warnings as WARNING: lines (none with --silent), notes on stdout."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

from espforge.cli.framework import Invocation, output


@contextmanager
def library_log_shown(invocation: Invocation) -> Iterator[None]:
    """Print what the espforge logger logs while the block runs."""
    logger = logging.getLogger("espforge")
    echo = _EchoHandler(invocation)
    previous_level = logger.level
    logger.addHandler(echo)
    logger.setLevel(logging.ERROR if invocation.settings.silent else logging.INFO)
    try:
        yield
    finally:
        logger.removeHandler(echo)
        logger.setLevel(previous_level)


class _EchoHandler(logging.Handler):
    def __init__(self, invocation: Invocation) -> None:
        super().__init__()
        self.invocation = invocation

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if record.levelno >= logging.ERROR:
            output(f"ERROR: {message}", err=True)
        elif record.levelno >= logging.WARNING:
            self.invocation.warn(message)
        else:
            self.invocation.echo(message)
