"""The device commands, as data: flash, chip and memory work on a connected chip.

Their handlers are in `flash_handlers` and `chip_handlers`, run by `device`.
"""

from __future__ import annotations

from dataclasses import replace

import click

from espforge.cli.framework import CHIP_AND_MEMORY, FLASH, SECURITY, CommandSpec
from espforge.cli.options import (
    ADDRESS,
    ADDRESS_FILE_PAIRS,
    FLASH_TYPE,
    NO_PROGRESS,
    SPI_CONNECTION,
    AmountOfBytes,
    AnyInt,
    Arg,
    address_file_pairs,
    file_argument,
    flag,
    flash_options,
    option,
    previous_files,
)

_NAND_SPI_CONNECTION = replace(SPI_CONNECTION, required=True)  # NAND needs its wiring named
_STATUS_BYTES = option(
    "--bytes",
    help="Number of status bytes (1-3).",
    type=click.Choice(("1", "2", "3")),
    default="2",
)

DEVICE_COMMANDS = (
    CommandSpec(
        "write-flash",
        FLASH,
        "Write binary files to flash: each address is followed by its file.",
        params=(
            ADDRESS_FILE_PAIRS,
            flag(
                "--erase-all",
                "-e",
                help="Erase the whole flash, not just the written areas, before writing.",
            ),
            NO_PROGRESS,
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
        handler="flash_handlers:run_write_flash",
    ),
    CommandSpec(
        "read-flash",
        FLASH,
        "Read SPI flash memory content to a file.",
        params=(
            ADDRESS,
            Arg("size", AmountOfBytes()),
            Arg("output", click.Path(dir_okay=False)),
            NO_PROGRESS,
            *flash_options(keep=True, detect=True, size_only=True),
            FLASH_TYPE,
            SPI_CONNECTION,
        ),
        handler="flash_handlers:run_read_flash",
    ),
    CommandSpec(
        "verify-flash",
        FLASH,
        "Verify binary files against the flash memory content.",
        params=(
            ADDRESS_FILE_PAIRS,
            flag("--diff", "-d", help="Show differences."),
            *flash_options(keep=True, detect=True),
            FLASH_TYPE,
            SPI_CONNECTION,
        ),
        handler="flash_handlers:run_verify_flash",
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
        handler="flash_handlers:run_erase_flash",
    ),
    CommandSpec(
        "erase-region",
        FLASH,
        "Erase a region of the SPI flash memory.",
        params=(
            ADDRESS,
            Arg("size", AmountOfBytes()),
            flag("--force", help="Erase even if security features are enabled. Use with caution!"),
            FLASH_TYPE,
            SPI_CONNECTION,
        ),
        handler="flash_handlers:run_erase_region",
    ),
    CommandSpec(
        "flash-id",
        FLASH,
        "Print the SPI flash memory manufacturer and device ID.",
        params=(SPI_CONNECTION,),
        handler="flash_handlers:run_flash_id",
    ),
    CommandSpec(
        "read-flash-status",
        FLASH,
        "Read the SPI flash memory status register.",
        params=(_STATUS_BYTES, SPI_CONNECTION),
        handler="flash_handlers:run_read_flash_status",
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
        handler="flash_handlers:run_write_flash_status",
    ),
    CommandSpec(
        "read-flash-sfdp",
        FLASH,
        "Read SPI flash SFDP (Serial Flash Discoverable Parameters).",
        params=(
            ADDRESS,
            Arg("bytes", AnyInt()),
            *flash_options(keep=True, detect=True),
            SPI_CONNECTION,
        ),
        handler="flash_handlers:run_read_flash_sfdp",
    ),
    CommandSpec(
        "read-nand-spare",
        FLASH,
        "Read the NAND flash spare area of a page.",
        params=(Arg("page_number", AnyInt()), _NAND_SPI_CONNECTION),
        hidden=True,
        handler="chip_handlers:not_available",
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
        handler="chip_handlers:not_available",
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
        handler="chip_handlers:not_available",
    ),
    CommandSpec(
        "read-mac",
        CHIP_AND_MEMORY,
        "Print the device MAC address.",
        handler="chip_handlers:run_read_mac",
    ),
    CommandSpec(
        "chip-id",
        CHIP_AND_MEMORY,
        "Print the device chip ID.",
        handler="chip_handlers:run_chip_id",
    ),
    CommandSpec(
        "get-security-info",
        CHIP_AND_MEMORY,
        "Print the security information report.",
        handler="chip_handlers:run_get_security_info",
    ),
    CommandSpec(
        "load-ram",
        CHIP_AND_MEMORY,
        "Download an image to RAM and execute it.",
        params=(file_argument("filename"), NO_PROGRESS),
        handler="chip_handlers:run_load_ram",
    ),
    CommandSpec(
        "run",
        CHIP_AND_MEMORY,
        "Run the application code loaded in flash.",
        handler="chip_handlers:run_run",
    ),
    CommandSpec(
        "read-mem",
        CHIP_AND_MEMORY,
        "Read an arbitrary memory location.",
        params=(ADDRESS,),
        handler="chip_handlers:run_read_mem",
    ),
    CommandSpec(
        "write-mem",
        CHIP_AND_MEMORY,
        "Modify or write an arbitrary memory location.",
        params=(
            ADDRESS,
            Arg("value", AnyInt()),
            Arg("mask", AnyInt(), required=False, default=0xFFFFFFFF),
        ),
        handler="chip_handlers:run_write_mem",
    ),
    CommandSpec(
        "dump-mem",
        CHIP_AND_MEMORY,
        "Dump arbitrary memory to a file.",
        params=(
            ADDRESS,
            Arg("size", AmountOfBytes(allow_all=False)),
            Arg("output", click.Path(dir_okay=False)),
            NO_PROGRESS,
        ),
        handler="chip_handlers:run_dump_mem",
    ),
    CommandSpec(
        "verify-sdc-certificate",
        SECURITY,
        "Verify an SDC certificate on the device (Secure Debug Controller authentication).",
        params=(file_argument("filename"),),
        handler="chip_handlers:not_available",
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
        handler="chip_handlers:not_available",
    ),
)
