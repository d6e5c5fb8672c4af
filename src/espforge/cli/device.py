"""How a device command runs: check its input, connect with the global options, print the
chip banner, attach the flash, show progress, run, then reset as --after says.

`connect` is the one place the command line opens a device (`flash.open_device`). Imported
only with the handler modules, as it loads pyserial and rich through the flash layer.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any

from espforge.cli.framework import CommandOptions, Handler, Invocation, OptionsT
from espforge.cli.library_log import library_log_shown
from espforge.cli.options import ConnectionSettings
from espforge.cli.progress import show_progress
from espforge.errors import NotSupportedError, SecureDownloadModeError
from espforge.flash import Device, mac_addresses, open_device
from espforge.flash.memory import format_mac
from espforge.protocol.connect import ConnectOptions
from espforge.protocol.security import SECURE_DOWNLOAD_MODE_COMMANDS
from espforge.protocol.stub_image import StubSource


@contextmanager
def connect(connection: ConnectionSettings) -> Iterator[Device]:
    """The chip `connection` names, connected (and reset as its `after` says on leaving)."""
    stub = None if connection.no_stub else StubSource(connection.stub_file, connection.stub_dir)
    options = ConnectOptions(
        port=connection.port,
        chip=connection.chip,
        baud=connection.baud,
        before=connection.before,
        connect_attempts=connection.connect_attempts,
        trace=connection.trace,
        port_filter=connection.port_filter,
    )
    with open_device(options, after=connection.after, stub=stub) as device:
        yield device


@dataclass(frozen=True)
class AttachOptions(CommandOptions):
    """The values of a device command that the runner reads (where the command has them)."""

    spi_connection: str | tuple[int, ...] | None = None
    flash_type: str = "nor"
    no_progress: bool = False

    @classmethod
    def from_arguments(cls, values: Mapping[str, Any]) -> AttachOptions:
        defaults = cls()
        return cls(
            spi_connection=values.get("spi_connection", defaults.spi_connection),
            flash_type=values.get("flash_type", defaults.flash_type),
            no_progress=values.get("no_progress", defaults.no_progress),
        )


DeviceBody = Callable[..., None]
Preparation = Callable[[Invocation, Any], Any]


def device_command(
    options_type: type[OptionsT],
    attach: bool = True,
    reset: bool = True,
    prepare: Preparation | None = None,
    detect_flash_size: bool = False,
) -> Callable[[DeviceBody], Handler]:
    """Make `body(invocation, device, options)` a handler, `options` built as `command` does.

    With `prepare`, `body` takes a fourth argument: what `prepare(invocation, options)`
    returned, checked and loaded before connecting, so bad input never reaches the chip.
    `attach` attaches the SPI flash; without `reset` the chip is left running what it was
    given instead of being reset as --after says; `detect_flash_size` tells the chip the size
    its flash reports (the ROM assumes 2MB until told).
    """

    def decorate(body: DeviceBody) -> Handler:
        @functools.wraps(body)
        def run(invocation: Invocation) -> None:
            with library_log_shown(invocation):
                options = options_type.from_arguments(invocation.arguments)
                extra = (prepare(invocation, options),) if prepare else ()

                def on_device(device: Device) -> None:
                    if detect_flash_size:
                        device.configure_flash_size("detect")
                    body(invocation, device, options, *extra)

                _run_connected(invocation, on_device, attach=attach, reset=reset)

        return run

    return decorate


def _run_connected(
    invocation: Invocation,
    body: Callable[[Device], None],
    attach: bool = True,
    reset: bool = True,
) -> None:
    """Connect as the global options say and run `body(device)` as every device command runs."""
    runner = AttachOptions.from_arguments(invocation.arguments)
    _refuse_unsupported(invocation, runner)
    connection = invocation.settings.connection
    with connect(connection if reset else replace(connection, after=None)) as device:
        print_banner(invocation, device)
        _check_secure_download_mode(invocation, device)
        if attach:
            device.attach_flash(runner.spi_connection)
        enabled = not invocation.settings.silent and not runner.no_progress
        with show_progress(device.progress, enabled):
            body(device)
        invocation.echo("")
        if not reset:
            invocation.echo("Exiting immediately.")


def _refuse_unsupported(invocation: Invocation, runner: AttachOptions) -> None:
    if invocation.settings.override_vddsdio:
        raise NotSupportedError("--override-vddsdio is not available in espforge yet")
    if runner.flash_type == "nand":
        raise NotSupportedError("NAND flash is not supported by espforge yet")


def print_banner(invocation: Invocation, device: Device) -> None:
    loader = device.loader
    echo = invocation.echo
    echo(f"Connected to {device.chip.chip_name} on {loader.port_name}:")
    if device.secure_download_mode:
        echo(f"{'Chip type:':<20}{device.chip.chip_name} in Secure Download Mode")
        echo("")
        return
    revision = ""
    if device.chip.revision is not None:
        major, minor = loader.chip_revision()
        revision = f" (revision v{major}.{minor})"
    echo(f"{'Chip type:':<20}{device.chip.chip_name}{revision}")
    echo(f"{'Crystal frequency:':<20}{loader.crystal_mhz()}MHz")
    if loader.usb_mode is not None:
        echo(f"{'USB mode:':<20}{loader.usb_mode}")
    print_macs(invocation, device)
    echo("")


def print_macs(invocation: Invocation, device: Device) -> None:
    for label, mac in mac_addresses(device):
        invocation.echo(f"{label + ':':<20}{format_mac(mac)}")


def _check_secure_download_mode(invocation: Invocation, device: Device) -> None:
    if device.secure_download_mode and invocation.command not in SECURE_DOWNLOAD_MODE_COMMANDS:
        raise SecureDownloadModeError(
            f"The '{invocation.command}' command is not available in Secure Download Mode."
        )
