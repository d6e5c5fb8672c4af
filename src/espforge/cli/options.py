"""Option and argument declarations as data, the value types they parse, and the global options."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import click

from espforge.chips import CHIP_NAMES
from espforge.cli.compat import note_v4_spelling

# esptool's defaults for the connection settings.
ROM_BAUD = 115200
DEFAULT_CONNECT_ATTEMPTS = 7

BEFORE_RESETS = ("default-reset", "usb-reset", "no-reset", "no-reset-no-sync")
AFTER_RESETS = ("hard-reset", "soft-reset", "no-reset", "no-reset-stub", "watchdog-reset")
FLASH_MODES = ("qio", "qout", "dio", "dout")
FLASH_FREQUENCIES = (
    "80m", "64m", "60m", "48m", "40m", "32m", "30m", "26m", "24m", "20m", "16m", "15m", "12m",
)  # fmt: skip
FLASH_SIZES = (
    "256KB", "512KB", "1MB", "2MB", "2MB-c1", "4MB", "4MB-c1",
    "8MB", "16MB", "32MB", "64MB", "128MB",
)  # fmt: skip
PAD_SIZES = tuple(size for size in FLASH_SIZES if not size.endswith("-c1"))
MMU_PAGE_SIZES = ("64KB", "32KB", "16KB", "8KB")
VDDSDIO_VOLTAGES = ("1.8V", "1.9V", "OFF")

_SIZE_UNITS = {"MB": 1024 * 1024, "KB": 1024}


def env_names(suffix: str) -> tuple[str, str]:
    """espforge's own variable first, then esptool's, so existing setups keep working."""
    return (f"ESPFORGE_{suffix}", f"ESPTOOL_{suffix}")


def parse_int(text: str) -> int:
    """An integer written in any base Python accepts: 4096, 0x1000, 0o10000, 0b1..."""
    return int(text, 0)


def size_in_bytes(text: str) -> int:
    """A size such as "4MB", "64KB" or a plain number ("0x10000") in bytes."""
    for unit, factor in _SIZE_UNITS.items():
        if text.upper().endswith(unit):
            return int(text[: -len(unit)]) * factor
    return parse_int(text)


# ---------------------------------------------------------------- value types


class AnyInt(click.ParamType):
    name = "integer"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        if isinstance(value, int):
            return value
        try:
            return parse_int(value)
        except ValueError:
            self.fail(f"'{value}' is not a valid integer.", param, ctx)


class ChunkSize(AnyInt):
    """A UF2 payload size: a number the 4-byte block layout can hold."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        number = super().convert(value, param, ctx)
        if number % 4:
            self.fail("Chunk size should be a 4-byte aligned number.", param, ctx)
        return number


class AmountOfBytes(AnyInt):
    """A byte count with an optional binary suffix ("4k", "1M"), or "all" when allowed."""

    name = "size"

    def __init__(self, allow_all: bool = True) -> None:
        self.allow_all = allow_all

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, str):
            if self.allow_all and value.lower() == "all":
                return "all"
            suffix = {"k": 1024, "M": 1024 * 1024}.get(value[-1:])
            if suffix and len(value) > 1:
                return super().convert(value[:-1], param, ctx) * suffix
        return super().convert(value, param, ctx)


class ByteSize(click.ParamType):
    """A size written as "4MB", "64KB" or a plain number, in bytes."""

    name = "size"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        try:
            return size_in_bytes(value)
        except ValueError:
            self.fail(f"'{value}' is not a size: write e.g. 4MB, 64KB or 0x10000.", param, ctx)


class BaudRate(click.ParamType):
    name = "baud-rate"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        try:
            return int(value)
        except ValueError:
            self.fail(f"'{value}' is not a valid baud rate.", param, ctx)


class SpiConnection(click.ParamType):
    """SPI, HSPI, or the five GPIOs CLK,Q,D,HD,CS of a custom flash wiring."""

    name = "spi-connection"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if value.upper() in ("SPI", "HSPI"):
            return value.upper()
        pins = value.split(",")
        if len(pins) != 5:
            self.fail(
                f"'{value}' is not SPI, HSPI or five comma-separated pins CLK,Q,D,HD,CS.",
                param,
                ctx,
            )
        try:
            return tuple(parse_int(pin) for pin in pins)
        except ValueError:
            self.fail(f"'{value}': every pin of CLK,Q,D,HD,CS must be a number.", param, ctx)


