"""Handlers of the image commands: image-info, elf2image, merge-bin and make-image.

Each turns its typed options into a call of the image library and reports as esptool does;
what the library logs is printed through `library_log`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import click

from espforge.chips import CHIP_NAMES, ChipSpec, get_chip
from espforge.cli.framework import CommandOptions, Invocation, command
from espforge.cli.library_log import library_log_shown
from espforge.cli.options import size_in_bytes
from espforge.errors import EspforgeError
from espforge.image.elf2image import Elf2ImageOptions, elf2image
from espforge.image.info import inspect_image_file
from espforge.image.make_image import MAKE_IMAGE_CHIP, make_image
from espforge.image.merge import MergeOptions, merge_bin


def _chosen_chip(invocation: Invocation) -> ChipSpec:
    """The chip named by --chip; image building cannot guess it."""
    if invocation.settings.chip == "auto":
        raise EspforgeError(f"Specify the --chip argument (choose from {', '.join(CHIP_NAMES)}).")
    return get_chip(invocation.settings.chip)


def _optional_size(text: str | None) -> int | None:
    return None if text is None else size_in_bytes(text)


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


@dataclass(frozen=True)
class Elf2ImageCommandOptions(CommandOptions):
    filename: str
    output: str | None
    image: Elf2ImageOptions

    @classmethod
    def from_arguments(cls, values: Mapping[str, Any]) -> Elf2ImageCommandOptions:
        image = Elf2ImageOptions(
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
        return cls(filename=values["filename"], output=values["output"], image=image)


@command(Elf2ImageCommandOptions)
def run_elf2image(invocation: Invocation, options: Elf2ImageCommandOptions) -> None:
    with library_log_shown(invocation):
        chip = _chosen_chip(invocation)
        invocation.echo(f"Creating {chip.chip_name} image...")
        elf2image(options.filename, chip, options.image, output=options.output)
        invocation.echo(f"Successfully created {chip.chip_name} image.")


@dataclass(frozen=True)
class MergeBinCommandOptions(CommandOptions):
    addr_filename: list[tuple[int, str]]
    output: str
    merge: MergeOptions

    @classmethod
    def from_arguments(cls, values: Mapping[str, Any]) -> MergeBinCommandOptions:
        merge = MergeOptions(
            format=values["format"],
            target_offset=values["target_offset"],
            pad_to_size=_optional_size(values["pad_to_size"]),
            flash_mode=values["flash_mode"],
            flash_freq=values["flash_freq"],
            flash_size=values["flash_size"],
            chunk_size=values["chunk_size"],
            md5_disable=values["md5_disable"],
        )
        return cls(addr_filename=values["addr_filename"], output=values["output"], merge=merge)


@command(MergeBinCommandOptions)
def run_merge_bin(invocation: Invocation, options: MergeBinCommandOptions) -> None:
    with library_log_shown(invocation):
        chip = _chosen_chip(invocation)
        merge_bin(options.addr_filename, chip, options.output, options.merge)


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
