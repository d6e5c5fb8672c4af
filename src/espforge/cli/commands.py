"""Every command espforge offers, as data: name, help section, options, and the handler to run.

A handler is named "module:function" and imported only when its command runs, so start-up
stays fast. Device commands run in `espforge.cli.device_commands`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

import click

from espforge.cli import partition_commands as partitions
from espforge.cli.options import (
    FLASH_TYPE,
    MMU_PAGE_SIZES,
    PAD_SIZES,
    SPI_CONNECTION,
    AmountOfBytes,
    AnyInt,
    Arg,
    ByteSize,
    ChipChoice,
    ChunkSize,
    GlobalOptions,
    LegacyChoice,
    Opt,
    address_file_pairs,
    flag,
    flash_options,
    option,
    previous_files,
)

IMAGE_TOOLS = "Image tools"
FLASH = "Flash"
CHIP_AND_MEMORY = "Chip and memory"
SECURITY = "Security and eFuses"
OTHER = "Other"
SECTIONS = (IMAGE_TOOLS, FLASH, CHIP_AND_MEMORY, SECURITY, OTHER)


@dataclass(frozen=True)
class CommandSpec:
    name: str
    section: str
    help: str
    params: tuple[Opt | Arg, ...] = ()
    handler: str | None = None  # "module:function" taking an Invocation
    hidden: bool = False
    exclusive: tuple[tuple[str, ...], ...] = ()  # groups of options that exclude each other
    requires: tuple[tuple[str, str], ...] = ()  # (option, option it needs)


@dataclass(frozen=True)
class Invocation:
    """One parsed command line: the command, the global options and the command's own values."""

    command: str
    settings: GlobalOptions
    arguments: Mapping[str, Any]

    def echo(self, text: str) -> None:
        """Print progress or a result on stdout, unless --silent."""
        if not self.settings.silent:
            click.echo(text)

    def warn(self, text: str) -> None:
        """Print a warning on stderr, unless --silent."""
        if not self.settings.silent:
            click.echo(f"WARNING: {text}", err=True)


def _device_handler(function: str) -> str:
    return f"espforge.cli.device_commands:{function}"


def _file_argument(dest: str) -> Arg:
    return Arg(dest, click.Path(exists=True, dir_okay=False))


_ADDRESS = Arg("address", AnyInt())
_ADDRESS_FILE_PAIRS = Arg("addr_filename", nargs=-1, convert=address_file_pairs)
_NO_PROGRESS = flag("--no-progress", "-p", help="Suppress progress output.")
_NAND_SPI_CONNECTION = replace(SPI_CONNECTION, required=True)  # NAND needs its wiring named
_STATUS_BYTES = option(
    "--bytes",
    help="Number of status bytes (1-3).",
    type=click.Choice(("1", "2", "3")),
    default="2",
)

