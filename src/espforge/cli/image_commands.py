"""The image tools' commands, as data: build, merge, inspect and check images offline.

Their handlers are in a module per image command (`*_handler`) and `layout_handlers`.
"""

from __future__ import annotations

import click

from espforge.cli.framework import IMAGE_TOOLS, CommandSpec
from espforge.cli.options import (
    ADDRESS_FILE_PAIRS,
    MMU_PAGE_SIZES,
    PAD_SIZES,
    AnyInt,
    Arg,
    ByteSize,
    ChunkSize,
    LegacyChoice,
    file_argument,
    flag,
    flash_options,
    option,
)

_FLASH_SIZE = option(
    "--flash-size",
    help="Flash size to check against (e.g. 4MB, 0x400000).",
    type=ByteSize(),
)

PARTITION_TABLE_HELP = (
    "Convert an ESP-IDF partition table between CSV and binary (the input's kind is detected), "
    "or print it with its free space when no OUTPUT is given. With no INPUT and a --port, "
    "print the table the chip holds at --offset."
)

PARTITION_TABLE_PARAMS = (
    Arg("input", click.Path(dir_okay=False), required=False),
    Arg("output", click.Path(dir_okay=False), required=False),
    option(
        "--offset",
        help="Flash offset of the partition table.",
        type=AnyInt(),
        default="0x8000",
        legacy_names=("--partition-table-offset",),  # parttool's name, for the chip's table
    ),
    _FLASH_SIZE,
    flag("--secure", help="Require app partition sizes fit for secure boot (multiples of 64K)."),
    flag("--disable-md5sum", help="Leave the MD5 row out of the binary table."),
    option(
        "--primary-bootloader-offset",
        help="Where a bootloader entry with no offset goes (default: --chip's bootloader offset).",
        type=AnyInt(),
    ),
)

CHECK_LAYOUT_HELP = (
    "Check files about to be flashed: the bootloader, the partition table, each app image "
    "inside its partition, and the flash size. Exits non-zero on errors."
)

CHECK_LAYOUT_PARAMS = (
    ADDRESS_FILE_PAIRS,
    _FLASH_SIZE,
    option(
        "--partition-table-offset",
        help="Flash offset of the partition table.",
        type=AnyInt(),
        default="0x8000",
    ),
    flag("--force", help="Let the errors that may be overridden pass."),
)

IMAGE_COMMANDS = (
    CommandSpec(
        "image-info",
        IMAGE_TOOLS,
        "Print information about a firmware image (bootloader or application).",
        params=(file_argument("filename"),),
        handler="image_info_handler:run_image_info",
    ),
    CommandSpec(
        "elf2image",
        IMAGE_TOOLS,
        "Create an application image from an ELF file.",
        params=(
            file_argument("filename"),
            option(
                "--output",
                "-o",
                help="Output filename, or filename prefix for ESP8266 v1 images.",
                type=click.STRING,
            ),
            option(
                "--version",
                "-e",
                help="Output image version (ESP8266).",
                type=click.Choice(("1", "2", "3")),
                default="1",
            ),
            option(
                "--min-rev",
                "-r",
                help="Minimal chip revision, legacy format (prefer --min-rev-full).",
                type=click.IntRange(0, 256),
                default=0,
                hidden=True,
            ),
            option(
                "--min-rev-full",
                help="Minimal chip revision (major * 100 + minor).",
                type=click.IntRange(0, 65536),
                default=0,
            ),
            option(
                "--max-rev-full",
                help="Maximal chip revision (major * 100 + minor).",
                type=click.IntRange(0, 65536),
                default=65535,
            ),
            flag(
                "--secure-pad",
                help="Pad the image so that once signed it ends on a 64KB boundary "
                "(Secure Boot v1 only).",
            ),
            flag(
                "--secure-pad-v2",
                help="Pad the image to 64KB so that its signature sector starts at the next "
                "64KB block (Secure Boot v2 only).",
            ),
            option(
                "--elf-sha256-offset",
                help="Insert the SHA-256 of the ELF file (32 bytes) at this image offset.",
                type=AnyInt(),
            ),
            flag(
                "--dont-append-digest",
                help="Do not append a SHA-256 digest of the image after the checksum "
                "(ignored for ESP8266).",
            ),
            flag(
                "--use-segments",
                help="Build the image from ELF segments instead of ELF sections.",
            ),
            option(
                "--flash-mmu-page-size",
                help="Flash MMU page size.",
                type=LegacyChoice(MMU_PAGE_SIZES),
            ),
            option(
                "--pad-to-size",
                help="Pad the image with 0xFF to a multiple of this block size "
                "(e.g. 4MB, 64KB, 0x10000).",
                type=ByteSize(),
            ),
            flag(
                "--ram-only-header",
                help="Put IRAM and DRAM segments first and count only them in the header, "
                "hiding the other segments from the ROM loader. Implies --dont-append-digest.",
            ),
            *flash_options(keep=False, detect=False),
        ),
        handler="elf2image_handler:run_elf2image",
    ),
    CommandSpec(
        "merge-bin",
        IMAGE_TOOLS,
        "Merge multiple raw binary files into a single flashable file.",
        params=(
            ADDRESS_FILE_PAIRS,
            option("--output", "-o", help="Output filename.", type=click.STRING, required=True),
            option(
                "--format",
                "-f",
                help="Format of the output file.",
                type=click.Choice(("raw", "uf2", "hex")),
                default="raw",
            ),
            option(
                "--chunk-size",
                help="UF2: data bytes used of each 512-byte block (e.g. 256); "
                "the most possible by default.",
                type=ChunkSize(),
            ),
            flag("--md5-disable", help="UF2: leave out the MD5 checksum."),
            option(
                "--target-offset",
                "-t",
                help="Raw: the flash offset the output file will be written to.",
                type=AnyInt(),
                default=0,
            ),
            option(
                "--pad-to-size",
                help="Raw: pad the output with 0xFF up to this flash size.",
                type=LegacyChoice(PAD_SIZES),
                legacy_names=("--fill-flash-size",),
            ),
            *flash_options(keep=True, detect=False),
        ),
        handler="merge_bin_handler:run_merge_bin",
    ),
    CommandSpec(
        "make-image",
        IMAGE_TOOLS,
        "Create an ESP8266 application image from raw segment files.",
        params=(
            Arg("output", click.Path(dir_okay=False)),
            option(
                "--segfile",
                "-f",
                help="A segment's input file (repeat for each segment).",
                type=click.Path(exists=True, dir_okay=False),
                multiple=True,
            ),
            option(
                "--segaddr",
                "-a",
                help="A segment's load address (repeat, in the order of --segfile).",
                type=AnyInt(),
                multiple=True,
            ),
            option("--entrypoint", "-e", help="Entry point address.", type=AnyInt(), default=0),
        ),
        handler="make_image_handler:run_make_image",
    ),
    CommandSpec(
        "partition-table",
        IMAGE_TOOLS,
        PARTITION_TABLE_HELP,
        params=PARTITION_TABLE_PARAMS,
        handler="layout_handlers:run_partition_table",
    ),
    CommandSpec(
        "check-layout",
        IMAGE_TOOLS,
        CHECK_LAYOUT_HELP,
        params=CHECK_LAYOUT_PARAMS,
        handler="layout_handlers:run_check_layout",
    ),
)
