"""Handler of `merge-bin`: files merged into one flash image (raw, Intel HEX or UF2).

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
from espforge.image.merge import MergeOptions, merge_bin


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
            pad_to_size=optional_size(values["pad_to_size"]),
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
        chip = chosen_chip(invocation)
        merge_bin(options.addr_filename, chip, options.output, options.merge)
