"""Handler of `elf2image`: an ELF file turned into a flashable image.

Each image command has a module of its own, so that running one imports only the part of the
image library it drives.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from espforge.cli.framework import CommandOptions, Invocation, command
from espforge.cli.image_args import chosen_chip, optional_size
from espforge.cli.library_log import library_log_shown
from espforge.image.elf2image import Elf2ImageOptions, elf2image


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
            flash_mmu_page_size=optional_size(values["flash_mmu_page_size"]),
            pad_to_size=values["pad_to_size"],
            ram_only_header=values["ram_only_header"],
        )
        return cls(filename=values["filename"], output=values["output"], image=image)


@command(Elf2ImageCommandOptions)
def run_elf2image(invocation: Invocation, options: Elf2ImageCommandOptions) -> None:
    with library_log_shown(invocation):
        chip = chosen_chip(invocation)
        invocation.echo(f"Creating {chip.chip_name} image...")
        elf2image(options.filename, chip, options.image, output=options.output)
        invocation.echo(f"Successfully created {chip.chip_name} image.")
