"""Every command espforge offers, as data: `TREE`, in the order `espforge --help` lists them
(section by section).

The tables live beside their topic (`image_commands`, `device_commands`, `board_commands`,
`secure_commands`, `efuse_commands`); `main` builds the click commands from them. Each spec
names its handler as "module:function", imported only when the command runs (see `lazy`).
"""

from __future__ import annotations

import click

from espforge.cli.board_commands import BOARD_COMMANDS, OTA_GROUP, PARTITION_GROUP
from espforge.cli.device_commands import DEVICE_COMMANDS
from espforge.cli.efuse_commands import EFUSE_GROUP
from espforge.cli.framework import OTHER, CommandSpec, GroupSpec
from espforge.cli.image_commands import IMAGE_COMMANDS
from espforge.cli.options import PAD_SIZES, ChipChoice, LegacyChoice, file_argument, flag, option
from espforge.cli.secure_commands import SECURE_GROUP

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
        handler="virtual_handlers:run_serve",
        exclusive=(("pty", "tcp", "rfc2217"),),
    ),
)

STUB_COMMANDS = (
    CommandSpec(
        "info",
        OTHER,
        "Show what a flasher stub JSON file holds: entry point, segments and their MD5s.",
        params=(file_argument("filename"),),
        handler="stub_handlers:run_stub_info",
    ),
)

VERSION_COMMAND = CommandSpec(
    "version", OTHER, "Print espforge's version.", handler="main:run_version"
)

COMMANDS: tuple[CommandSpec, ...] = (*IMAGE_COMMANDS, *DEVICE_COMMANDS, VERSION_COMMAND)

VIRTUAL_GROUP = GroupSpec(
    "virtual",
    OTHER,
    short_help="A virtual chip to flash and test against, no hardware needed.",
    help="Virtual chips: ROM bootloaders in software, reachable over a PTY or TCP port (or "
    "in-process as --port 'virtual://CHIP?flash=FILE').",
    commands=VIRTUAL_COMMANDS,
)

STUB_GROUP = GroupSpec(
    "stub",
    OTHER,
    short_help="Flasher stub files (esptool's and esp-flasher-stub's JSON format).",
    help="Flasher stub files: espforge uploads the one --stub-file or the stub directory "
    "gives to speed up flashing.",
    commands=STUB_COMMANDS,
)

TREE: tuple[CommandSpec | GroupSpec, ...] = (
    *COMMANDS,
    SECURE_GROUP,
    VIRTUAL_GROUP,
    STUB_GROUP,
    EFUSE_GROUP,
    *BOARD_COMMANDS,
    PARTITION_GROUP,
    OTA_GROUP,
)
