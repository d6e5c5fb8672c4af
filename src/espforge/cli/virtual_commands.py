"""Handler of `espforge virtual serve`: a virtual chip for other programs (esptool, IDEs, tests)
to connect to, on a pseudo-terminal, a loopback TCP port or a loopback RFC 2217 server.
Imported only when it runs."""

from __future__ import annotations

from espforge.cli.commands import Invocation
from espforge.errors import EspforgeError


def run_serve(invocation: Invocation) -> None:
    from espforge.virtual.transports import serve

    values = invocation.arguments
    chip = values["chip"] or invocation.settings.chip
    if chip in (None, "auto"):
        raise EspforgeError("name the chip to emulate: espforge virtual serve --chip esp32c3")
    serve(
        chip,
        flash_size=values["flash_size"],
        flash_file=values["flash_file"],
        pty=values["pty"],
        tcp_port=values["tcp"],
        rfc2217_port=values["rfc2217"],
        port_file=values["port_file"],
        options=_options(values["option"]),
        announce=invocation.echo,
    )


def _options(pairs: tuple[str, ...]) -> dict[str, str]:
    options = {}
    for pair in pairs:
        key, equals, value = pair.partition("=")
        if not equals or not key:
            raise EspforgeError(f"--option '{pair}' is not KEY=VALUE (e.g. --option mac=...)")
        options[key.strip()] = value.strip()
    return options
