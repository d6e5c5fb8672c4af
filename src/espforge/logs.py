"""Loggers for the library: notes and warnings that the CLI shows and API callers may collect."""

from __future__ import annotations

import logging

ROOT = "espforge"

# An API caller sees espforge's messages only once it configures logging, as with any library.
logging.getLogger(ROOT).addHandler(logging.NullHandler())


def library_logger(name: str) -> logging.Logger:
    """The logger of the module `name` (a child of the "espforge" logger)."""
    return logging.getLogger(name)
