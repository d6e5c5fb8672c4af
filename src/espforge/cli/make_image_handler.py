"""Handler of `make-image`: an ESP8266 v1 image from raw segments (esptool v4).

Each image command has a module of its own, so that running one imports only the part of the
image library it drives.
"""

from __future__ import annotations

from dataclasses import dataclass

from espforge.chips import get_chip
from espforge.cli.framework import CommandOptions, Invocation, command
from espforge.cli.library_log import library_log_shown
from espforge.image.make_image import MAKE_IMAGE_CHIP, make_image


@dataclass(frozen=True)
class MakeImageOptions(CommandOptions):
    output: str
    segfile: tuple[str, ...]
    segaddr: tuple[int, ...]
    entrypoint: int


@command(MakeImageOptions)
def run_make_image(invocation: Invocation, options: MakeImageOptions) -> None:
    with library_log_shown(invocation):
        chip_name = get_chip(MAKE_IMAGE_CHIP).chip_name
        invocation.echo(f"Creating {chip_name} image...")
        make_image(
            options.output,
            list(options.segfile),
            list(options.segaddr),
            entry_point=options.entrypoint,
        )
        invocation.echo(f"Successfully created {chip_name} image.")
