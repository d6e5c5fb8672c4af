"""Every esptool v4 spelling (write_flash, --flash_mode, default_reset) means its v5 name."""

from __future__ import annotations

from pathlib import Path

import click
import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

from espforge.cli.commands import COMMANDS
from espforge.cli.compat import normalise_arguments, underscore_spelling
from espforge.cli.framework import CommandSpec
from espforge.cli.main import build_cli, parse_command_line
from espforge.cli.options import (
    GLOBAL_OPTIONS,
    ByteSize,
    LegacyChoice,
    Opt,
    SpiConnection,
    flash_options,
)

EXISTING_FILE = __file__
NOTE = "Note: read esptool v4 spellings as their current names:"
# Values that satisfy an option's own checks, where a generic sample would not.
SAMPLE_WORDS = {"encrypt_files": ["0x1000", EXISTING_FILE], "diff_with": ["skip"]}


def _sample(param_type: click.ParamType | None) -> str:
    """A value `param_type` accepts."""
    if isinstance(param_type, click.Choice):
        return next(c for c in param_type.choices if c not in ("keep", "detect", "auto"))
    if isinstance(param_type, click.IntRange):
        return str(param_type.min or 0)
    if isinstance(param_type, click.Path):
        return EXISTING_FILE if param_type.exists else "output.bin"
    if isinstance(param_type, ByteSize):
        return "64KB"
    return "HSPI" if isinstance(param_type, SpiConnection) else "16"


def _words_for(spec: Opt) -> list[str]:
    return SAMPLE_WORDS.get(spec.dest, [] if spec.type is None else [_sample(spec.type)])


def _required_words(spec: CommandSpec) -> list[str]:
    """The shortest command line `spec` accepts, after its name."""
    words: list[str] = []
    for param in spec.params:
        if isinstance(param, Opt):
            if param.required:
                words += [param.names[0], *_words_for(param)]
        elif param.nargs == -1:
            words += ["0x1000", EXISTING_FILE]
        elif param.required:
            words.append(_sample(param.type))
    return words


def _needed_options(spec: CommandSpec, dest: str) -> list[str]:
    options = {param.dest: param for param in spec.params if isinstance(param, Opt)}
    words = []
    for name, needed in spec.requires:
        if name == dest:
            words += [options[needed].names[0], *_words_for(options[needed])]
    return words


def _multi_word_names(spec: Opt) -> list[str]:
    long_names = [name for name in spec.names if name.startswith("--")]
    return [name for name in (*long_names, *spec.legacy_names) if "-" in name[2:]]


OPTION_CASES = [
    pytest.param(spec, option, old, id=f"{spec.name} {old}")
    for spec in COMMANDS
    for option in spec.params
    if isinstance(option, Opt)
    for name in _multi_word_names(option)
    for old in {underscore_spelling(name), *option.legacy_names}
]


@pytest.mark.parametrize(("spec", "option", "old"), OPTION_CASES)
def test_every_v4_option_spelling_means_the_v5_option(spec, option, old, capsys):
    base = ["--chip", "esp32", spec.name, *_required_words(spec)]
    extra = [*_words_for(option), *_needed_options(spec, option.dest)]
    modern = parse_command_line([*base, option.names[0], *extra])
    capsys.readouterr()
    legacy = parse_command_line([*base, old, *extra])
    assert legacy == modern
    assert f"{old} -> {option.names[0]}" in capsys.readouterr().err


@pytest.mark.parametrize(
    "option", [o for o in GLOBAL_OPTIONS if "-" in o.names[0][2:]], ids=lambda o: o.names[0]
)
def test_every_v4_global_option_spelling_means_the_v5_option(option, capsys):
    words = _words_for(option)
    modern = parse_command_line([option.names[0], *words, "chip-id"])
    legacy = parse_command_line([underscore_spelling(option.names[0]), *words, "chip_id"])
    assert legacy == modern
    assert f"{underscore_spelling(option.names[0])} -> {option.names[0]}" in capsys.readouterr().err


@pytest.mark.parametrize("spec", [s for s in COMMANDS if "-" in s.name], ids=lambda s: s.name)
def test_every_v4_command_spelling_means_the_v5_command(spec):
    words = [*_required_words(spec)]
    legacy = parse_command_line(["--chip", "esp32", underscore_spelling(spec.name), *words])
    assert legacy == parse_command_line(["--chip", "esp32", spec.name, *words])
    assert legacy.command == spec.name


