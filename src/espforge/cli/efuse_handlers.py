"""Handlers of `espforge efuse`: every command of one command line against one eFuse session.

espefuse's order: read commands print at once and, when burn commands are given too, once
more at the end; a burn command burns at once when it is the only one, else all burns are
done together after the last command (espefuse's batch mode).
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import click

from espforge import __version__
from espforge.cli import lazy
from espforge.cli.efuse_commands import BURN_COMMANDS, READ_COMMANDS
from espforge.cli.framework import CommandOptions, CommandSpec, NoOptions, OptionsT
from espforge.cli.options import ConnectionSettings, GlobalOptions
from espforge.efuse import report, token
from espforge.efuse.operations import EfuseSession, SessionOptions
from espforge.efuse.table import EfuseTable, load_table
from espforge.errors import EspforgeError
from espforge.fileio import read_input, write_output
from espforge.virtual.efuse_controller import EfuseController

_BURNS = {spec.name for spec in BURN_COMMANDS}
_READS = {spec.name for spec in READ_COMMANDS}

EfuseHandler = Callable[[EfuseSession, Mapping[str, Any]], None]


@dataclass(frozen=True)
class BurnOptions(CommandOptions):
    """What every burn command takes: --show-token."""

    show_token: bool


@dataclass(frozen=True)
class WriteAlwaysOptions(BurnOptions):
    force_write_always: bool


def efuse_command(
    options_type: type[OptionsT],
) -> Callable[[Callable[[EfuseSession, OptionsT], None]], EfuseHandler]:
    """Make `body(session, options)` an eFuse handler taking the command's parsed values."""

    def decorate(body: Callable[[EfuseSession, OptionsT], None]) -> EfuseHandler:
        @functools.wraps(body)
        def run(session: EfuseSession, values: Mapping[str, Any]) -> None:
            options = options_type.from_arguments(values)
            if isinstance(options, BurnOptions):
                session.show_token = session.show_token or options.show_token
            if isinstance(options, WriteAlwaysOptions):
                session.force_write_always = (
                    session.force_write_always or options.force_write_always
                )
            body(session, options)

        return run

    return decorate


# ------------------------------------------------------------------ the run


@dataclass(frozen=True)
class EfuseGroupOptions(CommandOptions):
    """The options of `espforge efuse` itself, before its commands."""

    chip: str | None
    baud: int | None
    port: str | None
    before: str | None
    after: str
    debug: bool
    virt: bool
    path_efuse_file: str | None
    do_not_confirm: bool
    postpone: bool
    token: str | None
    extend_efuse_table: str | None

    def connection(self, settings: GlobalOptions, chip: str) -> ConnectionSettings:
        """The chip to connect to: these options, else the global ones. espefuse starts no
        stub and connects with the default attempts."""
        return ConnectionSettings(
            port=self.port or settings.port,
            chip=chip,
            baud=self.baud or settings.baud,
            before=self.before or settings.before,
            after=None if self.after == "no-reset" else self.after,
            no_stub=True,
        )


def run_efuse(
    settings: GlobalOptions,
    group_values: Mapping[str, Any],
    commands: list[tuple[CommandSpec, Mapping[str, Any]]],
) -> None:
    """Run the parsed `commands` in espefuse's order against one session."""
    options = EfuseGroupOptions.from_arguments(group_values)
    click.echo(f"espforge v{__version__}")
    with _session(settings, options) as session:
        burns = sum(spec.name in _BURNS for spec, _ in commands)
        if burns:  # espefuse runs the read commands once more at the end
            commands = commands + [item for item in commands if item[0].name in _READS]
        for spec, values in commands:
            click.echo(f'\n=== Run "{spec.name}" command ===')
            lazy.handler(spec.handler)(session, values)
            if spec.name not in _BURNS:
                continue
            if burns > 1:
                _echo("\nBatch mode is enabled, the burn will be done at the end of the command.")
            elif not _burn(session, batch=False):
                return
        if burns > 1:
            _burn(session, batch=True)


def _burn(session: EfuseSession, batch: bool) -> bool:
    """espefuse's order: one burn command burns at once (later commands see the result);
    several are batched and burned together after the last command. False when aborted."""
    if not session.burn_all():
        return False
    session.finish(batch)
    return True


def _echo(text: str) -> None:
    """Tabs as espefuse's console shows them: spaces to the next multiple of 8."""
    click.echo(text.expandtabs())


def _ask() -> str:
    """The confirmation typed on stdin; the end of input aborts with exit 1, as espefuse's."""
    sys.stdout.flush()
    line = sys.stdin.readline()
    if not line:
        click.echo("\nAborted. No confirmation came on stdin; nothing was burned.", err=True)
        raise click.exceptions.Exit(1)
    return line.rstrip("\n")