class LegacyChoice(click.Choice):
    """A choice that also takes esptool v4's underscore spelling of each value (no_reset)."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, str) and value not in self.choices and "_" in value:
            modern = value.replace("_", "-")
            if modern in self.choices:
                note_v4_spelling(ctx, value, modern)
                return modern
        return super().convert(value, param, ctx)


class ChipChoice(click.Choice):
    """A chip name in any case, with or without dashes: ESP32-C3, esp32c3."""

    def __init__(self) -> None:
        super().__init__(("auto", *CHIP_NAMES))

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, str):
            value = value.lower().replace("-", "").replace("(", "").replace(")", "")
        return super().convert(value, param, ctx)


# ----------------------------------------------------- declarations as data


@dataclass(frozen=True)
class Opt:
    """One option of a command. `type=None` makes it a flag."""

    names: tuple[str, ...]
    help: str
    type: click.ParamType | None = None
    default: Any = None
    env: str | None = None  # suffix of ESPFORGE_<env> / ESPTOOL_<env>
    multiple: bool = False
    eat_all: bool = False  # takes every following word up to the next option or command
    required: bool = False
    hidden: bool = False
    legacy_names: tuple[str, ...] = ()  # v4 names that differ by more than '_' for '-'
    convert: Callable[[Any], Any] | None = None  # applied to the whole parsed value
    off_names: tuple[str, ...] = ()  # a flag's names that turn it off (--no-postpone)
    show_default: bool = True  # list the default (if any) in the help

    @property
    def dest(self) -> str:
        long_name = next(name for name in self.names if name.startswith("--"))
        return long_name[2:].replace("-", "_")


@dataclass(frozen=True)
class Arg:
    """One positional argument of a command; `nargs=-1` takes all remaining words."""

    dest: str
    type: click.ParamType | None = None
    nargs: int = 1
    required: bool = True
    default: Any = None
    convert: Callable[[Any], Any] | None = None


def option(*names: str, help: str, type: click.ParamType, **details: Any) -> Opt:
    return Opt(names=names, help=help, type=type, **details)


def flag(*names: str, help: str, **details: Any) -> Opt:
    return Opt(names=names, help=help, **details)


def address_file_pairs(words: tuple[str, ...]) -> list[tuple[int, str]]:
    """ADDRESS FILE ADDRESS FILE ... as (address, path) pairs; each file must be readable."""
    if len(words) % 2:
        raise click.BadParameter(
            "Must be pairs of an address and the binary filename to write there."
        )
    pairs = []
    for address_text, path in zip(words[::2], words[1::2], strict=True):
        try:
            address = parse_int(address_text)
        except ValueError:
            raise click.BadParameter(f'Address "{address_text}" must be a number.') from None
        try:
            with open(path, "rb"):
                pass
        except OSError as exc:
            raise click.BadParameter(f"{path}: {exc.strerror}") from None
        pairs.append((address, path))
    return pairs


def previous_files(words: tuple[str, ...]) -> tuple[str | None, ...]:
    """--diff-with's files, each readable, or None where the word 'skip' stands."""
    for path in words:
        if path.lower() != "skip" and not os.path.isfile(path):
            raise click.BadParameter(f"{path}: no such file (give a file flashed before, or skip)")
    return tuple(None if path.lower() == "skip" else path for path in words)


def flash_options(*, keep: bool, detect: bool, size_only: bool = False) -> tuple[Opt, ...]:
    """--flash-freq/-mode/-size as esptool offers them for one command.

    `keep` leaves the image header's value as it is (and becomes the default); `detect`
    asks the chip's flash for its size.
    """
    keep_choice = ("keep",) if keep else ()
    detect_choice = ("detect",) if detect else ()
    size = option(
        "--flash-size",
        "-fs",
        help="SPI flash memory size. ESP8266-only sizes: 256KB, 512KB, 2MB-c1, 4MB-c1.",
        type=LegacyChoice((*detect_choice, *keep_choice, *FLASH_SIZES)),
        default="keep" if keep else "1MB",
        env="FS",
    )
    if size_only:
        return (size,)
    frequency = option(
        "--flash-freq",
        "-ff",
        help="SPI flash memory frequency.",
        type=LegacyChoice((*keep_choice, *FLASH_FREQUENCIES)),
        default="keep" if keep else None,
        env="FF",
    )
    mode = option(
        "--flash-mode",
        "-fm",
        help="SPI flash memory mode.",
        type=LegacyChoice((*keep_choice, *FLASH_MODES)),
        default="keep" if keep else "qio",
        env="FM",
    )
    return (frequency, mode, size)


SPI_CONNECTION = option(
    "--spi-connection",
    "-sc",
    help="Override the SPI flash wiring: SPI, HSPI, or five comma-separated GPIOs "
    "CLK,Q,D,HD,CS (on chips with custom flash pin support).",
    type=SpiConnection(),
)

FLASH_TYPE = option(
    "--flash-type",
    "-ft",
    help="Flash type: nor (default) or nand.",
    type=LegacyChoice(("nor", "nand")),
    default="nor",
    hidden=True,
)


