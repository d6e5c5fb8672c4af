"""Handler of `espforge virtual serve`: a virtual chip for other programs (esptool, IDEs, tests)
to connect to, on a pseudo-terminal, a loopback TCP port or a loopback RFC 2217 server."""

from __future__ import annotations

from dataclasses import dataclass

from espforge.cli.framework import CommandOptions, Invocation, command
from espforge.errors import EspforgeError
from espforge.virtual.transports import serve


@dataclass(frozen=True)
class ServeOptions(CommandOptions):
    chip: str | None  # None: the global --chip
    flash_size: str
    flash_file: str | None
    pty: bool
    tcp: int | None
    rfc2217: int | None
    port_file: str | None
    option: tuple[str, ...]  # KEY=VALUE

    def chip_options(self) -> dict[str, str]:
        """The --option pairs as a virtual:// URL's options."""
        options = {}
        for pair in self.option:
            key, equals, value = pair.partition("=")
            if not equals or not key:
                raise EspforgeError(f"--option '{pair}' is not KEY=VALUE (e.g. --option mac=...)")
            options[key.strip()] = value.strip()
        return options


@command(ServeOptions)
def run_serve(invocation: Invocation, options: ServeOptions) -> None:
    chip = options.chip or invocation.settings.chip
    if chip in (None, "auto"):
        raise EspforgeError("name the chip to emulate: espforge virtual serve --chip esp32c3")
    serve(
        chip,
        flash_size=options.flash_size,
        flash_file=options.flash_file,
        pty=options.pty,
        tcp_port=options.tcp,
        rfc2217_port=options.rfc2217,
        port_file=options.port_file,
        options=options.chip_options(),
        announce=invocation.echo,
    )
