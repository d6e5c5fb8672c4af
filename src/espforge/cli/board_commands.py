"""Partitions, OTA data and whole-flash work on a connected chip, as data.

`espforge partition ...` has the commands of ESP-IDF's parttool.py and `espforge ota ...` those
of otatool.py (hyphenated; underscore spellings work too); `scan`, `backup` and `restore` are
top-level commands. Their handlers are in `partition_handlers` and `board_handlers`.
"""

from __future__ import annotations

from typing import Any

import click

from espforge.cli.framework import FLASH, CommandSpec, GroupSpec
from espforge.cli.options import AnyInt, Arg, Opt, flag, option

_BOARD_COMMANDS = ("scan", "backup", "restore")
INFO_FIELDS = ("name", "type", "subtype", "offset", "size", "encrypted", "readonly")
DEFAULT_INFO = ("offset", "size")

_TABLE_OFFSET = option(
    "--partition-table-offset",
    help="Flash offset of the partition table on the chip.",
    type=AnyInt(),
    default="0x8000",
)
_TABLE_FILE = option(
    "--partition-table-file",
    help="Take the partition table from this CSV or binary file instead of the chip.",
    type=click.Path(exists=True, dir_okay=False),
)
_SELECTION = (
    option("--partition-name", help="The partition's name.", type=click.STRING),
    option("--partition-type", help="The partition's type (name or number).", type=click.STRING),
    option(
        "--partition-subtype",
        help="The partition's subtype (name or number), with --partition-type.",
        type=click.STRING,
    ),
    flag("--partition-boot-default", help="The app the bootloader starts by default."),
)
_SELECTION_EXCLUSIVE = (
    ("partition_name", "partition_type", "partition_boot_default"),
    ("partition_name", "partition_subtype", "partition_boot_default"),
)
_FORCE_WRITE = flag(
    "--force", help="Write even into a readonly partition, or a non-image into an app partition."
)
_SLOT = (
    option(
        "--slot",
        help="OTA slot number: slot N is the N-th ota_* app partition, from 0.",
        type=click.INT,
    ),
    option("--name", help="Name of the OTA app partition.", type=click.STRING),
)


def _output() -> Opt:
    return option(
        "--output",
        help="File to read the partition into.",
        type=click.Path(dir_okay=False),
        required=True,
    )


def _input() -> Opt:
    return option(
        "--input",
        help="File to write into the partition.",
        type=click.Path(exists=True, dir_okay=False),
        required=True,
    )


def _spec(name: str, help_text: str, *params: Opt | Arg, **details: Any) -> CommandSpec:
    """A spec whose handler is run_NAME in `partition_handlers` (`board_handlers` for the
    board commands)."""
    module = "board_handlers" if name in _BOARD_COMMANDS else "partition_handlers"
    handler = f"{module}:run_{name.replace('-', '_')}"
    return CommandSpec(name, FLASH, help_text, params=params, handler=handler, **details)


PARTITION_COMMANDS = (
    _spec(
        "get-partition-info",
        "Print a partition's name, type, subtype, offset, size or flags (parttool.py).",
        _TABLE_OFFSET,
        _TABLE_FILE,
        *_SELECTION,
        option(
            "--info",
            help="What to print (default: offset size).",
            type=click.Choice(INFO_FIELDS),
            multiple=True,
            eat_all=True,
        ),
        flag("--part-list", help="Print every partition of the type (and subtype) given."),
        exclusive=_SELECTION_EXCLUSIVE,
    ),
    _spec(
        "read-partition",
        "Read a partition's contents into a file.",
        _TABLE_OFFSET,
        _TABLE_FILE,
        *_SELECTION,
        _output(),
        exclusive=_SELECTION_EXCLUSIVE,
    ),
    _spec(
        "write-partition",
        "Write a file into a partition (the rest of the partition is erased).",
        _TABLE_OFFSET,
        _TABLE_FILE,
        *_SELECTION,
        _input(),
        _FORCE_WRITE,
        exclusive=_SELECTION_EXCLUSIVE,
    ),
    _spec(
        "erase-partition",
        "Erase a partition.",
        _TABLE_OFFSET,
        _TABLE_FILE,
        *_SELECTION,
        exclusive=_SELECTION_EXCLUSIVE,
    ),
)

OTA_COMMANDS = (
    _spec(
        "read-otadata",
        "Print both OTA data records and which app the bootloader starts next (otatool.py).",
        _TABLE_OFFSET,
        _TABLE_FILE,
    ),
    _spec(
        "switch-ota-partition",
        "Make the bootloader start another OTA slot next.",
        _TABLE_OFFSET,
        _TABLE_FILE,
        *_SLOT,
        flag(
            "--rollback",
            help="Write state NEW, as an app built with rollback does: a bootloader with "
            "rollback then gives the app one boot to confirm itself.",
        ),
        exclusive=(("slot", "name"),),
    ),
    _spec(
        "erase-otadata",
        "Erase the OTA data: the bootloader falls back to factory (or ota_0).",
        _TABLE_OFFSET,
        _TABLE_FILE,
    ),
    _spec(
        "read-ota-partition",
        "Read an OTA app partition into a file.",
        _TABLE_OFFSET,
        _TABLE_FILE,
        *_SLOT,
        _output(),
        exclusive=(("slot", "name"),),
    ),
    _spec(
        "write-ota-partition",
        "Write an app image into an OTA app partition.",
        _TABLE_OFFSET,
        _TABLE_FILE,
        *_SLOT,
        _input(),
        _FORCE_WRITE,
        exclusive=(("slot", "name"),),
    ),
)

BOARD_COMMANDS = (
    _spec(
        "scan",
        "Show what is on the board: chip, flash, security, bootloader, partitions, apps, OTA.",
        _TABLE_OFFSET,
        flag("--json", help="Print it as one JSON object."),
    ),
    _spec(
        "backup",
        "Read the whole flash (or some partitions) into a zip archive with a manifest.",
        Arg("filename", click.Path(dir_okay=False)),
        option(
            "--partitions",
            help="Back up only these partitions (comma-separated names).",
            type=click.STRING,
        ),
        _TABLE_OFFSET,
    ),
    _spec(
        "restore",
        "Write a backup back, only where flash differs, and verify it.",
        Arg("filename", click.Path(exists=True, dir_okay=False)),
        flag("--force", help="Restore a backup from another chip type or a larger flash."),
    ),
)


def _group(name: str, tool: str, commands: tuple[CommandSpec, ...]) -> GroupSpec:
    texts = f"{name.capitalize()} commands on a connected chip: those of {tool}."
    return GroupSpec(name, FLASH, short_help=texts, help=texts, commands=commands)


PARTITION_GROUP = _group("partition", "ESP-IDF's parttool.py", PARTITION_COMMANDS)
OTA_GROUP = _group("ota", "ESP-IDF's otatool.py", OTA_COMMANDS)