def test_underscore_commands_stay_out_of_help():
    listing = CliRunner().invoke(build_cli(), ["--help"]).stdout
    assert "write-flash" in listing and "write_flash" not in listing


RESET_CASES = [
    (option.names[0], value)
    for option in GLOBAL_OPTIONS
    if isinstance(option.type, LegacyChoice)
    for value in option.type.choices
    if "-" in value
]


def test_reset_cases_cover_esptool_v4_values():
    v4_values = {value.replace("-", "_") for _, value in RESET_CASES}
    assert {"default_reset", "usb_reset", "no_reset", "no_reset_no_sync"} <= v4_values
    assert {"hard_reset", "soft_reset", "no_reset_stub", "watchdog_reset"} <= v4_values


@pytest.mark.parametrize(("option", "value"), RESET_CASES)
def test_every_v4_reset_value_means_the_v5_value(option, value, capsys):
    old = value.replace("-", "_")
    settings = parse_command_line([option, old, "run"]).settings
    assert getattr(settings, option[2:]) == value
    assert f"{old} -> {value}" in capsys.readouterr().err


@pytest.mark.parametrize("option", flash_options(keep=True, detect=True), ids=lambda o: o.dest)
def test_every_v4_flash_choice_value_means_the_v5_value(option):
    for value in (choice for choice in option.type.choices if "-" in choice):
        old = value.replace("-", "_")
        invocation = parse_command_line(["write-flash", option.names[0], old, "0x0", __file__])
        assert invocation.arguments[option.dest] == value


def test_v4_choice_values_from_the_environment(monkeypatch):
    monkeypatch.setenv("ESPTOOL_AFTER", "no_reset")
    assert parse_command_line(["run"]).settings.after == "no-reset"


def test_equals_form_of_an_old_option(capsys):
    invocation = parse_command_line(
        ["--before=no_reset", "write_flash", "--flash_mode=dio", "0x0", __file__]
    )
    assert invocation.settings.before == "no-reset"
    assert invocation.arguments["flash_mode"] == "dio"


def test_notes_come_on_one_stderr_line_and_only_once(capsys):
    parse_command_line(
        ["--before", "default_reset", "write_flash", "--flash_mode", "dio", "--flash_mode", "qio",
         "0x0", __file__]
    )  # fmt: skip
    captured = capsys.readouterr()
    assert captured.err.count("\n") == 1
    assert captured.err == (
        f"{NOTE} default_reset -> default-reset, write_flash -> write-flash, "
        "--flash_mode -> --flash-mode.\n"
    )
    assert NOTE not in captured.out


def test_silent_hides_the_note(capsys):
    parse_command_line(["--silent", "--before", "default_reset", "chip_id"])
    assert capsys.readouterr() == ("", "")


def test_current_spellings_print_no_note(capsys):
    parse_command_line(
        ["--before", "default-reset", "write-flash", "--flash-mode", "dio", "0x0", __file__]
    )
    assert capsys.readouterr().err == ""


def test_unknown_underscore_spellings_are_still_errors():
    runner = CliRunner()
    for args in (
        ["write_flashes"],
        ["--before", "default_rest", "run"],
        ["run", "--flash_mode", "x"],
    ):
        result = runner.invoke(build_cli(), args)
        assert result.exit_code == 2, args


def test_option_values_that_look_like_old_spellings_are_left_alone(tmp_path: Path):
    # A value following an option is never renamed, even when it looks like an option.
    out = "--flash_mode"
    invocation = parse_command_line(["read-flash", "0", "16", "--", out])
    assert invocation.arguments["output"] == out
    assert parse_command_line(["--port", "--no_stub", "run"]).settings.port == "--no_stub"


_WRITE_FLASH = build_cli().commands["write-flash"]
_SPELLINGS = sorted(
    {
        spelling
        for param in _WRITE_FLASH.params
        for name in param.opts
        for spelling in (name, underscore_spelling(name))
    }
)
_WORDS = st.lists(
    st.one_of(
        st.sampled_from(_SPELLINGS),
        st.text(alphabet="abc0x1_=.", min_size=1, max_size=6),
    ),
    max_size=12,
)


@given(_WORDS)
def test_normalising_is_idempotent_and_keeps_every_plain_word(words):
    ctx = click.Context(_WRITE_FLASH)
    once = normalise_arguments(ctx, _WRITE_FLASH.params, words)
    assert normalise_arguments(ctx, _WRITE_FLASH.params, once) == once
    assert [w for w in once if not w.startswith("-")] == [w for w in words if not w.startswith("-")]
