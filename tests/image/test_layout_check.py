"""Layout checks before flashing, with real images built by espforge's ELF writer and elf2image."""

from __future__ import annotations

import functools
import random

import pytest
from click.testing import CliRunner

from espforge.chips import get_chip
from espforge.cli.main import build_cli
from espforge.image import elfwriter as ew
from espforge.image.elf2image import Elf2ImageOptions, build_images
from espforge.image.flash_input import FlashInput
from espforge.image.layout_check import Finding, blocking_findings, layout_findings
from espforge.image.partition_table import parse_csv

ESP32 = get_chip("esp32")
ESP32C3 = get_chip("esp32c3")
# (machine, IRAM and DRAM load addresses) of a small RAM-only program for each chip.
PROGRAMS = {
    "esp32": (ew.MACHINE_XTENSA, 0x40080000, 0x3FFB0000),
    "esp32c3": (ew.MACHINE_RISCV, 0x40380000, 0x3FC88000),
}

TWO_OTA = parse_csv(
    "nvs, data, nvs, , 0x4000\notadata, data, ota, , 0x2000\nphy_init, data, phy, , 0x1000\n"
    "factory, app, factory, , 1M\nota_0, app, ota_0, , 1M\nota_1, app, ota_1, , 1M\n"
)
TABLE_BIN = TWO_OTA.to_binary()


@functools.cache
def image(chip_name: str, code_size: int = 0x800) -> bytes:
    """An app image for the chip, as `espforge elf2image` builds it from an ELF file."""
    machine, iram, dram = PROGRAMS[chip_name]
    filler = random.Random(code_size).randbytes
    sections = [
        ew.ElfSection(".iram0.text", iram, filler(code_size), execute=True),
        ew.ElfSection(".dram0.data", dram, filler(0x100), write=True),
    ]
    elf = ew.build_elf(machine, iram, sections)
    options = Elf2ImageOptions(flash_mode="dio", flash_size="4MB")
    return build_images(elf, get_chip(chip_name), options)[0][1]


def corrupted(data: bytes, position: int) -> bytes:
    return data[:position] + bytes([data[position] ^ 0xFF]) + data[position + 1 :]


def messages(findings: list[Finding]) -> list[str]:
    return [str(finding) for finding in findings]


def esp32_files(**replacements: FlashInput | None) -> list[FlashInput]:
    """A good ESP32 layout: bootloader, two-OTA table, otadata and the factory app."""
    files = {
        "bootloader": FlashInput(0x1000, image("esp32"), "bootloader.bin"),
        "table": FlashInput(0x8000, TABLE_BIN, "partitions.bin"),
        "otadata": FlashInput(0xD000, b"\xff" * 0x2000, "ota_data_initial.bin"),
        "app": FlashInput(0x10000, image("esp32"), "app.bin"),
    }
    files.update(replacements)
    return [file for file in files.values() if file is not None]


def test_a_good_layout_has_no_findings():
    assert layout_findings(ESP32, esp32_files(), flash_size=0x400000) == []
    c3_files = [
        FlashInput(0x0, image("esp32c3"), "bootloader.bin"),
        FlashInput(0x8000, TABLE_BIN, "partitions.bin"),
        FlashInput(0x110000, image("esp32c3"), "ota_0.bin"),
    ]
    assert layout_findings(ESP32C3, c3_files) == []


def test_bootloader_must_be_a_valid_image_for_the_chip():
    bad_checksum = image("esp32")
    bad_checksum = corrupted(bad_checksum, len(bad_checksum) - 33)  # the checksum byte
    findings = layout_findings(
        ESP32, esp32_files(bootloader=FlashInput(0x1000, bad_checksum, "bl"))
    )
    assert messages(findings) == [
        "ERROR: bl at 0x1000 is not a valid ESP32 bootloader: checksum "
        f"{bad_checksum[-33]:#04x} should be {bad_checksum[-33] ^ 0xFF:#04x} (corrupt image)"
    ]
    other_chip = FlashInput(0x1000, image("esp32c3"), "bl")
    (finding,) = layout_findings(ESP32, esp32_files(bootloader=other_chip))
    assert "is not a valid ESP32 bootloader: is an image for ESP32-C3" in finding.message
    bad_hash = corrupted(image("esp32"), len(image("esp32")) - 1)
    (finding,) = layout_findings(ESP32, esp32_files(bootloader=FlashInput(0x1000, bad_hash, "bl")))
    assert "SHA-256 does not match" in finding.message and finding.overridable


