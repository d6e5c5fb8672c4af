"""espforge's command line: esptool 5.6's command lines, IDE upload lines, help, errors, images."""

from __future__ import annotations

import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from conftest import fixture_path, run_espforge, run_esptool
from espforge import __version__
from espforge.cli.commands import COMMANDS
from espforge.cli.framework import SECTIONS
from espforge.cli.main import build_cli, expand_argument_files, parse_command_line
from espforge.errors import EspforgeError
from espforge.image import elfwriter as ew


def invoke(*args: str, env: dict[str, str] | None = None):
    """Run espforge in-process (image handlers run; device commands stop as they do for now)."""
    return CliRunner().invoke(build_cli(), list(args), env=env)


@pytest.fixture
def firmware_files(tmp_path: Path) -> dict[str, str]:
    paths = {}
    for name in ("bootloader.bin", "partitions.bin", "boot_app0.bin", "firmware.bin"):
        path = tmp_path / name
        path.write_bytes(bytes(range(256)))
        paths[name] = str(path)
    return paths


# ------------------------------------------------------------------ IDE command lines


def test_platformio_upload_line(firmware_files):
    f = firmware_files
    invocation = parse_command_line(
        [
            "--chip", "esp32", "--port", "/dev/ttyUSB0", "--baud", "921600",
            "--before", "default_reset", "--after", "hard_reset",
            "write_flash", "-z", "--flash_mode", "dio", "--flash_freq", "80m",
            "--flash_size", "detect",
            "0x1000", f["bootloader.bin"], "0x8000", f["partitions.bin"],
            "0x10000", f["firmware.bin"],
        ]
    )  # fmt: skip
    settings = invocation.settings
    assert invocation.command == "write-flash"
    assert (settings.chip, settings.port, settings.baud) == ("esp32", "/dev/ttyUSB0", 921600)
    assert (settings.before, settings.after) == ("default-reset", "hard-reset")
    values = invocation.arguments
    assert values["compress"] is True and values["no_compress"] is False
    assert (values["flash_mode"], values["flash_freq"], values["flash_size"]) == (
        "dio",
        "80m",
        "detect",
    )
    assert values["addr_filename"] == [
        (0x1000, f["bootloader.bin"]),
        (0x8000, f["partitions.bin"]),
        (0x10000, f["firmware.bin"]),
    ]


def test_arduino_esp32_upload_line_keeps_flash_settings(firmware_files):
    f = firmware_files
    invocation = parse_command_line(
        [
            "--chip", "esp32s3", "--port", "COM7", "--baud", "460800",
            "--before", "default_reset", "--after", "hard_reset",
            "write_flash", "-e", "-z", "--flash_mode", "keep", "--flash_freq", "keep",
            "--flash_size", "keep",
            "0x0", f["bootloader.bin"], "0x8000", f["partitions.bin"],
            "0xe000", f["boot_app0.bin"], "0x10000", f["firmware.bin"],
        ]
    )  # fmt: skip
    values = invocation.arguments
    assert invocation.settings.chip == "esp32s3"
    assert values["erase_all"] is True
    assert (values["flash_mode"], values["flash_freq"], values["flash_size"]) == ("keep",) * 3
    assert [address for address, _ in values["addr_filename"]] == [0, 0x8000, 0xE000, 0x10000]


def test_esp8266_arduino_lines(firmware_files):
    write = parse_command_line(
        ["--chip", "esp8266", "--port", "/dev/ttyUSB0", "--baud", "115200",
         "--before", "no_reset_no_sync", "--after", "soft_reset",
         "write_flash", "0x0", firmware_files["firmware.bin"]]
    )  # fmt: skip
    assert (write.settings.before, write.settings.after) == ("no-reset-no-sync", "soft-reset")
    assert write.arguments["flash_size"] == "keep"  # the default when not given
    erase = parse_command_line(["--chip", "esp8266", "--after", "no_reset_stub", "erase_flash"])
    assert erase.command == "erase-flash" and erase.settings.after == "no-reset-stub"


