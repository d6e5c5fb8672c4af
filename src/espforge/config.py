"""Settings from esptool-compatible config files and environment variables.

esptool users keep tuning values (timeouts, retry counts, reset sequences) in an `[esptool]`
section of `esptool.cfg`, `setup.cfg` or `tox.ini`; espforge reads those files the same way and
also honours an `[espforge]` section beside it, whose values win. The file is the first one found
in: the file named by ESPFORGE_CFGFILE or ESPTOOL_CFGFILE, then the current directory, then
`~/.config/espforge/`, `~/.config/esptool/`, then the home directory. A candidate counts only when
it parses and has one of the two sections, so an unrelated `setup.cfg` is passed over.

Environment variables for the global options come in two spellings, ESPFORGE_<NAME> (first) and
ESPTOOL_<NAME>; `option_defaults` merges them with the file's `[espforge]` values for the CLI.
"""

from __future__ import annotations

import configparser
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path

from espforge.errors import EspforgeError

SECTIONS = ("esptool", "espforge")  # later sections override earlier ones
FILENAMES = ("esptool.cfg", "setup.cfg", "tox.ini")
CONFIG_FILE_VARIABLES = ("ESPFORGE_CFGFILE", "ESPTOOL_CFGFILE")

# Global options a config file's [espforge] section may set (esptool's section cannot).
OPTION_KEYS = ("port", "baud", "chip", "before", "after", "connect_attempts", "stub_dir")


@dataclass(frozen=True)
class Settings:
    """Tuning values, with esptool 5.6's defaults; a config file may override each one."""

    timeout: float = 3.0  # most commands
    chip_erase_timeout: float = 120.0
    max_timeout: float = 240.0  # no command waits longer than this
    sync_timeout: float = 0.1
    md5_timeout_per_mb: float = 8.0
    erase_region_timeout_per_mb: float = 40.0
    erase_write_timeout_per_mb: float = 40.0
    mem_end_rom_timeout: float = 0.2  # MEM_END may never be answered: the code runs
    serial_write_timeout: float = 10.0
    connect_attempts: int = 7
    write_block_attempts: int = 3
    reset_delay: float | None = None  # None: 0.05 s, then 0.55 s on alternate attempts
    open_port_attempts: int = 1
    custom_reset_sequence: str | None = None
    custom_hard_reset_sequence: str | None = None
    # Where the values came from, and what the CLI should warn about.
    path: Path | None = field(default=None, compare=False)
    warnings: tuple[str, ...] = field(default=(), compare=False)
    options: Mapping[str, str] = field(default_factory=dict, compare=False)

    def timeout_for(self, seconds_per_mb: float, size: int) -> float:
        """A timeout growing with the work (per 10^6 bytes, as esptool), never below `timeout`."""
        return max(self.timeout, seconds_per_mb * size / 1e6)


_BOOKKEEPING = ("path", "warnings", "options")
TUNING_KEYS = tuple(f.name for f in fields(Settings) if f.name not in _BOOKKEEPING)


def find_config_file(
    environ: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    home: Path | None = None,
) -> tuple[Path | None, list[str]]:
    """The config file in use (or None) and warnings about named files that could not be used."""
    environ = os.environ if environ is None else environ
    warnings: list[str] = []
    for variable in CONFIG_FILE_VARIABLES:
        named = environ.get(variable)
        if not named:
            continue
        path = Path(named)
        if _has_our_section(path):
            return path, warnings
        # esptool silently falls back to the search; we fall back too but say so.
        warnings.append(
            f"ignoring {variable}={named}: no such file or no [esptool]/[espforge] section in it"
        )
    home = Path.home() if home is None else home
    folders = [
        Path.cwd() if cwd is None else cwd,
        home / ".config" / "espforge",
        home / ".config" / "esptool",
        home,
    ]
    for folder in folders:
        for name in FILENAMES:
            if _has_our_section(folder / name):
                return folder / name, warnings
    return None, warnings


def _has_our_section(path: Path) -> bool:
    if not path.is_file():
        return False
    parser = configparser.RawConfigParser()
    try:
        parser.read(path, encoding="utf-8")
    except (configparser.Error, UnicodeDecodeError, OSError):
        return False
    return any(parser.has_section(section) for section in SECTIONS)


def load_settings(
    environ: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    home: Path | None = None,
) -> Settings:
    """The settings from the config file found (esptool's defaults when there is none)."""
    environ = os.environ if environ is None else environ
    path, warnings = find_config_file(environ, cwd, home)
    overrides = _environment_overrides(environ)
    if path is None:
        return Settings(**overrides, warnings=tuple(warnings))
    parser = configparser.RawConfigParser()
    parser.read(path, encoding="utf-8")
    esptool_values = _section(parser, "esptool")
    espforge_values = _section(parser, "espforge")
    unknown = sorted(
        {key for key in esptool_values if key not in TUNING_KEYS}
        | {key for key in espforge_values if key not in TUNING_KEYS + OPTION_KEYS}
    )
    if unknown:
        warnings.append(f"ignoring unknown config option(s) in {path}: {', '.join(unknown)}")
    values = esptool_values | espforge_values
    tuning = {key: _convert(path, key, values[key]) for key in TUNING_KEYS if key in values}
    if "max_timeout" not in tuning and "chip_erase_timeout" in tuning:
        tuning["max_timeout"] = 2 * tuning["chip_erase_timeout"]
    options = {key: values[key] for key in OPTION_KEYS if key in espforge_values}
    if "connect_attempts" in values:
        options["connect_attempts"] = values["connect_attempts"]
    tuning.update(overrides)
    return Settings(**tuning, path=path, warnings=tuple(warnings), options=options)


def _environment_overrides(environ: Mapping[str, str]) -> dict[str, int]:
    """Settings esptool also takes from the environment (only `open_port_attempts`)."""
    for variable in ("ESPFORGE_OPEN_PORT_ATTEMPTS", "ESPTOOL_OPEN_PORT_ATTEMPTS"):
        value = environ.get(variable)
        if value:
            try:
                return {"open_port_attempts": int(value)}
            except ValueError:
                raise EspforgeError(f"{variable}={value} is not a whole number") from None
    return {}


def _section(parser: configparser.RawConfigParser, name: str) -> dict[str, str]:
    return dict(parser.items(name)) if parser.has_section(name) else {}


def _convert(path: Path, key: str, text: str) -> float | int | str:
    default = {f.name: f.default for f in fields(Settings)}[key]
    try:
        if isinstance(default, int):
            return int(text)
        if isinstance(default, float) or key == "reset_delay":
            return float(text)
    except ValueError:
        raise EspforgeError(
            f"config file {path}: '{key} = {text}' is not a number; fix or remove that line"
        ) from None
    return text


def option_defaults(
    environ: Mapping[str, str] | None = None, settings: Settings | None = None
) -> dict[str, str]:
    """Defaults for the global options, as strings: ESPFORGE_<NAME>, then ESPTOOL_<NAME>, then the
    config file's [espforge] section (and `connect_attempts` from [esptool]). Absent ones are left
    out, so the CLI's own defaults apply to them."""
    environ = os.environ if environ is None else environ
    settings = load_settings(environ) if settings is None else settings
    defaults: dict[str, str] = {}
    for key in OPTION_KEYS:
        name = key.upper()
        for value in (environ.get(f"ESPFORGE_{name}"), environ.get(f"ESPTOOL_{name}")):
            if value:
                defaults[key] = value
                break
        else:
            if key in settings.options:
                defaults[key] = settings.options[key]
    return defaults