def file_argument(dest: str) -> Arg:
    """An input file argument: it must exist."""
    return Arg(dest, click.Path(exists=True, dir_okay=False))


ADDRESS = Arg("address", AnyInt())
ADDRESS_FILE_PAIRS = Arg("addr_filename", nargs=-1, convert=address_file_pairs)
NO_PROGRESS = flag("--no-progress", "-p", help="Suppress progress output.")


# ------------------------------------------------------------ global options

GLOBAL_OPTIONS: tuple[Opt, ...] = (
    option(
        "--chip",
        "-c",
        help="Target chip type.",
        type=ChipChoice(),
        default="auto",
        env="CHIP",
    ),
    option("--port", "-p", help="Serial port device.", type=click.STRING, env="PORT"),
    option(
        "--baud",
        "-b",
        help="Serial port baud rate used when flashing/reading.",
        type=BaudRate(),
        default=ROM_BAUD,
        env="BAUD",
    ),
    option(
        "--port-filter",
        help="Serial port device filter: vid=NUMBER, pid=NUMBER, name=SUBSTRING, "
        "serial=SUBSTRING (several may follow).",
        type=click.STRING,
        multiple=True,
        eat_all=True,
    ),
    option(
        "--before",
        help="Which reset to perform before connecting to the chip.",
        type=LegacyChoice(BEFORE_RESETS),
        default="default-reset",
        env="BEFORE",
    ),
    option(
        "--after",
        "-a",
        help="Which reset to perform after the operation is finished.",
        type=LegacyChoice(AFTER_RESETS),
        default="hard-reset",
        env="AFTER",
    ),
    flag(
        "--no-stub",
        help="Do not upload the flasher stub; talk to the ROM bootloader only "
        "(some features are then unavailable).",
    ),
    option(
        "--stub-file",
        help="Flasher stub to upload: a stub JSON file as esptool's and esp-flasher-stub's "
        "releases carry.",
        type=click.Path(dir_okay=False),
    ),
    option(
        "--stub-dir",
        help="Folder of flasher stub JSON files (<chip>.json); also stub_dir in the config file.",
        type=click.Path(file_okay=False),
        env="STUB_DIR",
    ),
    option(
        "--stub-version",
        help="Flasher stub generation to upload.",
        type=click.Choice(("1", "2")),
        env="STUB_VERSION",
        hidden=True,
    ),
    flag("--trace", "-t", help="Print every exchange with the chip (trace-level output)."),
    flag("--verbose", "-v", help="Print all output, do not collapse output stages."),
    flag("--silent", "-s", help="Print nothing but errors."),
    option(
        "--override-vddsdio",
        help="Override ESP32 VDDSDIO internal voltage regulator (use with care).",
        type=click.Choice(VDDSDIO_VOLTAGES),
    ),
    option(
        "--connect-attempts",
        help="Number of attempts to connect, negative or 0 for infinite.",
        type=click.INT,
        default=DEFAULT_CONNECT_ATTEMPTS,
        env="CONNECT_ATTEMPTS",
    ),
)


@dataclass(frozen=True)
class ConnectionSettings:
    """How to reach the chip: the global options that `flash.open_device` takes.

    `after` None leaves the chip as it is (running code loaded into RAM); `no_stub` talks to
    the ROM only, else the stub of `stub_file` or `stub_dir` is started.
    """

    port: str | None
    chip: str = "auto"
    baud: int = ROM_BAUD
    before: str = "default-reset"
    after: str | None = "hard-reset"
    connect_attempts: int = DEFAULT_CONNECT_ATTEMPTS
    trace: bool = False
    port_filter: tuple[str, ...] = ()
    no_stub: bool = False
    stub_file: str | None = None
    stub_dir: str | None = None


@dataclass(frozen=True)
class GlobalOptions:
    """The options given before the command name, parsed."""

    chip: str
    port: str | None
    baud: int
    port_filter: tuple[str, ...]
    before: str
    after: str
    no_stub: bool
    stub_file: str | None
    stub_dir: str | None
    stub_version: str | None
    trace: bool
    verbose: bool
    silent: bool
    override_vddsdio: str | None
    connect_attempts: int

    @classmethod
    def from_values(cls, values: Mapping[str, Any]) -> GlobalOptions:
        return cls(**{name: values[name] for name in cls.__dataclass_fields__})

    @property
    def connection(self) -> ConnectionSettings:
        """The options that say how to reach the chip."""
        return ConnectionSettings(
            port=self.port,
            chip=self.chip,
            baud=self.baud,
            before=self.before,
            after=self.after,
            connect_attempts=self.connect_attempts,
            trace=self.trace,
            port_filter=self.port_filter,
            no_stub=self.no_stub,
            stub_file=self.stub_file,
            stub_dir=self.stub_dir,
        )