def test_esp_idf_line_with_equals_and_flash_args_file(firmware_files, tmp_path):
    flash_args = tmp_path / "flash_args"
    flash_args.write_text(
        "--flash_mode dio --flash_freq 40m --flash_size 2MB\n"
        f"0x1000 {firmware_files['bootloader.bin']}\n"
        f"0x10000 {firmware_files['firmware.bin']}\n"
        f"0x8000 {firmware_files['partitions.bin']}\n"
    )
    args = expand_argument_files(
        ["-p", "/dev/ttyUSB1", "-b", "460800", "--before=default_reset", "--after=hard_reset",
         "--chip", "esp32", "write_flash", f"@{flash_args}"]
    )  # fmt: skip
    invocation = parse_command_line(args)
    assert invocation.settings.port == "/dev/ttyUSB1" and invocation.settings.baud == 460800
    assert invocation.settings.before == "default-reset"
    assert invocation.arguments["flash_size"] == "2MB"
    assert [address for address, _ in invocation.arguments["addr_filename"]] == [
        0x1000,
        0x10000,
        0x8000,
    ]


def test_argument_file_that_is_missing_is_a_fatal_error(tmp_path):
    result = run_espforge("write-flash", f"@{tmp_path / 'absent'}")
    assert result.returncode == 2
    assert result.stderr.startswith("A fatal error occurred: ")
    assert "absent" in result.stderr and "Traceback" not in result.stderr


# --------------------------------------------------------------- option parsing


def test_global_defaults_are_esptools():
    settings = parse_command_line(["chip-id"]).settings
    assert settings.chip == "auto" and settings.port is None and settings.baud == 115200
    assert settings.before == "default-reset" and settings.after == "hard-reset"
    assert settings.connect_attempts == 7 and settings.port_filter == ()
    assert not (settings.no_stub or settings.trace or settings.verbose or settings.silent)


@pytest.mark.parametrize("typed", ["ESP32-C3", "esp32c3", "Esp32-c3"])
def test_chip_names_in_any_case_and_with_dashes(typed):
    assert parse_command_line(["--chip", typed, "chip-id"]).settings.chip == "esp32c3"


def test_port_filter_takes_every_value_up_to_the_command():
    invocation = parse_command_line(
        ["--port-filter", "vid=0x303a", "pid=0x1001", "name=ttyACM", "read_mac"]
    )
    assert invocation.command == "read-mac"
    assert invocation.settings.port_filter == ("vid=0x303a", "pid=0x1001", "name=ttyACM")


def test_encrypt_files_and_diff_with_take_several_values(firmware_files):
    f = firmware_files
    invocation = parse_command_line(
        ["write-flash", "0x1000", f["bootloader.bin"], "0x10000", f["firmware.bin"],
         "--encrypt-files", "0x10000", f["firmware.bin"], "0x8000", f["partitions.bin"],
         "--diff-with", f["bootloader.bin"], "skip", "--trust-flash-content"]
    )  # fmt: skip
    values = invocation.arguments
    assert values["encrypt_files"] == [(0x10000, f["firmware.bin"]), (0x8000, f["partitions.bin"])]
    assert values["diff_with"] == (f["bootloader.bin"], None)
    assert values["trust_flash_content"] is True


@pytest.mark.parametrize(
    ("size", "expected"),
    [("0x400000", 0x400000), ("4M", 4 * 1024 * 1024), ("64k", 64 * 1024), ("all", "all")],
)
def test_read_flash_sizes(size, expected):
    invocation = parse_command_line(["read-flash", "0", size, "out.bin"])
    assert invocation.arguments["size"] == expected


def test_write_mem_mask_defaults_to_all_bits():
    values = parse_command_line(["write-mem", "0x3ff00000", "0b101"]).arguments
    assert (values["address"], values["value"], values["mask"]) == (0x3FF00000, 5, 0xFFFFFFFF)


@pytest.mark.parametrize(
    ("text", "expected"), [("SPI", "SPI"), ("hspi", "HSPI"), ("6,17,8,11,16", (6, 17, 8, 11, 16))]
)
def test_spi_connection_values(text, expected):
    assert parse_command_line(["flash-id", "-sc", text]).arguments["spi_connection"] == expected


