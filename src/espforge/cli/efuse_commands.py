"""`espforge efuse`: espefuse's command line, several commands in one invocation, as data.

The words after the group's options are split at command names (espefuse's way: commands
take variable numbers of arguments), each part parsed by its own click command, then all run
by `efuse_handlers.run_efuse` against one eFuse session, in espefuse's order.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import click

from espforge.cli import lazy
from espforge.cli.framework import (
    CONTEXT_SETTINGS,
    SECURITY,
    CommandSpec,
    FatalError,
    GroupSpec,
    click_parameter,
)
from espforge.cli.options import Arg, Opt, flag, option
from espforge.errors import EspforgeError

_MANY = {"nargs": -1, "required": True}
_FORCE = flag(
    "--force-write-always",
    help="Write the eFuse even if it looks like it is already written or is write-protected.",
)
_KEY_PROTECTION = (
    flag("--no-write-protect", help=""),
    flag("--no-read-protect", help=""),
    flag("--no-protect-key", help="ESP32: leave the key readable and writeable."),
    _FORCE,
    flag("--show-sensitive-info", help="Show data to be burned."),
)
# Every burn command can show its plan's token.
_SHOW_TOKEN = flag(
    "--show-token",
    help="Print the EFSW token of the eFuses to burn before the confirmation prompt (press "
    "ENTER there to only get the token). It may show sensitive data.",
)


def _command(name: str, help_text: str, *params: Opt | Arg) -> CommandSpec:
    handler = f"efuse_handlers:{name.replace('-', '_')}"
    return CommandSpec(name, SECURITY, help_text, params=params, handler=handler)


def _burn_command(name: str, help_text: str, *params: Opt | Arg) -> CommandSpec:
    return _command(name, help_text, *params, _SHOW_TOKEN)


READ_COMMANDS = (
    _command(
        "summary",
        "Print human-readable summary of eFuse values.",
        Arg("efuses_to_show", nargs=-1, required=False),
        option(
            "--format",
            help="",
            type=click.Choice(["summary", "json", "value_only", "value-only"]),
            default="summary",
            show_default=False,
        ),
        option("--file", help="", type=click.Path(dir_okay=False)),
        flag("--active", help="Show only active eFuses."),
    ),
    _command(
        "dump",
        "Dump raw hex values of all eFuses.",
        option(
            "--format",
            help="",
            type=click.Choice(["default", "split", "joint", "token"]),
            default="default",
            show_default=False,
        ),
        option("--file-name", "--file_name", help="", type=click.Path(dir_okay=False)),
    ),
    _command("get-custom-mac", "Print the custom MAC address."),
    _command("adc-info", "Display ADC calibration data stored in eFuse."),
    _command(
        "check-error",
        "Check eFuse blocks for coding errors.",
        flag("--recovery", help="Recovery of BLOCKs after encoding errors."),
    ),
)

BURN_COMMANDS = (
    _burn_command(
        "burn-efuse",
        "Burn eFuses: NAME [VALUE] pairs.",
        Arg("name_value_pairs", **_MANY),
        flag("--force", help="Burn despite incompatible settings."),
    ),
    _burn_command("read-protect-efuse", "Disable readback of eFuses.", Arg("efuse_name", **_MANY)),
    _burn_command("write-protect-efuse", "Disable writing to eFuses.", Arg("efuse_name", **_MANY)),
    _burn_command(
        "burn-block-data",
        "Burn non-key data to eFuse blocks: BLOCK DATAFILE pairs.",
        Arg("block_datafile", **_MANY),
        option("--offset", "-o", help="", type=click.INT, default=0, show_default=False),
        _FORCE,
    ),
    _burn_command(
        "burn-bit",
        "Burn bits of an eFuse block.",
        Arg("block"),
        Arg("bit_number", click.INT, **_MANY),
        _FORCE,
    ),
    _burn_command(
        "burn-key",
        "Burn keys: BLOCK KEYFILE KEYPURPOSE triples.",
        Arg("block_keyfile_keypurpose", **_MANY),
        *_KEY_PROTECTION,
    ),
    _burn_command(
        "burn-key-digest",
        "Burn Secure Boot v2 public key digests: BLOCK KEYFILE KEYPURPOSE triples, or just "
        "KEYFILE on chips with a single digest block (ESP32, ESP32-C2).",
        Arg("block_keyfile_keypurpose", **_MANY),
        *_KEY_PROTECTION,
    ),
    _burn_command("burn-custom-mac", "Burn a 48-bit custom MAC address.", Arg("mac"), _FORCE),
    _burn_command(
        "set-flash-voltage",
        "Permanently set the flash voltage.",
        Arg("voltage", click.Choice(["1.8V", "3.3V", "OFF"])),
    ),
)

EFUSE_GROUP = GroupSpec(
    "efuse",
    SECURITY,
    short_help="eFuses: the home of espefuse's commands.",
    help="Read and burn eFuses: the home of espefuse's commands, under their espefuse "
    "names. Several commands can follow one another; their burns are done together.",
    commands=(*READ_COMMANDS, *BURN_COMMANDS),
)

GROUP_OPTIONS: tuple[Opt, ...] = (
    option(
        "--chip",
        "-c",
        help="Target chip type (default: the one given to espforge, else auto).",
        type=click.STRING,
    ),
    option("--baud", "-b", help="Serial port baud rate.", type=click.INT),
    option("--port", "-p", help="Serial port device.", type=click.STRING),
    option(
        "--before",
        help="",
        type=click.Choice(["default-reset", "usb-reset", "no-reset", "no-reset-no-sync"]),
    ),
    option(
        "--after",
        "-a",
        help="",
        type=click.Choice(["hard-reset", "soft-reset", "no-reset", "watchdog-reset"]),
        default="no-reset",
        show_default=False,
    ),
    flag("--debug", "-d", help="Show debugging information."),
    flag("--virt", help="Work on a virtual eFuse memory (host tests): no chip connection."),
    option(
        "--path-efuse-file",
        help="With --virt: keep the eFuse memory in this file.",
        type=click.Path(dir_okay=False),
    ),
    flag("--do-not-confirm", help="Do not ask to type BURN before burning. Use with caution!"),
    flag(
        "--postpone",
        off_names=("--no-postpone",),
        default=True,
        help="Burn the BLOCK0 protection eFuses last (default).",
    ),
    option(
        "--token",
        help="Work on the eFuses an EFSR token holds (implies --virt; the chip comes "
        "from the token).",
        type=click.STRING,
    ),
    option(
        "--extend-efuse-table",
        help="CSV file from ESP-IDF (esp_efuse_custom_table.csv).",
        type=click.Path(dir_okay=False),
    ),
)


class EfuseCommand(click.Command):
    """One eFuse command, parsed as espefuse parses it (no v4 renaming of its options)."""

    def __init__(self, spec: CommandSpec) -> None:
        self.spec = spec
        super().__init__(
            spec.name,
            params=[click_parameter(param) for param in spec.params],
            help=spec.help,
            context_settings=CONTEXT_SETTINGS,
        )


class EfuseGroup(click.Group):
    """`espforge efuse`: its options, then commands split at their names (see the top)."""

    def __init__(self) -> None:
        super().__init__(
            EFUSE_GROUP.name,
            params=[click_parameter(param) for param in GROUP_OPTIONS],
            invoke_without_command=True,
            no_args_is_help=True,
            context_settings=CONTEXT_SETTINGS,
            short_help=EFUSE_GROUP.short_help,
            help=EFUSE_GROUP.help,
        )
        self.section = EFUSE_GROUP.section
        for spec in EFUSE_GROUP.commands:
            self.add_command(EfuseCommand(spec))

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        head: list[str] = []
        segments: list[list[str]] = []
        for word in args:
            name = word.replace("_", "-")  # espefuse v4's spelling too
            if name in self.commands:
                segments.append([name])
            elif segments:
                segments[-1].append(word)
            else:
                head.append(word)
        ctx.meta["efuse_segments"] = segments
        if not segments and not ctx.resilient_parsing and not {"-h", "--help"} & set(head):
            click.echo(self.get_help(ctx))
            ctx.exit()
        super().parse_args(ctx, head)
        return []

    def invoke(self, ctx: click.Context) -> Any:
        parsed: list[tuple[CommandSpec, Mapping[str, Any]]] = []
        for name, *rest in ctx.meta["efuse_segments"]:
            command = self.commands[name]
            with command.make_context(name, rest, parent=ctx) as sub:
                parsed.append((command.spec, dict(sub.params)))
        try:
            run_efuse = lazy.handler("efuse_handlers:run_efuse")
            run_efuse(ctx.find_root().obj, ctx.params, parsed)
        except EspforgeError as error:
            raise FatalError(str(error).expandtabs()) from None
