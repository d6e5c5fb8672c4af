"""espforge's command line: esptool 5's command lines (and v4's spellings) on click.

Nothing heavy is imported here: each command's handler module is imported when it runs.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable
from importlib import import_module
from typing import Any

import click
from click.core import ParameterSource

from espforge import __version__
from espforge.cli import partition_device_commands as partition_device
from espforge.cli.commands import (
    COMMANDS,
    FLASH,
    OTHER,
    SECTIONS,
    SECURITY,
    STUB_COMMANDS,
    VIRTUAL_COMMANDS,
    CommandSpec,
    Invocation,
)
from espforge.cli.compat import normalise_arguments, note_v4_spelling, take_v4_notes
from espforge.cli.compat import underscore_spelling as v4_spelling
from espforge.cli.efuse_commands import efuse_group
from espforge.cli.options import GLOBAL_OPTIONS, Arg, GlobalOptions, Opt, env_names
from espforge.cli.secure_commands import SECURE_COMMANDS, SECURE_SECTIONS
from espforge.errors import EspforgeError

Dispatch = Callable[[CommandSpec, Invocation], None]

CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"], "max_content_width": 120}


class FatalError(click.ClickException):
    """An EspforgeError on its way out: one line in esptool's wording, exit code 2."""

    exit_code = 2

    def show(self, file: Any = None) -> None:
        click.echo(f"A fatal error occurred: {self.message}", err=True)


class CancelledError(click.ClickException):
    exit_code = 2

    def show(self, file: Any = None) -> None:
        click.echo("KeyboardInterrupt: Run cancelled by user.", err=True)


# ---------------------------------------------------------- parameters


class SpecOption(click.Option):
    """A click option built from an `Opt`, carrying what the v4 compat layer needs to know."""

    def __init__(self, spec: Opt) -> None:
        envvar = list(env_names(spec.env)) if spec.env else None
        super().__init__(
            [*spec.names, spec.dest],
            type=spec.type,
            is_flag=True if spec.type is None else None,  # False would make the value optional
            **({"default": False} if spec.type is None else _explicit_default(spec.default)),
            multiple=spec.multiple,
            required=spec.required,
            hidden=spec.hidden,
            help=spec.help,
            show_default=spec.type is not None and spec.default is not None,
            envvar=envvar,
            show_envvar=envvar is not None,
            callback=_whole_value(spec.convert),
        )
        self.eat_all = spec.eat_all
        self.legacy_names = spec.legacy_names