def test_a_bootloader_at_another_chips_offset():
    files = esp32_files(bootloader=FlashInput(0x0, image("esp32"), "bootloader.bin"))
    assert messages(layout_findings(ESP32, files)) == [
        "ERROR: bootloader.bin at 0x0 is an image for ESP32 below the partition table, but ESP32's "
        "bootloader goes at 0x1000"
    ]


def test_the_partition_table_must_parse():
    csv_by_mistake = FlashInput(
        0x8000, b"nvs, data, nvs, , 0x6000\nfactory, app, factory, , 1M\n", "p.csv"
    )
    findings = layout_findings(ESP32, esp32_files(table=csv_by_mistake))
    assert len(findings) == 1
    assert findings[0].message.startswith("p.csv at 0x8000: entry 1 starts with 6e76")
    assert findings[0].message.endswith("(not a valid partition table)")
    # With no table to go by, the app image is still checked on its own.
    broken_app = FlashInput(0x10000, image("esp32c3"), "app.bin")
    findings = layout_findings(ESP32, esp32_files(table=csv_by_mistake, app=broken_app))
    assert "app.bin at 0x10000 is not a valid ESP32 app image" in findings[1].message


def test_app_images_must_be_valid_and_at_the_start_of_their_partition():
    wrong_chip = layout_findings(ESP32, esp32_files(app=FlashInput(0x10000, image("esp32c3"), "a")))
    assert "a at 0x10000 is not a valid ESP32 app image for partition 'factory'" in str(wrong_chip)
    not_an_image = layout_findings(ESP32, esp32_files(app=FlashInput(0x10000, b"\0" * 64, "a")))
    assert (
        "(0x10000-0x10ffff): This is not a valid image (invalid magic number: 0x0)."
        in not_an_image[0].message
    )
    inside = layout_findings(ESP32, esp32_files(app=FlashInput(0x20000, image("esp32"), "a")))
    assert messages(inside) == [
        "ERROR: a at 0x20000 must start at the beginning of app partition 'factory' "
        "(0x10000-0x10ffff)"
    ]


def test_files_must_fit_their_partition():
    small = parse_csv("nvs, data, nvs, , 0x6000\nfactory, app, factory, , 4K\nfs, data, fat, , 8K")
    big_app = FlashInput(0x10000, image("esp32", 0x2000), "app.bin")
    assert len(big_app.data) > 0x1000
    findings = layout_findings(ESP32, [big_app], partition_table=small)
    assert messages(findings) == [
        f"ERROR: app.bin at 0x10000 (0x10000-{big_app.end - 1:#x}) straddles partitions "
        "'factory' and 'fs'"
    ]
    spill = FlashInput(0x11000, b"\0" * 0x3000, "fs.bin")
    assert messages(layout_findings(ESP32, [spill], partition_table=small)) == [
        "ERROR: fs.bin at 0x11000 (0x11000-0x13fff) does not fit inside partition 'fs' "
        "(0x11000-0x12fff)"
    ]
    straddle = FlashInput(0x9000, b"\0" * 0x5000, "nvs.bin")
    assert "straddles partitions 'nvs' and 'otadata'" in str(
        layout_findings(ESP32, esp32_files(otadata=None, extra=straddle))
    )


def test_warnings_for_files_outside_partitions_and_apps_in_data_partitions():
    beyond = FlashInput(0x310000, b"\0" * 16, "extra.bin")
    app_in_nvs = FlashInput(0x9000, image("esp32"), "app.bin")
    findings = layout_findings(ESP32, esp32_files(extra=beyond, app=app_in_nvs, otadata=None))
    assert [finding.severity for finding in findings] == ["warning", "warning"]
    assert findings[0].message == (
        "app.bin at 0x9000 is an app image, written into data/nvs partition 'nvs' (0x9000-0xcfff)"
    )
    assert (
        findings[1].message
        == "extra.bin at 0x310000 (0x310000-0x31000f) is outside every partition"
    )
    assert blocking_findings(findings, force=False) == []