@contextmanager
def _session(settings: GlobalOptions, options: EfuseGroupOptions) -> Iterator[EfuseSession]:
    chip = options.chip or settings.chip
    session_options = SessionOptions(
        do_not_confirm=options.do_not_confirm, postpone=options.postpone, debug=options.debug
    )
    if options.virt or options.token:
        if options.token:
            chip = token.chip_of(options.token)
        if chip == "auto":
            raise EspforgeError("--virt needs --chip: name the chip to emulate")
        table = _table(chip, options)
        controller = EfuseController(table, options.path_efuse_file)
        if options.token:
            controller.load_contents(*token.parse(table, options.token))
        yield EfuseSession(table, controller, session_options, out=_echo, ask=_ask)
        return
    with lazy.connect(options.connection(settings, chip)) as device:
        loader = device.loader
        session_options.crystal_mhz = loader.crystal_mhz()
        table = _table(loader.chip.name, options)
        yield EfuseSession(table, loader, session_options, out=_echo, ask=_ask)


def _table(chip: str, options: EfuseGroupOptions) -> EfuseTable:
    table = load_table(chip)
    extension = options.extend_efuse_table
    if extension:
        text = read_input(extension).decode(errors="replace")
        table = table.extended(text, extension)
    return table


# ------------------------------------------------------------------ read commands


@dataclass(frozen=True)
class SummaryOptions(CommandOptions):
    efuses_to_show: tuple[str, ...]
    format: str
    file: str | None
    active: bool


@efuse_command(SummaryOptions)
def summary(session: EfuseSession, options: SummaryOptions) -> None:
    session.show_debug_status()
    text = session.summary(list(options.efuses_to_show), options.format, options.active)
    if options.file is None:
        _echo(text.removesuffix("\n"))  # its blank lines at the end are espefuse's too
        return
    _echo(f"Saving eFuse values to {options.file}")
    write_output(options.file, text.encode())
    _echo("Done")


@dataclass(frozen=True)
class DumpOptions(CommandOptions):
    format: str
    file_name: str | None


@efuse_command(DumpOptions)
def dump(session: EfuseSession, options: DumpOptions) -> None:
    file_name = options.file_name
    if options.format == "default" and file_name is None:
        _echo(session.dump_text().rstrip("\n"))
        return
    if options.format == "token":
        text = token.build(session.state)
        if file_name is None:
            _echo(text)
        else:
            _echo(f"eFuse token dump -> {file_name}")
            write_output(file_name, text.encode("ascii"))
        return
    blocks = session.dump_blocks()
    if file_name is None:
        _echo("\n".join(block[::-1].hex() for block in blocks))
    elif options.format == "joint":
        _echo(f"Dump eFuse blocks -> {file_name}")
        write_output(file_name, b"".join(blocks))
    else:
        stem, dot, extension = file_name.rpartition(".")
        stem, extension = (stem, dot + extension) if dot else (file_name, "")
        for index, data in enumerate(blocks):
            path = f"{stem}{index}{extension}"
            _echo(f"Dump eFuse block{index} -> {path}")
            write_output(path, data)


@efuse_command(NoOptions)
def get_custom_mac(session: EfuseSession, options: NoOptions) -> None:
    _echo(session.get_custom_mac())


@efuse_command(NoOptions)
def adc_info(session: EfuseSession, options: NoOptions) -> None:
    for line in report.adc_info_lines(session.state):
        _echo(line)


@dataclass(frozen=True)
class CheckErrorOptions(CommandOptions):
    recovery: bool


@efuse_command(CheckErrorOptions)
def check_error(session: EfuseSession, options: CheckErrorOptions) -> None:
    session.show_debug_status()
    for line in session.check_error() + session.error_details():
        _echo(line)
    if options.recovery and session.recover():
        for line in session.check_error() + session.error_details():
            _echo(line)
    if session.check_error():
        raise EspforgeError("Error(s) were detected in eFuses.")
    _echo("No errors detected.")


# ------------------------------------------------------------------ burn commands


@dataclass(frozen=True)
class BurnEfuseOptions(BurnOptions):
    name_value_pairs: tuple[str, ...]
    force: bool  # skips espefuse's incompatible-settings check; espforge has none to skip


@efuse_command(BurnEfuseOptions)
def burn_efuse(session: EfuseSession, options: BurnEfuseOptions) -> None:
    words = list(options.name_value_pairs)
    if len(words) > 1 and len(words) % 2:
        raise EspforgeError(
            f"The list does not have a valid pair (name value) {options.name_value_pairs}. "
            "Give one eFuse name alone, or name value pairs."
        )
    pairs: list[tuple[str, str | None]] = []
    while words:
        name = words.pop(0)
        value = None
        if words and not session.table.has_field(words[0]):
            value = words.pop(0)
        pairs.append((name, value))
    session.burn_efuses(pairs)