def _whole_value(convert: Callable[[Any], Any] | None) -> Callable[..., Any] | None:
    if convert is None:
        return None

    def callback(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
        return convert(value)

    return callback


def click_parameter(spec: Opt | Arg) -> click.Parameter:
    if isinstance(spec, Opt):
        return SpecOption(spec)
    return click.Argument(
        [spec.dest],
        type=spec.type,
        nargs=spec.nargs,
        required=spec.required,
        **_explicit_default(spec.default),
        callback=_whole_value(spec.convert),
    )


def _explicit_default(value: Any) -> dict[str, Any]:
    """click >= 8.3 takes default=None as a value, which would satisfy `required`: omit it."""
    return {} if value is None else {"default": value}


def _given(ctx: click.Context, name: str) -> bool:
    return ctx.get_parameter_source(name) not in (None, ParameterSource.DEFAULT)


def _flag_name(command: click.Command, name: str) -> str:
    param = next(param for param in command.params if param.name == name)
    return next(opt for opt in param.opts if opt.startswith("--"))


# ------------------------------------------------------------ commands


class EspforgeCommand(click.Command):
    """A leaf command built from a `CommandSpec`."""

    def __init__(self, spec: CommandSpec, dispatch: Dispatch) -> None:
        self.spec = spec
        self.section = spec.section

        @click.pass_context
        def run(ctx: click.Context, **values: Any) -> None:
            settings: GlobalOptions = ctx.obj
            announce(ctx, settings)
            dispatch(spec, Invocation(spec.name, settings, values))

        super().__init__(
            spec.name,
            params=[click_parameter(param) for param in spec.params],
            help=spec.help,
            hidden=spec.hidden,
            callback=run,
            context_settings=CONTEXT_SETTINGS,
        )

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        args = normalise_arguments(ctx, self.get_params(ctx), args)
        remaining = super().parse_args(ctx, args)
        if not ctx.resilient_parsing:
            self._check_combinations(ctx)
        return remaining

    def _check_combinations(self, ctx: click.Context) -> None:
        for group in self.spec.exclusive:
            given = [name for name in group if _given(ctx, name)]
            if len(given) > 1:
                first, *others = (_flag_name(self, name) for name in given)
                raise click.UsageError(f"{first} cannot be combined with {', '.join(others)}.", ctx)
        for name, needed in self.spec.requires:
            if _given(ctx, name) and not _given(ctx, needed):
                raise click.UsageError(
                    f"{_flag_name(self, name)} requires {_flag_name(self, needed)}.", ctx
                )


class EspforgeGroup(click.Group):
    """A group that reads v4 command spellings and lists its commands by section."""

    def __init__(self, *args: Any, section: str = OTHER, **kwargs: Any) -> None:
        super().__init__(*args, context_settings=CONTEXT_SETTINGS, **kwargs)
        self.section = section

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        command_names = [*self.commands, *map(v4_spelling, self.commands)]
        args = normalise_arguments(ctx, self.get_params(ctx), args, command_names)
        return super().parse_args(ctx, args)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        command = super().get_command(ctx, cmd_name)
        if command is None and "_" in cmd_name:
            command = super().get_command(ctx, cmd_name.replace("_", "-"))
            if command is not None:
                note_v4_spelling(ctx, cmd_name, command.name or cmd_name)
        return command

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        # Report the current name (write-flash) whichever spelling was typed.
        _, command, remaining = super().resolve_command(ctx, args)
        return (command.name if command else None), command, remaining

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        visible = [command for command in self.commands.values() if not command.hidden]
        if not visible:
            return
        # Pad the names to one width so every section's descriptions line up.
        width = max(len(command.name or "") for command in visible)
        for section in (*SECTIONS, *SECURE_SECTIONS):
            rows = [
                ((command.name or "").ljust(width), command.get_short_help_str(limit=200))
                for command in visible
                if getattr(command, "section", OTHER) == section
            ]
            if rows:
                with formatter.section(section):
                    formatter.write_dl(rows)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except EspforgeError as error:
            raise FatalError(str(error)) from None
        except KeyboardInterrupt:
            raise CancelledError("cancelled") from None


def announce(ctx: click.Context, settings: GlobalOptions) -> None:
    """What every command prints first: the banner, and which v4 spellings it read."""
    notes = take_v4_notes(ctx)
    if settings.silent:
        return
    click.echo(f"espforge v{__version__}")
    if notes:
        click.echo(notes, err=True)


def run_handler(spec: CommandSpec, invocation: Invocation) -> None:
    """Import the command's handler ("module:function") and run it."""
    assert spec.handler is not None, f"command '{spec.name}' has no handler"
    module_name, _, function_name = spec.handler.partition(":")
    getattr(import_module(module_name), function_name)(invocation)


def show_version(invocation: Invocation) -> None:
    invocation.echo(__version__)


def _start(ctx: click.Context, **values: Any) -> None:
    if ctx.invoked_subcommand != "version":
        values.update(_config_file_defaults(ctx))
    settings = GlobalOptions.from_values(values)
    if settings.silent and (settings.verbose or settings.trace):
        other = "--verbose" if settings.verbose else "--trace"
        raise EspforgeError(f"Cannot use both {other} and --silent options at the same time.")
    ctx.obj = settings


def _config_file_defaults(ctx: click.Context) -> dict[str, Any]:
    """Global options the config file sets ([espforge] port, baud, chip, before, after, or
    connect_attempts), for those that neither the command line nor the environment gave."""
    from espforge.config import load_settings, option_defaults

    settings = load_settings()
    for warning in settings.warnings:
        click.echo(f"WARNING: {warning}", err=True)
    if settings.path is not None and not ctx.params.get("silent"):
        click.echo(f"Loaded custom configuration from {settings.path}")
    command = ctx.command
    values = {}
    for name, text in option_defaults(settings=settings).items():
        if ctx.get_parameter_source(name) is ParameterSource.DEFAULT:
            param = next(param for param in command.params if param.name == name)
            values[name] = param.process_value(ctx, text)
    return values


def _spec_group(
    name: str, section: str, specs: Iterable[CommandSpec], dispatch: Dispatch, **texts: str
) -> EspforgeGroup:
    """A command group holding `specs`; `texts` are its help and short_help."""
    group = EspforgeGroup(name, section=section, no_args_is_help=True, **texts)
    for spec in specs:
        group.add_command(EspforgeCommand(spec, dispatch))
    return group


def _secure_group(dispatch: Dispatch) -> EspforgeGroup:
    return _spec_group(
        "secure",
        SECURITY,
        SECURE_COMMANDS,
        dispatch,
        short_help="Secure Boot and flash encryption: the home of espsecure's commands.",
        help="Secure Boot signing and flash encryption: the home of espsecure's commands, "
        "under their espsecure names.",
    )


def _virtual_group(dispatch: Dispatch) -> EspforgeGroup:
    return _spec_group(
        "virtual",
        OTHER,
        VIRTUAL_COMMANDS,
        dispatch,
        short_help="A virtual chip to flash and test against, no hardware needed.",
        help="Virtual chips: ROM bootloaders in software, reachable over a PTY or TCP port (or "
        "in-process as --port 'virtual://CHIP?flash=FILE').",
    )


def _stub_group(dispatch: Dispatch) -> EspforgeGroup:
    return _spec_group(
        "stub",
        OTHER,
        STUB_COMMANDS,
        dispatch,
        short_help="Flasher stub files (esptool's and esp-flasher-stub's JSON format).",
        help="Flasher stub files: espforge uploads the one --stub-file or the stub directory "
        "gives to speed up flashing.",
    )


def build_cli(dispatch: Dispatch = run_handler) -> click.Group:
    """The `espforge` command group; `dispatch` runs a parsed command (tests pass a recorder)."""
    root = EspforgeGroup(
        "espforge",
        params=[click_parameter(option) for option in GLOBAL_OPTIONS],
        callback=click.pass_context(_start),
        no_args_is_help=True,
        help=f"espforge v{__version__} - flash, inspect, sign and provision Espressif chips; "
        "accepts esptool's command lines.",
    )
    for spec in COMMANDS:
        root.add_command(EspforgeCommand(spec, dispatch))
    root.add_command(_secure_group(dispatch))
    root.add_command(_virtual_group(dispatch))
    root.add_command(_stub_group(dispatch))
    root.add_command(efuse_group())
    _add_partition_commands(root, dispatch)
    return root


def _add_partition_commands(root: EspforgeGroup, dispatch: Dispatch) -> None:
    """`partition` (parttool.py's commands), `ota` (otatool.py's), scan, backup and restore."""
    for spec in partition_device.BOARD_COMMANDS:
        root.add_command(EspforgeCommand(spec, dispatch))
    for name, specs, tool in (
        ("partition", partition_device.PARTITION_COMMANDS, "ESP-IDF's parttool.py"),
        ("ota", partition_device.OTA_COMMANDS, "ESP-IDF's otatool.py"),
    ):
        texts = f"{name.capitalize()} commands on a connected chip: those of {tool}."
        root.add_command(_spec_group(name, FLASH, specs, dispatch, short_help=texts, help=texts))


def parse_command_line(args: Iterable[str]) -> Invocation:
    """What the command line `args` asks for, parsed but not run.

    Click's usage errors propagate (click.UsageError, click.BadParameter); the banner and the
    v4-spelling note are printed as when running.
    """
    parsed: list[Invocation] = []
    cli = build_cli(dispatch=lambda spec, invocation: parsed.append(invocation))
    cli.main(args=list(args), prog_name="espforge", standalone_mode=False)
    if not parsed:
        raise click.UsageError("the command line names no command to run")
    return parsed[0]


def expand_argument_files(args: Iterable[str]) -> list[str]:
    """Replace each `@FILE` with the words in FILE, as esptool does (ESP-IDF's flash_args)."""
    expanded: list[str] = []
    for arg in args:
        expanded.extend(_words_in(arg[1:]) if arg.startswith("@") else [arg])
    return expanded


def _words_in(path: str) -> list[str]:
    import shlex

    from espforge.fileio import read_input

    try:
        return [
            word for line in read_input(path).decode().splitlines() for word in shlex.split(line)
        ]
    except ValueError as error:  # not text, or unbalanced quotes
        raise EspforgeError(f"{path}: cannot read arguments from it ({error})") from None


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else list(argv)
    try:
        expanded = expand_argument_files(args)
    except EspforgeError as error:
        FatalError(str(error)).show()
        sys.exit(FatalError.exit_code)
    if expanded != args:
        click.echo(f"espforge {' '.join(expanded)}")
    build_cli().main(args=expanded, prog_name="espforge")