def test_flash_size_and_shared_sectors_cannot_be_forced():
    findings = layout_findings(ESP32, esp32_files(), flash_size=0x200000)
    assert messages(findings) == [
        "ERROR: partitions.bin at 0x8000: entry 5 (partition 'ota_0'): ends at 0x210000, "
        "beyond the 2MB flash (0x200000 bytes)"
    ]
    assert findings[0].overridable
    late = FlashInput(0x1FF000, b"\0" * 0x2000, "late.bin")
    overlap = FlashInput(0x10800, b"\0" * 16, "overlap.bin")
    findings = layout_findings(
        ESP32, [late, overlap, *esp32_files(table=None)], flash_size=0x200000
    )
    assert messages(findings) == [
        "ERROR: overlap.bin at 0x10800 overlaps app.bin at 0x10000 (0x10000-"
        f"{0x10000 + len(image('esp32')) - 1:#x}) or shares a flash sector with it: writing one "
        "would erase the other",
        "ERROR: late.bin at 0x1ff000 (8192 bytes) ends at 0x201000, beyond the 2MB flash: change "
        "the flash size or the address",
    ]
    assert blocking_findings(findings, force=True) == findings


def test_table_sector_and_table_lookalikes():
    into_table = FlashInput(0x1000, image("esp32") + b"\xff" * 0x8000, "bootloader.bin")
    findings = layout_findings(ESP32, esp32_files(bootloader=into_table))
    assert messages(findings)[0].startswith(
        "ERROR: partitions.bin at 0x8000 overlaps bootloader.bin at 0x1000"
    )
    findings = layout_findings(ESP32, [into_table], partition_table=TWO_OTA)
    assert messages(findings) == [
        "ERROR: bootloader.bin at 0x1000 (0x1000-"
        f"{into_table.end - 1:#x}) runs into the partition table's sector at 0x8000"
    ]
    moved = layout_findings(ESP32, esp32_files(table=FlashInput(0x9000, TABLE_BIN, "pt.bin")))
    assert messages(moved)[0] == (
        "WARNING: pt.bin at 0x9000 looks like a partition table, but the table offset is 0x8000 "
        "(use --partition-table-offset if it moved)"
    )
    relocated = [FlashInput(0xA000, TWO_OTA.to_binary(), "pt.bin")]
    assert "is below 0xb000" in str(
        layout_findings(ESP32, relocated, partition_table_offset=0xA000)
    )


def test_blocking_findings_and_force():
    findings = [
        Finding("error", "may be forced"),
        Finding("error", "may not", overridable=False),
        Finding("warning", "just so you know"),
    ]
    assert blocking_findings(findings, force=False) == findings[:2]
    assert blocking_findings(findings, force=True) == [findings[1]]
    assert str(findings[2]) == "WARNING: just so you know"


# ------------------------------------------------------------------ command line


@pytest.fixture
def layout_files(tmp_path):
    paths = {}
    for name, data in {
        "bootloader.bin": image("esp32"),
        "partitions.bin": TABLE_BIN,
        "app.bin": image("esp32"),
        "c3.bin": image("esp32c3"),
    }.items():
        (tmp_path / name).write_bytes(data)
        paths[name] = str(tmp_path / name)
    return paths


def test_check_layout_command(layout_files):
    files = layout_files
    good = ["0x1000", files["bootloader.bin"], "0x8000", files["partitions.bin"]]
    result = CliRunner().invoke(build_cli(), ["check-layout", *good, "0x10000", files["app.bin"]])
    assert result.exit_code == 0, result.output
    assert "Checking for ESP32, the chip" in result.output
    assert "Layout check passed for ESP32: 3 file(s)." in result.output

    wrong = [*good, "0x10000", files["c3.bin"]]
    result = CliRunner().invoke(build_cli(), ["--chip", "esp32", "check-layout", *wrong])
    assert result.exit_code == 2
    assert (
        "ERROR: " + files["c3.bin"] + " at 0x10000 is not a valid ESP32 app image" in result.output
    )
    assert "found 1 error(s) that stop flashing (--force overrides some of them)" in result.output

    result = CliRunner().invoke(build_cli(), ["-c", "esp32", "check-layout", "--force", *wrong])
    assert result.exit_code == 0
    assert "1 error(s) overridden by --force" in result.output

    result = CliRunner().invoke(
        build_cli(), ["-c", "esp32", "check-layout", "--flash-size", "1MB", *wrong[:4]]
    )
    assert result.exit_code == 2 and "beyond the 1MB flash" in result.output


def test_check_layout_needs_a_chip_when_no_file_names_one(tmp_path):
    data = tmp_path / "data.bin"
    data.write_bytes(b"\0" * 16)
    result = CliRunner().invoke(build_cli(), ["check-layout", "0x9000", str(data)])
    assert result.exit_code == 2
    assert "none of the files tells which chip they are for: give --chip" in result.output
