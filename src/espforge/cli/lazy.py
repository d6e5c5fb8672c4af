"""What the command line imports only when a command needs it: every deferred import of
espforge.cli is here, so that the rest can import at the top of their modules.

Building the command tree (`espforge --help`, `espforge version`) imports click, the spec
tables and the chip names only. Deferred:

- the handler modules (`*_handlers.py`, named by each spec as "module:function"): they import
  the libraries they drive at their top - the image tools, cryptography (secure), pyserial
  and rich (every device command), the eFuse tables - which cost a start-up far more than
  one command needs;
- the config file reader (configparser, pathlib): read before a command runs, never for
  `version` or `--help`;
- the file reader (tempfile and friends): only for `@FILE` argument files;
- the device runner (pyserial and rich, through the flash layer) for `espforge efuse`, whose
  `--virt` and `--token` sessions never open a port.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable
    from contextlib import AbstractContextManager

    from espforge.cli.options import ConnectionSettings
    from espforge.config import Settings
    from espforge.flash import Device

HANDLER_PACKAGE = "espforge.cli"


def handler(reference: str) -> Callable[..., None]:
    """The handler a spec names as "module:function" (a module of espforge.cli)."""
    module_name, _, function_name = reference.partition(":")
    return getattr(import_module(f"{HANDLER_PACKAGE}.{module_name}"), function_name)


def config_settings() -> Settings:
    """The config file's settings (and its warnings)."""
    from espforge.config import load_settings

    return load_settings()


def config_option_defaults(settings: Settings) -> dict[str, str]:
    """The global options the config file sets, as command-line text."""
    from espforge.config import option_defaults

    return option_defaults(settings=settings)


def read_argument_file(path: str) -> bytes:
    """An `@FILE` argument file's bytes."""
    from espforge.fileio import read_input

    return read_input(path)


def connect(connection: ConnectionSettings) -> AbstractContextManager[Device]:
    """`device.connect`: the chip `connection` names, connected."""
    from espforge.cli import device

    return device.connect(connection)
