"""The floor of the command line: how a command is declared, parsed, run and how it fails.

A command is a `CommandSpec` (data: name, help section, parameters, the handler to run);
`EspforgeCommand` and `EspforgeGroup` turn specs into click commands that read esptool v4's
spellings too. A parsed command line is an `Invocation`; its handler receives it with the
command's values as a typed `CommandOptions` (see `command`). Errors leave as esptool's
"A fatal error occurred: ..." with exit code 2.

Every other module of espforge.cli builds on this one; it imports only the option types and
the v4 compat layer below it, and nothing heavy, so that `espforge --help` stays fast.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, fields
from typing import Any, TypeVar

import click
from click.core import ParameterSource

from espforge import __version__
from espforge.cli.compat import normalise_arguments, note_v4_spelling, take_v4_notes
from espforge.cli.compat import underscore_spelling as v4_spelling
from espforge.cli.options import Arg, GlobalOptions, Opt, env_names
from espforge.errors import EspforgeError

# Help sections, in the order `espforge --help` lists them.
IMAGE_TOOLS = "Image tools"
FLASH = "Flash"
CHIP_AND_MEMORY = "Chip and memory"
SECURITY = "Security and eFuses"
OTHER = "Other"
SECTIONS = (IMAGE_TOOLS, FLASH, CHIP_AND_MEMORY, SECURITY, OTHER)
# ... and those of `espforge secure --help`.
SECURE_BOOT = "Secure Boot"
FLASH_ENCRYPTION = "Flash encryption"
SECURE_DEBUG = "Secure Debug"
SECURE_SECTIONS = (SECURE_BOOT, FLASH_ENCRYPTION, SECURE_DEBUG)

CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"], "max_content_width": 120}


# ------------------------------------------------------------------------ output

LineWriter = Callable[[str, bool], None]  # (line, whether it belongs on stderr)


def _echo(line: str, err: bool) -> None:
    click.echo(line, err=err)


_line_writer: ContextVar[LineWriter] = ContextVar("line_writer", default=_echo)


def output(line: str, err: bool = False) -> None:
    """Print one line of a command's output (on stderr if `err`), flushed as it comes.

    Every line a command prints goes through here, so that while progress bars are drawn
    (`lines_to`) the lines are printed above them by the same console, never into them.
    """
    _line_writer.get()(line, err)


@contextmanager
def lines_to(writer: LineWriter) -> Iterator[None]:
    """Send the lines `output` prints to `writer` while the block runs."""
    token = _line_writer.set(writer)
    try:
        yield
    finally:
        _line_writer.reset(token)


# ------------------------------------------------------------------ specs and invocations


@dataclass(frozen=True)
class CommandSpec:
    name: str
    section: str
    help: str
    handler: str  # "module:function" in espforge.cli, loaded by `lazy.handler`
    params: tuple[Opt | Arg, ...] = ()
    hidden: bool = False
    exclusive: tuple[tuple[str, ...], ...] = ()  # groups of options that exclude each other
    requires: tuple[tuple[str, str], ...] = ()  # (option, option it needs)


@dataclass(frozen=True)
class GroupSpec:
    """A group of commands (`espforge secure ...`); `short_help` is its line in the listing."""

    name: str
    section: str
    short_help: str
    help: str
    commands: tuple[CommandSpec, ...]


@dataclass(frozen=True)
class Invocation:
    """One parsed command line: the command, the global options and the command's own values."""

    command: str
    settings: GlobalOptions
    arguments: Mapping[str, Any]

    def echo(self, text: str) -> None:
        """Print progress or a result on stdout, unless --silent."""
        if not self.settings.silent:
            output(text)

    def warn(self, text: str) -> None:
        """Print a warning on stderr, unless --silent."""
        if not self.settings.silent:
            output(f"WARNING: {text}", err=True)


OptionsT = TypeVar("OptionsT", bound="CommandOptions")


@dataclass(frozen=True)
class CommandOptions:
    """A command's parsed values as a typed object: subclasses name the values they read.

    `from_arguments` takes the values by field name; a subclass that derives a value (two
    flags into one tri-state, say) overrides it.
    """

    @classmethod
    def from_arguments(cls: type[OptionsT], values: Mapping[str, Any]) -> OptionsT:
        return cls(**{field.name: values[field.name] for field in fields(cls)})


@dataclass(frozen=True)
class NoOptions(CommandOptions):
    """What a command without values of its own receives."""


Handler = Callable[[Invocation], None]


def command(
    options_type: type[OptionsT],
) -> Callable[[Callable[[Invocation, OptionsT], None]], Handler]:
    """Make `body(invocation, options)` a handler: `options` is `options_type` built from the
    command's parsed values."""

    def decorate(body: Callable[[Invocation, OptionsT], None]) -> Handler:
        @functools.wraps(body)
        def run(invocation: Invocation) -> None:
            body(invocation, options_type.from_arguments(invocation.arguments))

        return run

    return decorate


# ------------------------------------------------------------------------ errors


class FatalError(click.ClickException):
    """An EspforgeError on its way out: one line in esptool's wording, exit code 2."""

    exit_code = 2

    def show(self, file: Any = None) -> None:
        click.echo(f"A fatal error occurred: {self.message}", err=True)


class CancelledError(click.ClickException):
    exit_code = 2

    def show(self, file: Any = None) -> None:
        click.echo("KeyboardInterrupt: Run cancelled by user.", err=True)


# -------------------------------------------------------------------- parameters


class SpecOption(click.Option):
    """A click option built from an `Opt`, carrying what the v4 compat layer needs to know."""

    def __init__(self, spec: Opt) -> None:
        envvar = list(env_names(spec.env)) if spec.env else None
        names = "/".join((spec.names[0], *spec.off_names))
        super().__init__(
            [names, *spec.names[1:], spec.dest],
            type=spec.type,
            is_flag=True if spec.type is None else None,  # False would make the value optional
            **_default(spec),
            multiple=spec.multiple,
            required=spec.required,
            hidden=spec.hidden,
            help=spec.help,
            show_default=spec.show_default and spec.type is not None and spec.default is not None,
            envvar=envvar,
            show_envvar=envvar is not None,
            callback=_whole_value(spec.convert),
        )
        self.eat_all = spec.eat_all
        self.legacy_names = spec.legacy_names


def _default(spec: Opt) -> dict[str, Any]:
    if spec.type is None:  # a flag: off unless its spec says otherwise
        return {"default": bool(spec.default)}
    return _explicit_default(spec.default)


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


# ---------------------------------------------------------------------- commands

Dispatch = Callable[[CommandSpec, Invocation], None]


class EspforgeCommand(click.Command):
    """A leaf command built from a `CommandSpec`; `dispatch` runs it once parsed."""

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

    @classmethod
    def from_spec(cls, spec: GroupSpec, dispatch: Dispatch) -> EspforgeGroup:
        group = cls(
            spec.name,
            section=spec.section,
            no_args_is_help=True,
            short_help=spec.short_help,
            help=spec.help,
        )
        for command_spec in spec.commands:
            group.add_command(EspforgeCommand(command_spec, dispatch))
        return group

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