def test_elf2image_options(tmp_path):
    elf = tmp_path / "app.elf"
    elf.write_bytes(b"\x7fELF")
    values = parse_command_line(
        ["--chip", "esp32c3", "elf2image", str(elf), "-o", "app.bin", "-fm", "dio",
         "-ff", "40m", "-fs", "4MB", "--min-rev-full", "101", "--max-rev-full", "199",
         "--elf-sha256-offset", "0xb0", "--pad-to-size", "64KB",
         "--flash-mmu-page-size", "32KB", "--dont-append-digest", "--secure-pad-v2"]
    ).arguments  # fmt: skip
    assert values["output"] == "app.bin"
    assert (values["flash_mode"], values["flash_freq"], values["flash_size"]) == (
        "dio",
        "40m",
        "4MB",
    )
    assert (values["min_rev_full"], values["max_rev_full"]) == (101, 199)
    assert values["elf_sha256_offset"] == 0xB0 and values["pad_to_size"] == 0x10000
    assert values["flash_mmu_page_size"] == "32KB"
    assert values["dont_append_digest"] and values["secure_pad_v2"]
    assert not values["secure_pad"]


def test_elf2image_defaults_are_esptools(tmp_path):
    elf = tmp_path / "app.elf"
    elf.write_bytes(b"\x7fELF")
    values = parse_command_line(["--chip", "esp32", "elf2image", str(elf)]).arguments
    assert (values["flash_mode"], values["flash_freq"], values["flash_size"]) == (
        "qio",
        None,
        "1MB",
    )
    assert (values["version"], values["min_rev_full"], values["max_rev_full"]) == ("1", 0, 65535)
    assert values["output"] is None and values["pad_to_size"] is None


def test_environment_supplies_defaults(monkeypatch):
    monkeypatch.setenv("ESPTOOL_CHIP", "ESP32-S2")
    monkeypatch.setenv("ESPTOOL_BAUD", "460800")
    monkeypatch.setenv("ESPTOOL_PORT", "/dev/ttyACM3")
    monkeypatch.setenv("ESPTOOL_BEFORE", "no_reset")
    monkeypatch.setenv("ESPTOOL_AFTER", "no-reset")
    monkeypatch.setenv("ESPTOOL_CONNECT_ATTEMPTS", "0")
    monkeypatch.setenv("ESPTOOL_FM", "dout")
    invocation = parse_command_line(["verify-flash", "0x0", __file__])
    settings = invocation.settings
    assert (settings.chip, settings.baud, settings.port) == ("esp32s2", 460800, "/dev/ttyACM3")
    assert (settings.before, settings.after, settings.connect_attempts) == (
        "no-reset",
        "no-reset",
        0,
    )
    assert invocation.arguments["flash_mode"] == "dout"


def test_espforge_variables_win_over_esptools_and_the_command_line_over_both(monkeypatch):
    monkeypatch.setenv("ESPTOOL_BAUD", "460800")
    monkeypatch.setenv("ESPFORGE_BAUD", "230400")
    assert parse_command_line(["chip-id"]).settings.baud == 230400
    assert parse_command_line(["-b", "921600", "chip-id"]).settings.baud == 921600


# ------------------------------------------------------------------- help, version


def _help_sections(text: str) -> dict[str, list[str]]:
    sections: dict[str, list[str]] = {}
    current = None
    for line in text.splitlines():
        if re.fullmatch(r"[A-Z][\w ]*:", line):
            current = line[:-1]
            sections[current] = []
        elif current and re.match(r"  [a-z]", line):
            sections[current].append(line.split()[0])
    return sections


def test_help_lists_every_command_in_its_section():
    result = invoke("--help")
    assert result.exit_code == 0
    sections = _help_sections(result.stdout)
    expected: dict[str, list[str]] = {}
    for spec in COMMANDS:
        if not spec.hidden:
            expected.setdefault(spec.section, []).append(spec.name)
    expected["Security and eFuses"] += ["secure", "efuse"]
    expected["Other"] += ["virtual", "stub"]
    expected["Flash"] += ["scan", "backup", "restore", "partition", "ota"]
    listed = {name: commands for name, commands in sections.items() if name != "Options"}
    assert list(listed) == [section for section in SECTIONS if section in expected]
    assert listed == expected


@pytest.mark.oracle
def test_every_esptool_command_exists():
    esptool = pytest.importorskip("esptool")
    ours = build_cli().commands
    for name, command in esptool.cli.commands.items():
        assert name in ours, name
        assert ours[name].hidden == command.hidden, name
    listed = {name for names in _help_sections(invoke("--help").stdout).values() for name in names}
    assert {name for name, command in esptool.cli.commands.items() if not command.hidden} <= listed


def _option_facts(param: click.Parameter) -> tuple:
    choices = getattr(param.type, "choices", None)
    default = None if param.is_flag or repr(param.default).endswith("UNSET") else param.default
    return (sorted(param.opts), param.is_flag, choices and tuple(choices), default)


