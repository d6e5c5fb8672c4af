"""espforge's command line: esptool 5's command lines (and v4's spellings) on click.

The command tree is built from the spec tables (`commands`); nothing heavy is imported
here: each command's handler module is loaded when it runs (see `lazy`).
"""

from __future__ import annotations

import shlex
import sys
from collections.abc import Iterable
from typing import Any

import click
from click.core import ParameterSource

from espforge import __version__
from espforge.cli import lazy
from espforge.cli.commands import TREE
from espforge.cli.efuse_commands import EFUSE_GROUP, EfuseGroup
from espforge.cli.framework import (
    CommandSpec,
    Dispatch,
    EspforgeCommand,
    EspforgeGroup,
    FatalError,
    GroupSpec,
    Invocation,
    NoOptions,
    click_parameter,
    command,
)
from espforge.cli.options import GLOBAL_OPTIONS, GlobalOptions
from espforge.errors import EspforgeError


def run_handler(spec: CommandSpec, invocation: Invocation) -> None:
    """Load the command's handler and run it."""
    lazy.handler(spec.handler)(invocation)


@command(NoOptions)
def run_version(invocation: Invocation, options: NoOptions) -> None:
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
    settings = lazy.config_settings()
    for warning in settings.warnings:
        click.echo(f"WARNING: {warning}", err=True)
    if settings.path is not None and not ctx.params.get("silent"):
        click.echo(f"Loaded custom configuration from {settings.path}")
    command = ctx.command
    values = {}
    for name, text in lazy.config_option_defaults(settings).items():
        if ctx.get_parameter_source(name) is ParameterSource.DEFAULT:
            param = next(param for param in command.params if param.name == name)
            values[name] = param.process_value(ctx, text)
    return values


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
    for entry in TREE:
        root.add_command(_click_command(entry, dispatch))
    return root


def _click_command(entry: CommandSpec | GroupSpec, dispatch: Dispatch) -> click.Command:
    if entry is EFUSE_GROUP:  # espefuse's several commands in one line
        return EfuseGroup()
    if isinstance(entry, GroupSpec):
        return EspforgeGroup.from_spec(entry, dispatch)
    return EspforgeCommand(entry, dispatch)


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
    try:
        text = lazy.read_argument_file(path).decode()
        return [word for line in text.splitlines() for word in shlex.split(line)]
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
