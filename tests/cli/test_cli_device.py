"""The device commands' command-line behaviour, with the ROM client replaced by a fake.

End-to-end runs against the virtual chip are in test_flash_virtual.py; here the wording and the
order of what is printed are checked quickly, in-process.
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from click.testing import CliRunner
from rich.console import Console

from espforge.cli.main import build_cli
from espforge.cli.progress import ProgressBars, show_progress
from espforge.flash.progress import Operation, ProgressBus
from flash_fake import FakeLoader, connect_to

MB = 0x100000


@pytest.fixture
def chip(monkeypatch):
    """The fake chip every `espforge` invocation of the test connects to (an ESP32-C3)."""
    loaders: list[FakeLoader] = [FakeLoader("esp32c3")]

    connect_to(monkeypatch, lambda: loaders[0])
    return loaders


def espforge(*args: str):
    return CliRunner().invoke(build_cli(), ["--port", "fake://", "--no-stub", *args])


def lines_of(result) -> list[str]:
    assert result.exit_code == 0, (result.stdout, result.stderr, result.exception)
    return result.stdout.splitlines()


def test_write_flash_prints_what_esptool_prints(chip, tmp_path: Path):
    image = tmp_path / "app.bin"
    image.write_bytes(b"espforge " * 1000)
    lines = lines_of(espforge("write-flash", "0x10000", str(image)))
    assert lines[:3] == [
        lines[0],  # the espforge banner
        "Connected to ESP32-C3 on fake://esp32c3:",
        "Chip type:          ESP32-C3 (revision v0.4)",
    ]
    assert "MAC:                aa:bb:cc:dd:ee:ff" in lines
    assert "Flash will be erased from 0x00010000 to 0x00012fff..." in lines
    wrote = next(line for line in lines if line.startswith("Wrote "))
    assert wrote.startswith("Wrote 9000 bytes (") and " compressed) at 0x00010000 in " in wrote
    assert lines.index("Hash of data verified.") > lines.index(wrote)
    assert chip[0].flash.read(0x10000, 9000) == image.read_bytes()
    assert chip[0].calls[-2:] == [("run_reset", ("hard-reset",)), ("close", ())]


def test_without_no_stub_espforge_says_once_that_it_talks_to_the_rom(chip):
    result = CliRunner().invoke(build_cli(), ["--port", "fake://", "read-mac"])
    assert result.stdout.count("talks to the ROM bootloader directly") == 1


def test_dry_run_shows_the_plan_and_writes_nothing(chip, tmp_path: Path):
    image = tmp_path / "boot.bin"
    image.write_bytes(b"\x01" * 0x1800)
    lines = lines_of(espforge("write-flash", "--dry-run", "-u", "0x1000", str(image)))
    assert "Write plan for ESP32-C3:" in lines
    assert "  erase     0x00001000-0x00002fff  " + str(image) in lines
    assert lines[-1] == "Dry run: nothing was erased or written." or (
        "Dry run: nothing was erased or written." in lines
    )
    assert not chip[0].wrote_anything()


def test_overlapping_files_are_refused_before_connecting(chip, tmp_path: Path):
    first, second = tmp_path / "a.bin", tmp_path / "b.bin"
    first.write_bytes(b"a" * 0x1100)
    second.write_bytes(b"b" * 16)
    result = espforge("write-flash", "0x0", str(first), "0x1000", str(second))
    assert result.exit_code == 2
    assert "overlaps a flash sector of" in result.stderr
    assert chip[0].calls == []


def test_read_flash_writes_the_file(chip, tmp_path: Path):
    chip[0].flash.program(0x2000, b"hello flash")
    output = tmp_path / "out.bin"
    lines = lines_of(espforge("read-flash", "0x2000", "11", str(output)))
    assert output.read_bytes() == b"hello flash"
    read = next(line for line in lines if line.startswith("Read 11 bytes from 0x00002000 in "))
    assert read.endswith(f" to '{output}'.")


def test_read_flash_all_reads_the_detected_size(chip, tmp_path: Path):
    chip[0] = FakeLoader("esp32c3", flash_size=1 * MB)
    output = tmp_path / "all.bin"
    lines = lines_of(espforge("read-flash", "0", "all", str(output)))
    assert "Detected flash size: 1MB" in lines
    assert output.stat().st_size == MB


def test_verify_flash_failure_is_a_fatal_error(chip, tmp_path: Path):
    image = tmp_path / "x.bin"
    image.write_bytes(b"\0" * 64)
    result = espforge("verify-flash", "0x0", str(image))
    assert result.exit_code == 2
    assert "Verification failed (digest mismatch)." in result.stdout
    assert result.stderr.strip() == "A fatal error occurred: Verification failed."


def test_erase_region_and_its_alignment_check(chip):
    chip[0].flash.program(0x1000, b"\0" * 16)
    lines = lines_of(espforge("erase-region", "0x1000", "0x1000"))
    assert any(line.startswith("Flash memory region erased successfully in ") for line in lines)
    assert chip[0].flash.read(0x1000, 16) == b"\xff" * 16
    result = espforge("erase-region", "0x1001", "0x1000")
    assert result.exit_code == 2
    assert "Offset to erase from must be a multiple of 4096" in result.stderr


def test_flash_id_lines(chip):
    lines = lines_of(espforge("flash-id"))
    start = lines.index("Flash Memory Information:")
    assert lines[start : start + 5] == [
        "Flash Memory Information:",
        "=========================",
        "Manufacturer: c8",
        "Device: 4016",
        "Detected flash size: 4MB",
    ]


def test_chip_id_falls_back_to_the_mac_except_on_esp8266(chip):
    result = espforge("chip-id")
    assert "WARNING: ESP32-C3 has no chip ID. Reading MAC address instead." in result.stderr
    assert lines_of(result)[-2:] == ["MAC:                aa:bb:cc:dd:ee:ff", ""]
    chip[0] = FakeLoader("esp8266", MB)
    chip[0].registers.update({0x3FF00050: 0x12000000, 0x3FF00054: 0x00345678})
    assert "Chip ID: 0x34567812" in lines_of(espforge("chip-id"))


def test_memory_commands(chip, tmp_path: Path):
    chip[0].registers[0x3FF00050] = 0xDEADBEEF
    assert "0x3ff00050 = 0xdeadbeef" in lines_of(espforge("read-mem", "0x3ff00050"))
    lines = lines_of(espforge("write-mem", "0x3ff00054", "0x12", "0xff"))
    assert "Wrote 0x00000012 with mask 0x000000ff to 0x3ff00054." in lines
    output = tmp_path / "mem.bin"
    lines = lines_of(espforge("dump-mem", "0x3ff00050", "8", str(output)))
    assert output.read_bytes() == bytes.fromhex("efbeadde12000000")
    assert any(line.startswith("Dumped 8 bytes from 0x3ff00050 in ") for line in lines)


def test_security_info_report(chip):
    chip[0] = FakeLoader("esp32s3")
    chip[0].security = chip[0].security.__class__(0x5, 0x1, (0,) * 7, 9, 0)
    lines = lines_of(espforge("get-security-info"))
    start = lines.index("Security Information:")
    assert lines[start + 2 :][:7] == [
        "Flags: 0x00000005 (0b101)",
        "Key Purposes: (0, 0, 0, 0, 0, 0, 0)",
        "Chip ID: 9",
        "API Version: 0",
        "Secure Boot: Enabled",
        "Flash Encryption: Enabled",
        "SPI Boot Crypt Count (SPI_BOOT_CRYPT_CNT): 0x1",
    ]


def test_commands_refused_in_secure_download_mode(chip):
    chip[0].secure_download_mode = True
    result = espforge("read-mem", "0x0")
    assert result.exit_code == 2
    assert "The 'read-mem' command is not available in Secure Download Mode." in result.stderr


def test_load_ram_refuses_a_merged_hex_before_connecting(chip, tmp_path: Path):
    hex_file = tmp_path / "two.hex"
    hex_file.write_text(":0100000001FE\n:0100100002ED\n:00000001FF\n")
    result = espforge("load-ram", str(hex_file))
    assert result.exit_code == 2 and "Merged binary image detected" in result.stderr
    assert chip[0].calls == []


def test_flash_status_and_sfdp(chip):
    lines = lines_of(espforge("write-flash-status", "--bytes", "1", "0x1c"))
    assert (
        lines[-3:]
        == [
            "Initial flash memory status: 0x00",
            "Setting flash memory status: 0x1c",
            "After flash memory status:   0x1c",
        ][-3:]
        or "Setting flash memory status: 0x1c" in lines
    )
    assert "Flash memory status: 0x001c" in lines_of(espforge("read-flash-status"))
    lines = lines_of(espforge("read-flash-sfdp", "0", "4"))
    assert "Flash memory SFDP[0..3]: 0x53 0x46 0x44 0x50 " in lines


# ------------------------------------------------------------------ progress bars


def test_progress_bars_follow_the_events_and_vanish_when_done():
    bars = ProgressBars(Console(file=io.StringIO(), force_terminal=True))
    bus = ProgressBus("board-1")
    bus.subscribe(bars)
    with bus.task(Operation.WRITE, 0x800, "Writing at 0x00010000") as task:
        task.advance(0x400, "Writing at 0x00010400")
        (shown,) = bars.progress.tasks
        assert (shown.completed, shown.total, shown.description) == (
            0x400,
            0x800,
            "Writing at 0x00010400",
        )
        assert shown.fields["in_bytes"]
        task.advance(0x400, "Writing at 0x00010800")
    assert bars.progress.tasks == []
    with bus.task(Operation.VERIFY, 10, "Verifying"):  # single-command operations get no bar
        assert bars.progress.tasks == []


@pytest.mark.parametrize("terminal", [False, True])
def test_no_progress_when_disabled(terminal: bool):
    bus = ProgressBus()
    console = Console(file=io.StringIO(), force_terminal=terminal)
    with show_progress(bus, False, console):
        assert bus._subscribers == []
