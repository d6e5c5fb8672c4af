"""Handler of `image-info`: an image's headers, segments and descriptors, as esptool prints them.

Each image command has a module of its own, so that running one imports only the part of the
image library it drives.
"""

from __future__ import annotations

from dataclasses import dataclass

import click

from espforge.cli.framework import CommandOptions, Invocation, command
from espforge.cli.library_log import library_log_shown
from espforge.image.info import inspect_image_file


@dataclass(frozen=True)
class ImageInfoOptions(CommandOptions):
    filename: str


@command(ImageInfoOptions)
def run_image_info(invocation: Invocation, options: ImageInfoOptions) -> None:
    with library_log_shown(invocation):
        result = inspect_image_file(options.filename, chip=invocation.settings.chip)
        invocation.echo(result.text.rstrip("\n"))
        for line in result.stderr_lines:
            if line.startswith("ERROR:") or not invocation.settings.silent:
                click.echo(line, err=True)