def _parameter_mismatches(theirs: click.Command, ours: click.Command) -> list[str]:
    our_options = {param.name: param for param in ours.params if isinstance(param, click.Option)}
    mismatches = []
    for param in theirs.params:
        if isinstance(param, click.Option) and param.name not in ("help", "flash_type"):
            mine = our_options.get(param.name)
            if mine is None or _option_facts(mine) != _option_facts(param):
                mismatches.append(f"{theirs.name} {param.name}")
    their_arguments = [(p.name, p.nargs) for p in theirs.params if isinstance(p, click.Argument)]
    our_arguments = [(p.name, p.nargs) for p in ours.params if isinstance(p, click.Argument)]
    if their_arguments != our_arguments:
        mismatches.append(f"{theirs.name} arguments {our_arguments} != {their_arguments}")
    return mismatches


@pytest.mark.oracle
def test_options_match_esptools():
    esptool = pytest.importorskip("esptool")
    ours = build_cli()
    mismatches = _parameter_mismatches(esptool.cli, ours)
    for name, command in esptool.cli.commands.items():
        mismatches += _parameter_mismatches(command, ours.commands[name])
    assert mismatches == []


def test_version_prints_espforge_version():
    result = run_espforge("version")
    assert result.returncode == 0
    assert result.stdout.splitlines() == [f"espforge v{__version__}", __version__]


def test_secure_and_efuse_are_the_homes_of_espsecure_and_espefuse():
    for name, tool in (("secure", "espsecure"), ("efuse", "espefuse")):
        result = invoke(name, "--help")
        assert result.exit_code == 0
        assert f"home of {tool}'s commands" in result.stdout
    assert "sign-data" in invoke("secure", "--help").stdout


# ------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--chip", "esp99", "chip-id"], "Invalid value for '--chip'"),
        (["--baud", "fast", "chip-id"], "'fast' is not a valid baud rate"),
        (["--before", "sometimes", "chip-id"], "Invalid value for '--before'"),
        (["write-flash", "--verify-all", "0x0", __file__], ("No such option", "--verify-all")),
        (["flash-everything"], ("No such command", "flash-everything")),
        (["write-flash", "0x1000"], "Must be pairs of an address and the binary filename"),
        (["write-flash", "boot", __file__], 'Address "boot" must be a number'),
        (["write-flash", "0x0", "no-such-file.bin"], "no-such-file.bin"),
        (["write-flash", "-z", "-u", "0x0", __file__], "--compress cannot be combined"),
        (["write-flash", "--trust-flash-content", "0x0", __file__], "requires --diff-with"),
        (["dump-mem", "0", "all", "out.bin"], "'all' is not a valid integer"),
        (["merge-bin", "--chunk-size", "6", "-o", "x", "0", __file__], "4-byte aligned"),
        (["read-flash-status", "--bytes", "4"], "Invalid value for '--bytes'"),
    ],
)
def test_usage_errors_exit_2_with_clicks_message(args, message):
    result = invoke(*args)
    assert result.exit_code == 2
    assert "Usage: espforge" in result.stderr
    for part in (message,) if isinstance(message, str) else message:
        assert part in result.stderr
    assert "Traceback" not in result.stderr and "espforge v" not in result.stdout


def test_a_device_command_on_a_missing_port_fails_in_one_line(firmware_files, tmp_path):
    missing = str(tmp_path / "ttyUSB9")
    args = ["--chip", "esp32", "-p", missing, "write_flash", "0x0", firmware_files["firmware.bin"]]
    result = run_espforge(*args)
    assert result.returncode == 2
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("A fatal error occurred:") and missing in last
    assert "Traceback" not in result.stderr


def test_verbose_and_silent_together_is_a_fatal_error():
    result = invoke("--verbose", "--silent", "version")
    assert result.exit_code == 2
    assert result.stderr == (
        "A fatal error occurred: Cannot use both --verbose and --silent options at the same time.\n"
    )
    assert result.stdout == ""


def test_image_command_errors_are_fatal_errors_without_success_message(tmp_path):
    bogus = tmp_path / "bogus.bin"
    bogus.write_bytes(b"not an image at all")
    result = run_espforge("image-info", str(bogus))
    assert result.returncode == 2
    assert result.stderr.startswith("A fatal error occurred: ")
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr


def test_elf2image_needs_a_chip(tmp_path):
    elf = fixture_path("elf", "esp32-app-template.elf")
    result = invoke("elf2image", str(elf), "-o", str(tmp_path / "out.bin"))
    assert result.exit_code == 2
    assert result.stderr.startswith("A fatal error occurred: Specify the --chip argument")
    assert "Successfully" not in result.stdout and not (tmp_path / "out.bin").exists()


# --------------------------------------------------- image commands against esptool


@pytest.mark.oracle
def test_elf2image_matches_esptool(tmp_path):
    cmds = pytest.importorskip("esptool.cmds")
    elf = str(fixture_path("elf", "esp32c6-appdesc.elf"))
    ours, theirs = tmp_path / "ours.bin", tmp_path / "theirs.bin"
    result = invoke("--chip", "esp32c6", "elf2image", elf, "-o", str(ours), "--flash_mode", "dio",
                    "--flash_size", "4MB", "-ff", "80m", "--min-rev-full", "1")  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines()[1] == "Creating ESP32-C6 image..."
    assert result.stdout.splitlines()[-1] == "Successfully created ESP32-C6 image."
    cmds.elf2image(elf, "esp32c6", str(theirs), flash_mode="dio", flash_size="4MB",
                   flash_freq="80m", min_rev_full=1)  # fmt: skip
    assert ours.read_bytes() == theirs.read_bytes()


@pytest.mark.oracle
def test_elf2image_notes_and_warnings_print_as_esptools(tmp_path):
    sections = [
        ew.ElfSection(".dram0.data", 0x3FFB0000, bytes(0x40)),
        ew.ElfSection(".iram0.tail", 0x40081804, bytes(4), align=4),
        ew.ElfSection(".iram0.vectors", 0x40081810, bytes(0x20), align=16),
    ]
    elf = tmp_path / "app.elf"
    elf.write_bytes(ew.build_elf(ew.MACHINE_XTENSA, 0x40081810, sections))
    args = ["--chip", "esp32", "elf2image", "--ram-only-header", "--flash-mmu-page-size", "32KB"]
    ours = invoke(*args, "-o", str(tmp_path / "ours.bin"), str(elf))
    theirs = run_esptool(*args, "-o", str(tmp_path / "theirs.bin"), str(elf))
    assert ours.exit_code == theirs.returncode == 0, ours.stderr
    # Everything after the banner line, which names the tool.
    assert ours.stdout.splitlines()[1:] == theirs.stdout.splitlines()[1:]
    assert "NOTE: Inserting 8 bytes padding" in ours.stdout
    assert ours.stderr == theirs.stderr
    assert ours.stderr.startswith("WARNING: Changing MMU page size is not supported on ESP32!")
    silent = invoke("--silent", *args, "-o", str(tmp_path / "quiet.bin"), str(elf))
    assert (silent.exit_code, silent.stdout, silent.stderr) == (0, "", "")


@pytest.mark.oracle
def test_merge_bin_matches_esptool(tmp_path):
    cmds = pytest.importorskip("esptool.cmds")
    inputs = [
        (0x1000, str(fixture_path("images", "bootloader_esp32.bin"))),
        (0x8000, str(fixture_path("images", "partitions_singleapp.bin"))),
        (0x10000, str(fixture_path("images", "fifty_kb.bin"))),
    ]
    ours, theirs = tmp_path / "ours.bin", tmp_path / "theirs.bin"
    words = [word for address, path in inputs for word in (hex(address), path)]
    result = invoke("--chip", "esp32", "merge_bin", "-o", str(ours), "--flash_mode", "dio",
                    "--flash_size", "4MB", "--fill-flash-size", "4MB", *words)  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert f"Wrote {0x400000:#x} bytes to file '{ours}'" in result.stdout
    cmds.merge_bin(inputs, "esp32", str(theirs), flash_mode="dio", flash_size="4MB",
                   pad_to_size="4MB")  # fmt: skip
    assert ours.read_bytes() == theirs.read_bytes()


@pytest.mark.oracle
def test_image_info_matches_esptool():
    image = str(fixture_path("images", "bootloader_esp32c3.bin"))
    ours = invoke("image_info", image)
    theirs = run_esptool("image-info", image)
    assert ours.exit_code == 0 and theirs.returncode == 0
    assert ours.stdout.splitlines()[1:] == theirs.stdout.splitlines()[1:]