IMAGE_COMMANDS = (
    CommandSpec(
        "image-info",
        IMAGE_TOOLS,
        "Print information about a firmware image (bootloader or application).",
        params=(_file_argument("filename"),),
        handler="espforge.cli.image_commands:run_image_info",
    ),
    CommandSpec(
        "elf2image",
        IMAGE_TOOLS,
        "Create an application image from an ELF file.",
        params=(
            _file_argument("filename"),
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
        handler="espforge.cli.image_commands:run_elf2image",
    ),
    CommandSpec(
        "merge-bin",
        IMAGE_TOOLS,
        "Merge multiple raw binary files into a single flashable file.",
        params=(
            _ADDRESS_FILE_PAIRS,
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
        handler="espforge.cli.image_commands:run_merge_bin",
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
        handler="espforge.cli.image_commands:run_make_image",
    ),
    CommandSpec(
        "partition-table",
        IMAGE_TOOLS,
        partitions.PARTITION_TABLE_HELP,
        params=partitions.PARTITION_TABLE_PARAMS,
        handler="espforge.cli.partition_commands:run_partition_table",
    ),
    CommandSpec(
        "check-layout",
        IMAGE_TOOLS,
        partitions.CHECK_LAYOUT_HELP,
        params=partitions.CHECK_LAYOUT_PARAMS,
        handler="espforge.cli.partition_commands:run_check_layout",
    ),
)

DEVICE_COMMANDS = (
    CommandSpec(
        "write-flash",
        FLASH,
        "Write binary files to flash: each address is followed by its file.",
        params=(
            _ADDRESS_FILE_PAIRS,
            flag(
                "--erase-all",
                "-e",
                help="Erase the whole flash, not just the written areas, before writing.",
            ),
            _NO_PROGRESS,
            flag("--encrypt", help="Encrypt the data as it is written (needs flash encryption)."),
            option(
                "--encrypt-files",
                help="The address/file pairs to encrypt while writing.",
                type=click.STRING,
                multiple=True,
                eat_all=True,
                convert=lambda words: address_file_pairs(words) if words else None,
            ),
            flag(
                "--ignore-flash-enc-efuse",
                help="Ignore the flash encryption eFuse settings.",
                legacy_names=("--ignore-flash-encryption-efuse-setting",),
            ),
            option(
                "--diff-with",
                help="Files flashed before, one per file written (or 'skip'): only the "
                "changed sectors are written.",
                type=click.STRING,
                multiple=True,
                eat_all=True,
                convert=previous_files,
            ),
            flag(
                "--trust-flash-content",
                help="With --diff-with: skip verifying the files that did not change.",
                legacy_names=("--no-diff-verify",),
            ),
            flag(
                "--skip-flashed",
                "-s",
                help="Skip writing files whose MD5 already matches the flash content.",
            ),
            flag(
                "--skip-unchanged",
                help="Compare the flash with each file in 16 KB regions (MD5 on the chip), "
                "write only the regions that differ and verify only those. The default for "
                "files over 16 KB with the flasher stub or a ROM that computes MD5s, unless "
                "--erase-all, --diff-with or --skip-flashed is given.",
            ),
            flag(
                "--no-skip-unchanged",
                help="Write every file whole, without comparing it with the flash first.",
            ),
            flag("--force", help="Skip security and compatibility checks. Use with caution!"),
            flag(
                "--dry-run",
                help="Show the write plan (what is skipped, erased, written and verified) "
                "and stop before erasing anything.",
            ),
            flag(
                "--compress",
                "-z",
                help="Compress data in transfer (the default wherever the ROM takes it).",
            ),
            flag(
                "--no-compress",
                "-u",
                help="Do not compress data in transfer.",
            ),
            option(
                "--nand-end-address",
                help="End address (exclusive) of the NAND bad-block skip window.",
                type=AnyInt(),
                hidden=True,
            ),
            *flash_options(keep=True, detect=True),
            FLASH_TYPE,
            SPI_CONNECTION,
        ),
        exclusive=(
            ("compress", "no_compress"),
            ("encrypt", "encrypt_files"),
            ("skip_flashed", "diff_with"),
            ("skip_flashed", "trust_flash_content"),
            ("skip_unchanged", "skip_flashed"),
            ("skip_unchanged", "diff_with"),
            ("skip_unchanged", "no_skip_unchanged"),
        ),
        requires=(("trust_flash_content", "diff_with"),),
        handler=_device_handler("run_write_flash"),
    ),
    CommandSpec(
        "read-flash",
        FLASH,
        "Read SPI flash memory content to a file.",
        params=(
            _ADDRESS,
            Arg("size", AmountOfBytes()),
            Arg("output", click.Path(dir_okay=False)),
            _NO_PROGRESS,
            *flash_options(keep=True, detect=True, size_only=True),
            FLASH_TYPE,
            SPI_CONNECTION,
        ),
        handler=_device_handler("run_read_flash"),
    ),
    CommandSpec(
        "verify-flash",
        FLASH,
        "Verify binary files against the flash memory content.",
        params=(
            _ADDRESS_FILE_PAIRS,
            flag("--diff", "-d", help="Show differences."),
            *flash_options(keep=True, detect=True),
            FLASH_TYPE,
            SPI_CONNECTION,
        ),
        handler=_device_handler("run_verify_flash"),
    ),
    CommandSpec(
        "erase-flash",
        FLASH,
        "Erase the SPI flash memory.",
        params=(
            flag("--force", help="Erase even if security features are enabled. Use with caution!"),
            FLASH_TYPE,
            SPI_CONNECTION,
        ),
        handler=_device_handler("run_erase_flash"),
    ),
    CommandSpec(
        "erase-region",
        FLASH,
        "Erase a region of the SPI flash memory.",
        params=(
            _ADDRESS,
            Arg("size", AmountOfBytes()),
            flag("--force", help="Erase even if security features are enabled. Use with caution!"),
            FLASH_TYPE,
            SPI_CONNECTION,
        ),
        handler=_device_handler("run_erase_region"),
    ),
    CommandSpec(
        "flash-id",
        FLASH,
        "Print the SPI flash memory manufacturer and device ID.",
        params=(SPI_CONNECTION,),
        handler=_device_handler("run_flash_id"),
    ),
    CommandSpec(
        "read-flash-status",
        FLASH,
        "Read the SPI flash memory status register.",
        params=(_STATUS_BYTES, SPI_CONNECTION),
        handler=_device_handler("run_read_flash_status"),
    ),
    CommandSpec(
        "write-flash-status",
        FLASH,
        "Write the SPI flash memory status register.",
        params=(
            Arg("value", AnyInt()),
            flag("--non-volatile", help="Write non-volatile bits (use with caution)."),
            _STATUS_BYTES,
            SPI_CONNECTION,
        ),
        handler=_device_handler("run_write_flash_status"),
    ),
    CommandSpec(
        "read-flash-sfdp",
        FLASH,
        "Read SPI flash SFDP (Serial Flash Discoverable Parameters).",
        params=(
            _ADDRESS,
            Arg("bytes", AnyInt()),
            *flash_options(keep=True, detect=True),
            SPI_CONNECTION,
        ),
        handler=_device_handler("run_read_flash_sfdp"),
    ),
    CommandSpec(
        "read-nand-spare",
        FLASH,
        "Read the NAND flash spare area of a page.",
        params=(Arg("page_number", AnyInt()), _NAND_SPI_CONNECTION),
        hidden=True,
        handler=_device_handler("not_available"),
    ),
    CommandSpec(
        "write-nand-spare",
        FLASH,
        "Write the NAND flash spare area to mark a bad block.",
        params=(
            Arg("page_number", AnyInt()),
            Arg("is_bad", click.IntRange(0, 1)),
            _NAND_SPI_CONNECTION,
        ),
        hidden=True,
        handler=_device_handler("not_available"),
    ),
    CommandSpec(
        "dump-bbm",
        FLASH,
        "Dump the NAND flash bad-block markers to a file.",
        params=(
            Arg("output", click.Path(dir_okay=False)),
            option(
                "--block-count",
                help="Number of blocks to scan.",
                type=click.INT,
                default=1024,
                hidden=True,
            ),
            _NAND_SPI_CONNECTION,
        ),
        hidden=True,
        handler=_device_handler("not_available"),
    ),
    CommandSpec(
        "read-mac",
        CHIP_AND_MEMORY,
        "Print the device MAC address.",
        handler=_device_handler("run_read_mac"),
    ),
    CommandSpec(
        "chip-id",
        CHIP_AND_MEMORY,
        "Print the device chip ID.",
        handler=_device_handler("run_chip_id"),
    ),
    CommandSpec(
        "get-security-info",
        CHIP_AND_MEMORY,
        "Print the security information report.",
        handler=_device_handler("run_get_security_info"),
    ),
    CommandSpec(
        "load-ram",
        CHIP_AND_MEMORY,
        "Download an image to RAM and execute it.",
        params=(_file_argument("filename"), _NO_PROGRESS),
        handler=_device_handler("run_load_ram"),
    ),
    CommandSpec(
        "run",
        CHIP_AND_MEMORY,
        "Run the application code loaded in flash.",
        handler=_device_handler("run_run"),
    ),
    CommandSpec(
        "read-mem",
        CHIP_AND_MEMORY,
        "Read an arbitrary memory location.",
        params=(_ADDRESS,),
        handler=_device_handler("run_read_mem"),
    ),
    CommandSpec(
        "write-mem",
        CHIP_AND_MEMORY,
        "Modify or write an arbitrary memory location.",
        params=(
            _ADDRESS,
            Arg("value", AnyInt()),
            Arg("mask", AnyInt(), required=False, default=0xFFFFFFFF),
        ),
        handler=_device_handler("run_write_mem"),
    ),
    CommandSpec(
        "dump-mem",
        CHIP_AND_MEMORY,
        "Dump arbitrary memory to a file.",
        params=(
            _ADDRESS,
            Arg("size", AmountOfBytes(allow_all=False)),
            Arg("output", click.Path(dir_okay=False)),
            _NO_PROGRESS,
        ),
        handler=_device_handler("run_dump_mem"),
    ),
    CommandSpec(
        "verify-sdc-certificate",
        SECURITY,
        "Verify an SDC certificate on the device (Secure Debug Controller authentication).",
        params=(_file_argument("filename"),),
        handler=_device_handler("not_available"),
    ),
    CommandSpec(
        "read-sdc-chip-info",
        SECURITY,
        "Read the device's SDC chip info into a file.",
        params=(
            option(
                "--output",
                "-o",
                help="Output filename for the chip info.",
                type=click.STRING,
                default="chip_info.bin",
            ),
        ),
        handler=_device_handler("not_available"),
    ),
)

VIRTUAL_COMMANDS = (
    CommandSpec(
        "serve",
        OTHER,
        "Serve a virtual chip's ROM bootloader on a PTY, a loopback TCP or RFC 2217 port until "
        "stopped.",
        params=(
            option(
                "--chip",
                "-c",
                help="Chip to emulate (default: the global --chip).",
                type=ChipChoice(),
            ),
            option(
                "--flash-size",
                help="Size of the virtual flash.",
                type=LegacyChoice(PAD_SIZES),
                default="4MB",
            ),
            option(
                "--flash-file",
                help="File keeping the flash contents between runs (created erased).",
                type=click.Path(dir_okay=False),
            ),
            flag("--pty", help="Serve on a pseudo-terminal (the default)."),
            option(
                "--tcp",
                help="Serve on this loopback TCP port instead (0: any free port); open it as "
                "socket://127.0.0.1:PORT.",
                type=click.IntRange(0, 65535),
            ),
            option(
                "--rfc2217",
                help="Serve on this loopback RFC 2217 port instead (0: any free port), where the "
                "host's DTR/RTS reset the chip; open it as rfc2217://127.0.0.1:PORT.",
                type=click.IntRange(0, 65535),
            ),
            option(
                "--port-file",
                help="Write the port to open (PTY path, socket:// or rfc2217:// URL) into this "
                "file.",
                type=click.Path(dir_okay=False),
            ),
            option(
                "--option",
                "-o",
                help="A virtual chip option as KEY=VALUE, as in a virtual:// URL (mac, "
                "revision, start, link, faults, log...); repeat for several.",
                type=click.STRING,
                multiple=True,
            ),
        ),
        handler="espforge.cli.virtual_commands:run_serve",
        exclusive=(("pty", "tcp", "rfc2217"),),
    ),
)

STUB_COMMANDS = (
    CommandSpec(
        "info",
        OTHER,
        "Show what a flasher stub JSON file holds: entry point, segments and their MD5s.",
        params=(_file_argument("filename"),),
        handler="espforge.cli.stub_commands:run_stub_info",
    ),
)

VERSION_COMMAND = CommandSpec(
    "version", OTHER, "Print espforge's version.", handler="espforge.cli.main:show_version"
)

COMMANDS: tuple[CommandSpec, ...] = (*IMAGE_COMMANDS, *DEVICE_COMMANDS, VERSION_COMMAND)
