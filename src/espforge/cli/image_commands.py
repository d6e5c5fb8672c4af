"""Handlers of the image commands: turn parsed options into library calls and report results.

Imported only when one of these commands runs.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable

import click

from espforge.chips import CHIP_NAMES, ChipSpec, get_chip
from espforge.cli.commands import Invocation
from espforge.cli.options import size_in_bytes
from espforge.errors import EspforgeError


def _chosen_chip(invocation: Invocation) -> ChipSpec:
    """The chip named by --chip; image building cannot guess it."""
    if invocation.settings.chip == "auto":
        raise EspforgeError(f"Specify the --chip argument (choose from {', '.join(CHIP_NAMES)}).")
    return get_chip(invocation.settings.chip)


def _optional_size(text: str | None) -> int | None:
    return None if text is None else size_in_bytes(text)


def _shows_library_log(handler: Callable[[Invocation], None]) -> Callable[[Invocation], None]:
    """Run `handler` printing what the image library logs the way esptool prints its messages."""

    @functools.wraps(handler)
    def run(invocation: Invocation) -> None:
        logger = logging.getLogger("espforge")
        echo = _EchoHandler(invocation)
        previous_level = logger.level
        logger.addHandler(echo)
        logger.setLevel(logging.ERROR if invocation.settings.silent else logging.INFO)
        try:
            handler(invocation)
        finally:
            logger.removeHandler(echo)
            logger.setLevel(previous_level)

    return run


class _EchoHandler(logging.Handler):
    def __init__(self, invocation: Invocation) -> None:
        super().__init__()
        self.invocation = invocation

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if record.levelno >= logging.ERROR:
            click.echo(f"ERROR: {message}", err=True)
        elif record.levelno >= logging.WARNING:
            self.invocation.warn(message)
        else:
            self.invocation.echo(message)


@_shows_library_log
def run_image_info(invocation: Invocation) -> None:
    from espforge.image.info import inspect_image_file

    result = inspect_image_file(invocation.arguments["filename"], chip=invocation.settings.chip)
    invocation.echo(result.text.rstrip("\n"))
    for line in result.stderr_lines:
        if line.startswith("ERROR:") or not invocation.settings.silent:
            click.echo(line, err=True)


@_shows_library_log
def run_elf2image(invocation: Invocation) -> None:
    from espforge.image.elf2image import Elf2ImageOptions, elf2image

    chip = _chosen_chip(invocation)
    values = invocation.arguments
    options = Elf2ImageOptions(
        version=int(values["version"]),
        flash_mode=values["flash_mode"],
        flash_freq=values["flash_freq"],
        flash_size=values["flash_size"],
        min_rev=values["min_rev"],
        min_rev_full=values["min_rev_full"],
        max_rev_full=values["max_rev_full"],
        secure_pad=values["secure_pad"],
        secure_pad_v2=values["secure_pad_v2"],
        elf_sha256_offset=values["elf_sha256_offset"],
        append_digest=not values["dont_append_digest"],
        use_segments=values["use_segments"],
        flash_mmu_page_size=_optional_size(values["flash_mmu_page_size"]),
        pad_to_size=values["pad_to_size"],
        ram_only_header=values["ram_only_header"],
    )
    invocation.echo(f"Creating {chip.chip_name} image...")
    elf2image(values["filename"], chip, options, output=values["output"])
    invocation.echo(f"Successfully created {chip.chip_name} image.")


@_shows_library_log
def run_merge_bin(invocation: Invocation) -> None:
    from espforge.image.merge import MergeOptions, merge_bin

    chip = _chosen_chip(invocation)
    values = invocation.arguments
    options = MergeOptions(
        format=values["format"],
        target_offset=values["target_offset"],
        pad_to_size=_optional_size(values["pad_to_size"]),
        flash_mode=values["flash_mode"],
        flash_freq=values["flash_freq"],
        flash_size=values["flash_size"],
        chunk_size=values["chunk_size"],
        md5_disable=values["md5_disable"],
    )
    merge_bin(values["addr_filename"], chip, values["output"], options)


@_shows_library_log
def run_make_image(invocation: Invocation) -> None:
    from espforge.image.make_image import MAKE_IMAGE_CHIP, make_image

    chip_name = get_chip(MAKE_IMAGE_CHIP).chip_name
    values = invocation.arguments
    invocation.echo(f"Creating {chip_name} image...")
    make_image(
        values["output"],
        list(values["segfile"]),
        list(values["segaddr"]),
        entry_point=values["entrypoint"],
    )
    invocation.echo(f"Successfully created {chip_name} image.")