@pytest.mark.oracle
def test_make_image_matches_esptools_rom_image(tmp_path):
    bin_image = pytest.importorskip("esptool.bin_image")
    segments = [(0x40100000, bytes(range(100))), (0x3FFE8000, b"\x5a" * 37)]
    words = []
    reference = bin_image.ESP8266ROMFirmwareImage()
    for number, (address, data) in enumerate(segments):
        path = tmp_path / f"seg{number}.bin"
        path.write_bytes(data)
        words += ["-f", str(path), "-a", hex(address)]
        reference.segments.append(bin_image.ImageSegment(address, data))
    reference.entrypoint = 0x40100004
    reference.save(str(tmp_path / "theirs-"))
    result = invoke("make_image", str(tmp_path / "ours-"), *words, "-e", "0x40100004")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines()[-1] == "Successfully created ESP8266 image."
    ours = (tmp_path / "ours-0x00000.bin").read_bytes()
    assert ours == (tmp_path / "theirs-0x00000.bin").read_bytes()


def test_make_image_needs_an_address_per_file(tmp_path):
    segment = tmp_path / "seg.bin"
    segment.write_bytes(b"\0" * 4)
    result = invoke("make-image", str(tmp_path / "out-"), "-f", str(segment))
    assert result.exit_code == 2
    assert result.stderr.startswith("A fatal error occurred: ")


def test_silent_prints_nothing_on_success(tmp_path):
    out = tmp_path / "merged.bin"
    result = invoke("-s", "--chip", "esp32", "merge_bin", "-o", str(out), "0x0", __file__)
    assert result.exit_code == 0
    assert (result.stdout, result.stderr) == ("", "")
    assert out.read_bytes() == Path(__file__).read_bytes()


def test_library_warnings_go_to_stderr_and_notes_to_stdout(tmp_path):
    not_an_image = tmp_path / "bootloader.bin"
    not_an_image.write_bytes(b"\0" * 64)
    args = ["--chip", "esp32", "merge-bin", "-o", str(tmp_path / "out.bin"), "--flash-mode", "dio"]
    result = invoke(*args, "0x1000", str(not_an_image))
    assert result.exit_code == 0
    assert result.stderr.startswith("WARNING: ") and "does not look like an image" in result.stderr
    assert "Wrote 0x1040 bytes" in result.stdout
    silent = invoke("--silent", *args, "0x1000", str(not_an_image))
    assert (silent.exit_code, silent.stdout, silent.stderr) == (0, "", "")


def test_merge_bin_with_argument_file_end_to_end(tmp_path):
    args_file = tmp_path / "merge_args"
    args_file.write_text(f"-o {tmp_path / 'out.hex'} --format hex\n0x1000 {__file__}\n")
    result = run_espforge("--chip", "esp32c3", "merge-bin", f"@{args_file}")
    assert result.returncode == 0, result.stderr
    output = tmp_path / "out.hex"
    expanded = f"--chip esp32c3 merge-bin -o {output} --format hex 0x1000 {__file__}"
    assert result.stdout.splitlines()[0] == f"espforge {expanded}"
    assert (tmp_path / "out.hex").read_text().startswith(":")


# ------------------------------------------------------------------------ start-up


def test_version_imports_no_image_code():
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "espforge", "version"],
        capture_output=True,
        text=True,
        check=True,
    )
    imported = {line.rsplit("|", 1)[-1].strip() for line in result.stderr.splitlines()}
    assert "espforge.cli.main" in imported
    assert not {name for name in imported if name.startswith(("espforge.image", "espforge.fileio"))}


def _median_seconds(*args: str, runs: int = 7) -> float:
    durations = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", *args], capture_output=True, check=True)
        durations.append(time.perf_counter() - start)
    return statistics.median(durations)


@pytest.mark.slow
@pytest.mark.oracle
def test_starts_faster_than_esptool():
    pytest.importorskip("esptool")
    assert _median_seconds("espforge", "version") < 0.8 * _median_seconds("esptool", "version")


def test_expand_argument_files_rejects_unbalanced_quotes(tmp_path):
    args_file = tmp_path / "args"
    args_file.write_text('write-flash 0x0 "firmware.bin\n')
    with pytest.raises(EspforgeError, match="cannot read arguments"):
        expand_argument_files([f"@{args_file}"])
