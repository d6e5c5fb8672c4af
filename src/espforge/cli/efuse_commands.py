"""`espforge efuse`: espefuse's command line, several commands in one invocation.

The words after the group's options are split at command names (espefuse's way: commands
take variable numbers of arguments), each part parsed by its own click command, then all run
against one eFuse session, in espefuse's order: read commands print at once and, when burn
commands are given too, once more at the end; a burn command burns at once when it is the
only one, else all burns are done together after the last command (espefuse's batch mode).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import click

from espforge.cli.commands import SECURITY
from espforge.errors import EspforgeError

BURN_COMMANDS = (
    "burn-efuse",
    "read-protect-efuse",
    "write-protect-efuse",
    "burn-block-data",
    "burn-bit",
    "burn-key",
    "burn-key-digest",
    "burn-custom-mac",
    "set-flash-voltage",
)
READ_COMMANDS = ("summary", "dump", "get-custom-mac", "adc-info", "check-error")
CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 120}

Handler = Callable[..., None]


def _canonical(word: str) -> str | None:
    name = word.replace("_", "-")
    return name if name in BURN_COMMANDS + READ_COMMANDS else None


# ------------------------------------------------------------------ handlers


def _summary(session, out, efuses_to_show, format, file, active) -> None:  # noqa: A002
    text = session.summary(list(efuses_to_show), format, active)
    if file is None:
        out(text.removesuffix("\n"))  # its blank lines at the end are espefuse's too
        return
    from espforge.fileio import write_output

    out(f"Saving eFuse values to {file}")
    write_output(file, text.encode())
    out("Done")


def _dump(session, out, format, file_name) -> None:  # noqa: A002
    from espforge.efuse import token
    from espforge.fileio import write_output

    if format == "default" and file_name is None:
        out(session.dump_text().rstrip("\n"))
        return
    if format == "token":
        text = token.build(session.state)
        if file_name is None:
            out(text)
        else:
            out(f"eFuse token dump -> {file_name}")
            write_output(file_name, text.encode("ascii"))
        return
    blocks = session.dump_blocks()
    if file_name is None:
        out("\n".join(block[::-1].hex() for block in blocks))
    elif format == "joint":
        out(f"Dump eFuse blocks -> {file_name}")
        write_output(file_name, b"".join(blocks))
    else:
        stem, dot, extension = file_name.rpartition(".")
        stem, extension = (stem, dot + extension) if dot else (file_name, "")
        for index, data in enumerate(blocks):
            path = f"{stem}{index}{extension}"
            out(f"Dump eFuse block{index} -> {path}")
            write_output(path, data)


def _burn_efuse(session, out, name_value_pairs, force) -> None:
    words = list(name_value_pairs)
    pairs: list[tuple[str, str | None]] = []
    while words:
        name = words.pop(0)
        value = None
        if words and not session.table.has_field(words[0]):
            value = words.pop(0)
        pairs.append((name, value))
    # --force skips espefuse's incompatible-settings check; espforge has none to skip.
    session.burn_efuses(pairs)


def _read_protect(session, out, efuse_name) -> None:
    session.protect(list(efuse_name), read=True)


def _write_protect(session, out, efuse_name) -> None:
    session.protect(list(efuse_name), read=False)


def _pairs(words: tuple[str, ...], size: int, what: str) -> list[tuple[str, ...]]:
    if not words or len(words) % size:
        raise EspforgeError(f"give {what} (in groups of {size})")
    return [tuple(words[i : i + size]) for i in range(0, len(words), size)]


def _read_file(path: str) -> bytes:
    from espforge.fileio import read_input

    return read_input(path)


def _burn_block_data(session, out, block_datafile, offset, force_write_always) -> None:
    session.force_write_always = session.force_write_always or force_write_always
    items = [(b, _read_file(p)) for b, p in _pairs(block_datafile, 2, "BLOCK DATAFILE pairs")]
    session.burn_block_data(items, offset)


def _burn_bit(session, out, block, bit_number, force_write_always) -> None:
    session.force_write_always = session.force_write_always or force_write_always
    session.burn_bits(block, list(bit_number))


def _prepare_key_burn(session, out, force_write_always, show_sensitive_info) -> None:
    """What burn-key and burn-key-digest set up alike: write-always and hiding of key bytes."""
    session.force_write_always = session.force_write_always or force_write_always
    session.show_sensitive_info = show_sensitive_info
    if not show_sensitive_info:
        out("Sensitive data will be hidden (see --show-sensitive-info)")


def _burn_key(
    session,
    out,
    block_keyfile_keypurpose,
    no_write_protect,
    no_read_protect,
    no_protect_key,
    force_write_always,
    show_sensitive_info,
) -> None:
    _prepare_key_burn(session, out, force_write_always, show_sensitive_info)
    if not session.table.key_purposes:  # ESP32: BLOCK KEYFILE pairs
        pairs = _pairs(block_keyfile_keypurpose, 2, "BLOCK KEYFILE pairs")
        session.burn_plain_keys([(b, _read_file(p)) for b, p in pairs], no_protect_key)
        return
    triples = _pairs(block_keyfile_keypurpose, 3, "BLOCK KEYFILE KEYPURPOSE triples")
    items = [(b, _read_file(p), purpose) for b, p, purpose in triples]
    session.burn_keys(items, no_write_protect, no_read_protect)


def _burn_key_digest(
    session,
    out,
    block_keyfile_keypurpose,
    no_write_protect,
    no_read_protect,
    no_protect_key,
    force_write_always,
    show_sensitive_info,
) -> None:
    _prepare_key_burn(session, out, force_write_always, show_sensitive_info)
    if session.table.digest_block is not None:  # a chip with one digest block: just the KEYFILE
        if len(block_keyfile_keypurpose) != 1:
            raise EspforgeError(f"{session.table.chip} takes burn-key-digest KEYFILE")
        path = block_keyfile_keypurpose[0]
        protection = (no_protect_key, no_write_protect, no_read_protect)
        session.burn_block_digest(_read_file(path), path, *protection)
        return
    triples = _pairs(block_keyfile_keypurpose, 3, "BLOCK KEYFILE KEYPURPOSE triples")
    items = [(b, _read_file(p), p, purpose) for b, p, purpose in triples]
    session.burn_key_digests(items, no_write_protect, no_read_protect)


def _burn_custom_mac(session, out, mac, force_write_always) -> None:
    session.force_write_always = session.force_write_always or force_write_always
    session.burn_custom_mac(mac)


def _get_custom_mac(session, out) -> None:
    out(session.get_custom_mac())


def _set_flash_voltage(session, out, voltage) -> None:
    session.set_flash_voltage(voltage)


def _adc_info(session, out) -> None:
    from espforge.efuse import report

    for line in report.adc_info_lines(session.state):
        out(line)


def _check_error(session, out, recovery) -> None:
    for line in session.check_error() + session.error_details():
        out(line)
    if recovery and session.recover():
        for line in session.check_error() + session.error_details():
            out(line)
    if session.check_error():
        raise EspforgeError("Error(s) were detected in eFuses.")
    out("No errors detected.")


# ------------------------------------------------------------------ commands

_FORCE = click.Option(
    ["--force-write-always"],
    is_flag=True,
    help="Write the eFuse even if it looks like it is already written or is write-protected.",
)
_NO_PROTECT_KEY = click.Option(
    ["--no-protect-key"], is_flag=True, help="ESP32: leave the key readable and writeable."
)
_SENSITIVE = click.Option(["--show-sensitive-info"], is_flag=True, help="Show data to be burned.")
_SHOW_TOKEN = click.Option(
    ["--show-token"],
    is_flag=True,
    help="Print the EFSW token of the eFuses to burn before the confirmation prompt (press "
    "ENTER there to only get the token). It may show sensitive data.",
)


def _command(
    name: str, handler: Handler, help_text: str, *params: click.Parameter
) -> click.Command:
    if name in BURN_COMMANDS:  # every burn command can show its plan's token
        params = (*params, _SHOW_TOKEN)
    command = click.Command(name, params=list(params), help=help_text, context_settings=CONTEXT)
    command.handler = handler  # type: ignore[attr-defined]
    return command


def _commands() -> list[click.Command]:
    many = {"nargs": -1, "required": True}
    return [
        _command(
            "summary",
            _summary,
            "Print human-readable summary of eFuse values.",
            click.Argument(["efuses_to_show"], nargs=-1),
            click.Option(
                ["--format"],
                type=click.Choice(["summary", "json", "value_only", "value-only"]),
                default="summary",
            ),
            click.Option(["--file"], type=click.Path(dir_okay=False)),
            click.Option(["--active"], is_flag=True, help="Show only active eFuses."),
        ),
        _command(
            "dump",
            _dump,
            "Dump raw hex values of all eFuses.",
            click.Option(
                ["--format"],
                type=click.Choice(["default", "split", "joint", "token"]),
                default="default",
            ),
            click.Option(["--file-name", "--file_name"], type=click.Path(dir_okay=False)),
        ),
        _command(
            "burn-efuse",
            _burn_efuse,
            "Burn eFuses: NAME [VALUE] pairs.",
            click.Argument(["name_value_pairs"], **many),
            click.Option(["--force"], is_flag=True, help="Burn despite incompatible settings."),
        ),
        _command(
            "read-protect-efuse",
            _read_protect,
            "Disable readback of eFuses.",
            click.Argument(["efuse_name"], **many),
        ),
        _command(
            "write-protect-efuse",
            _write_protect,
            "Disable writing to eFuses.",
            click.Argument(["efuse_name"], **many),
        ),
        _command(
            "burn-block-data",
            _burn_block_data,
            "Burn non-key data to eFuse blocks: BLOCK DATAFILE pairs.",
            click.Argument(["block_datafile"], **many),
            click.Option(["--offset", "-o"], type=int, default=0),
            _FORCE,
        ),
        _command(
            "burn-bit",
            _burn_bit,
            "Burn bits of an eFuse block.",
            click.Argument(["block"]),
            click.Argument(["bit_number"], type=int, **many),
            _FORCE,
        ),
        _command(
            "burn-key",
            _burn_key,
            "Burn keys: BLOCK KEYFILE KEYPURPOSE triples.",
            click.Argument(["block_keyfile_keypurpose"], **many),
            click.Option(["--no-write-protect"], is_flag=True),
            click.Option(["--no-read-protect"], is_flag=True),
            _NO_PROTECT_KEY,
            _FORCE,
            _SENSITIVE,
        ),
        _command(
            "burn-key-digest",
            _burn_key_digest,
            "Burn Secure Boot v2 public key digests: BLOCK KEYFILE KEYPURPOSE triples, or just "
            "KEYFILE on chips with a single digest block (ESP32, ESP32-C2).",
            click.Argument(["block_keyfile_keypurpose"], **many),
            click.Option(["--no-write-protect"], is_flag=True),
            click.Option(["--no-read-protect"], is_flag=True),
            _NO_PROTECT_KEY,
            _FORCE,
            _SENSITIVE,
        ),
        _command(
            "burn-custom-mac",
            _burn_custom_mac,
            "Burn a 48-bit custom MAC address.",
            click.Argument(["mac"]),
            _FORCE,
        ),
        _command("get-custom-mac", _get_custom_mac, "Print the custom MAC address."),
        _command(
            "set-flash-voltage",
            _set_flash_voltage,
            "Permanently set the flash voltage.",
            click.Argument(["voltage"], type=click.Choice(["1.8V", "3.3V", "OFF"])),
        ),
        _command("adc-info", _adc_info, "Display ADC calibration data stored in eFuse."),
        _command(
            "check-error",
            _check_error,
            "Check eFuse blocks for coding errors.",
            click.Option(
                ["--recovery"], is_flag=True, help="Recovery of BLOCKs after encoding errors."
            ),
        ),
    ]


# ------------------------------------------------------------------ the group


class EfuseGroup(click.Group):
    def __init__(self) -> None:
        super().__init__(
            "efuse",
            params=_group_options(),
            invoke_without_command=True,
            no_args_is_help=True,
            context_settings=CONTEXT,
            short_help="eFuses: the home of espefuse's commands.",
            help="Read and burn eFuses: the home of espefuse's commands, under their espefuse "
            "names. Several commands can follow one another; their burns are done together.",
        )
        self.section = SECURITY
        for command in _commands():
            self.add_command(command)

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        head: list[str] = []
        segments: list[list[str]] = []
        for word in args:
            name = _canonical(word)
            if name is not None:
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
        parsed = []
        for name, *rest in ctx.meta["efuse_segments"]:
            command = self.commands[name]
            with command.make_context(name, rest, parent=ctx) as sub:
                parsed.append((command, dict(sub.params)))
        try:
            _run(ctx, parsed)
        except EspforgeError as error:
            from espforge.cli.main import FatalError

            raise FatalError(str(error).expandtabs()) from None


def _group_options() -> list[click.Parameter]:
    return [
        click.Option(
            ["--chip", "-c"],
            help="Target chip type (default: the one given to espforge, else auto).",
        ),
        click.Option(["--baud", "-b"], type=int, help="Serial port baud rate."),
        click.Option(["--port", "-p"], help="Serial port device."),
        click.Option(
            ["--before"],
            type=click.Choice(["default-reset", "usb-reset", "no-reset", "no-reset-no-sync"]),
        ),
        click.Option(
            ["--after", "-a"],
            type=click.Choice(["hard-reset", "soft-reset", "no-reset", "watchdog-reset"]),
            default="no-reset",
        ),
        click.Option(["--debug", "-d"], is_flag=True, help="Show debugging information."),
        click.Option(
            ["--virt"],
            is_flag=True,
            help="Work on a virtual eFuse memory (host tests): no chip connection.",
        ),
        click.Option(
            ["--path-efuse-file"],
            type=click.Path(dir_okay=False),
            help="With --virt: keep the eFuse memory in this file.",
        ),
        click.Option(
            ["--do-not-confirm"],
            is_flag=True,
            help="Do not ask to type BURN before burning. Use with caution!",
        ),
        click.Option(
            ["--postpone/--no-postpone"],
            default=True,
            help="Burn the BLOCK0 protection eFuses last (default).",
        ),
        click.Option(
            ["--token"],
            help="Work on the eFuses an EFSR token holds (implies --virt; the chip comes "
            "from the token).",
        ),
        click.Option(
            ["--extend-efuse-table"],
            type=click.Path(dir_okay=False),
            help="CSV file from ESP-IDF (esp_efuse_custom_table.csv).",
        ),
    ]


def _run(ctx: click.Context, parsed: list[tuple[click.Command, dict]]) -> None:
    from espforge import __version__

    options = ctx.params
    click.echo(f"espforge v{__version__}")
    with _session(ctx, options) as session:
        burns = sum(command.name in BURN_COMMANDS for command, _ in parsed)
        if burns:  # espefuse runs the read commands once more at the end
            parsed = parsed + [item for item in parsed if item[0].name in READ_COMMANDS]
        for command, params in parsed:
            _announce(command)
            show_token = params.pop("show_token", False)
            session.show_token = session.show_token or show_token
            command.handler(session, _echo, **params)  # type: ignore[attr-defined]
            if command.name not in BURN_COMMANDS:
                continue
            if burns > 1:
                _echo("\nBatch mode is enabled, the burn will be done at the end of the command.")
            elif not _burn(session, batch=False):
                return
        if burns > 1:
            _burn(session, batch=True)


def _burn(session: Any, batch: bool) -> bool:
    """espefuse's order: one burn command burns at once (later commands see the result);
    several are batched and burned together after the last command. False when aborted."""
    if not session.burn_all():
        return False
    session.finish(batch)
    return True


def _echo(text: str) -> None:
    """Tabs as espefuse's console shows them: spaces to the next multiple of 8."""
    click.echo(text.expandtabs())