@dataclass(frozen=True)
class ProtectOptions(BurnOptions):
    efuse_name: tuple[str, ...]


@efuse_command(ProtectOptions)
def read_protect_efuse(session: EfuseSession, options: ProtectOptions) -> None:
    session.protect(list(options.efuse_name), read=True)


@efuse_command(ProtectOptions)
def write_protect_efuse(session: EfuseSession, options: ProtectOptions) -> None:
    session.protect(list(options.efuse_name), read=False)


def _groups(words: tuple[str, ...], size: int, what: str) -> list[tuple[str, ...]]:
    if not words:
        raise EspforgeError(f"give {what} (in groups of {size})")
    if len(words) % size:
        raise EspforgeError(
            f"Expected multiple of {size} values, got {len(words)} (values: {words}). Give {what}."
        )
    return [tuple(words[i : i + size]) for i in range(0, len(words), size)]


@dataclass(frozen=True)
class BurnBlockDataOptions(WriteAlwaysOptions):
    block_datafile: tuple[str, ...]
    offset: int


@efuse_command(BurnBlockDataOptions)
def burn_block_data(session: EfuseSession, options: BurnBlockDataOptions) -> None:
    pairs = _groups(options.block_datafile, 2, "BLOCK DATAFILE pairs")
    session.burn_block_data([(b, read_input(p)) for b, p in pairs], options.offset)


@dataclass(frozen=True)
class BurnBitOptions(WriteAlwaysOptions):
    block: str
    bit_number: tuple[int, ...]


@efuse_command(BurnBitOptions)
def burn_bit(session: EfuseSession, options: BurnBitOptions) -> None:
    session.burn_bits(options.block, list(options.bit_number))


@dataclass(frozen=True)
class KeyOptions(WriteAlwaysOptions):
    """burn-key's and burn-key-digest's: the keys, how to protect them, and whether to show
    their bytes."""

    block_keyfile_keypurpose: tuple[str, ...]
    no_write_protect: bool
    no_read_protect: bool
    no_protect_key: bool
    show_sensitive_info: bool


def _prepare_key_burn(session: EfuseSession, options: KeyOptions) -> None:
    session.show_sensitive_info = options.show_sensitive_info
    if not options.show_sensitive_info:
        _echo("Sensitive data will be hidden (see --show-sensitive-info)")


@efuse_command(KeyOptions)
def burn_key(session: EfuseSession, options: KeyOptions) -> None:
    _prepare_key_burn(session, options)
    words = options.block_keyfile_keypurpose
    if not session.table.key_purposes:  # ESP32: BLOCK KEYFILE pairs
        pairs = _groups(words, 2, "BLOCK KEYFILE pairs")
        session.burn_plain_keys([(b, read_input(p)) for b, p in pairs], options.no_protect_key)
        return
    triples = _groups(words, 3, "BLOCK KEYFILE KEYPURPOSE triples")
    items = [(b, read_input(p), purpose) for b, p, purpose in triples]
    session.burn_keys(items, options.no_write_protect, options.no_read_protect)


@efuse_command(KeyOptions)
def burn_key_digest(session: EfuseSession, options: KeyOptions) -> None:
    _prepare_key_burn(session, options)
    words = options.block_keyfile_keypurpose
    if session.table.digest_block is not None:  # a chip with one digest block: just the KEYFILE
        if len(words) != 1:
            raise EspforgeError(f"{session.table.chip} takes burn-key-digest KEYFILE")
        path = words[0]
        protection = (options.no_protect_key, options.no_write_protect, options.no_read_protect)
        session.burn_block_digest(read_input(path), path, *protection)
        return
    triples = _groups(words, 3, "BLOCK KEYFILE KEYPURPOSE triples")
    items = [(b, read_input(p), p, purpose) for b, p, purpose in triples]
    session.burn_key_digests(items, options.no_write_protect, options.no_read_protect)


@dataclass(frozen=True)
class CustomMacOptions(WriteAlwaysOptions):
    mac: str


@efuse_command(CustomMacOptions)
def burn_custom_mac(session: EfuseSession, options: CustomMacOptions) -> None:
    session.burn_custom_mac(options.mac)


@dataclass(frozen=True)
class FlashVoltageOptions(BurnOptions):
    voltage: str


@efuse_command(FlashVoltageOptions)
def set_flash_voltage(session: EfuseSession, options: FlashVoltageOptions) -> None:
    session.set_flash_voltage(options.voltage)