def _announce(command: click.Command) -> None:
    click.echo(f'\n=== Run "{command.name}" command ===')


@contextmanager
def _session(ctx: click.Context, options: dict) -> Iterator[Any]:
    from espforge.efuse.operations import EfuseSession, SessionOptions

    settings = ctx.find_root().obj
    chip = options["chip"] or getattr(settings, "chip", "auto")
    session_options = SessionOptions(
        do_not_confirm=options["do_not_confirm"],
        postpone=options["postpone"],
        debug=options["debug"],
    )
    if options["virt"] or options["token"]:
        from espforge.efuse import token
        from espforge.virtual.efuse_controller import EfuseController

        if options["token"]:
            chip = token.chip_of(options["token"])
        if chip == "auto":
            raise EspforgeError("--virt needs --chip: name the chip to emulate")
        table = _table(chip, options)
        controller = EfuseController(table, options["path_efuse_file"])
        if options["token"]:
            controller.load_contents(*token.parse(table, options["token"]))
        yield EfuseSession(table, controller, session_options, out=_echo, ask=_ask)
        return
    from espforge.flash.device import open_device
    from espforge.protocol.connect import ConnectOptions

    after = options["after"]
    with open_device(
        ConnectOptions(
            port=options["port"] or getattr(settings, "port", None),
            chip=chip,
            baud=options["baud"] or getattr(settings, "baud", 115200),
            before=options["before"] or getattr(settings, "before", "default-reset"),
        ),
        after=None if after == "no-reset" else after,
    ) as device:
        loader = device.loader
        session_options.crystal_mhz = loader.crystal_mhz()
        table = _table(loader.chip.name, options)
        yield EfuseSession(table, loader, session_options, out=_echo, ask=_ask)


def _table(chip: str, options: dict) -> Any:
    from espforge.efuse.table import load_table

    table = load_table(chip)
    extension = options["extend_efuse_table"]
    if extension:
        text = _read_file(extension).decode(errors="replace")
        table = table.extended(text, extension)
    return table


def _ask() -> str:
    sys.stdout.flush()
    line = sys.stdin.readline()
    return line.rstrip("\n")


def efuse_group() -> click.Group:
    return EfuseGroup()
