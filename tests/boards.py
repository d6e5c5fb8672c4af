"""Virtual boards and ESP-IDF-like images for the tests that drive espforge's command line
against a virtual chip: a board whose flash lives in a file, app and bootloader images built
from generated ELF files, the partition table they share, and OTA records as ESP-IDF writes
them."""

from __future__ import annotations

import functools
import random
import struct
import zlib
from pathlib import Path

from click.testing import CliRunner

from espforge.chips import get_chip
from espforge.cli.main import build_cli
from espforge.image import elfwriter as ew
from espforge.image.elf2image import Elf2ImageOptions, build_images
from espforge.image.partition_table import parse_csv

KB, MB = 0x400, 0x100000
CHIPS = ["esp32", "esp32c3", "esp32s3"]
# machine, IRAM, DRAM and DROM load addresses of a small program for each chip
PROGRAMS = {
    "esp32": (ew.MACHINE_XTENSA, 0x40080000, 0x3FFB0000, 0x3F400020),
    "esp32c3": (ew.MACHINE_RISCV, 0x40380000, 0x3FC88000, 0x3C000020),
    "esp32s3": (ew.MACHINE_XTENSA, 0x40378000, 0x3FC88000, 0x3C000020),
}
TABLE_CSV = (
    "nvs, data, nvs, 0x9000, 0x4000\n"
    "otadata, data, ota, 0xd000, 0x2000\n"
    "phy_init, data, phy, 0xf000, 0x1000\n"
    "factory, app, factory, 0x10000, 0x40000\n"
    "ota_0, app, ota_0, 0x50000, 0x40000\n"
    "ota_1, app, ota_1, 0x90000, 0x40000\n"
    "storage, data, spiffs, 0xd0000, 0x10000\n"
    "locked, data, nvs, 0xe0000, 0x1000, readonly\n"
)
TABLE = parse_csv(TABLE_CSV)
APP_DESC = struct.Struct("<II8x32s32s16s16s32s32sHHB3x72x")
BOOTLOADER_DESC = struct.Struct("<B3xI32s24s16x")


def app_descriptor(project: str, version: str) -> bytes:
    return APP_DESC.pack(
        0xABCD5432,
        0,
        version.encode(),
        project.encode(),
        b"12:34:56",
        b"Nov 25 2026",
        b"v5.3",
        bytes(32),  # elf2image puts the ELF SHA-256 here
        0,
        199,
        16,
    )


@functools.cache
def app_image(chip: str, project: str = "hello", version: str = "1.0") -> bytes:
    """An ESP-IDF-like app image: an app descriptor in DROM, code in IRAM."""
    machine, iram, dram, drom = PROGRAMS[chip]
    filler = random.Random(f"{project}{version}").randbytes
    sections = [
        ew.ElfSection(".flash.appdesc", drom, app_descriptor(project, version) + filler(0x100)),
        ew.ElfSection(".iram0.text", iram, filler(0x600), execute=True),
        ew.ElfSection(".dram0.data", dram, filler(0x80), write=True),
    ]
    elf = ew.build_elf(machine, iram, sections)
    options = Elf2ImageOptions(flash_mode="dio", flash_size="1MB")
    return build_images(elf, get_chip(chip), options)[0][1]


@functools.cache
def bootloader_image(chip: str) -> bytes:
    """A second-stage-bootloader-like image: its descriptor starts a DRAM segment."""
    machine, iram, dram, _ = PROGRAMS[chip]
    descriptor = BOOTLOADER_DESC.pack(0x50, 7, b"v5.3", b"Nov 25 2026 12:00:00")
    sections = [
        ew.ElfSection(".dram0.bootdesc", dram, descriptor, write=True),
        ew.ElfSection(".iram_loader.text", iram, random.Random(1).randbytes(0x400), execute=True),
    ]
    elf = ew.build_elf(machine, iram, sections)
    options = Elf2ImageOptions(flash_mode="dio", flash_size="1MB")
    return build_images(elf, get_chip(chip), options)[0][1]


class Board:
    """A virtual chip whose 1MB flash lives in a file, driven through espforge's CLI."""

    def __init__(self, chip: str, folder: Path, flash_size: str = "1MB") -> None:
        self.chip = chip
        self.folder = folder
        self.flash_file = folder / f"{chip}-flash.bin"
        self.flash_file.write_bytes(b"\xff" * _size(flash_size))
        self.url = f"virtual://{chip}?flash={self.flash_file}&flash_size={flash_size}"

    def flash(self, address: int = 0, size: int | None = None) -> bytes:
        data = self.flash_file.read_bytes()
        return data[address:] if size is None else data[address : address + size]

    def seed(self, address: int, data: bytes) -> None:
        flash = bytearray(self.flash_file.read_bytes())
        flash[address : address + len(data)] = data
        self.flash_file.write_bytes(bytes(flash))

    def install(self, *, apps: dict[str, bytes] | None = None, table: bytes | None = None) -> None:
        """Bootloader, partition table and app images, as a full ESP-IDF flash would have."""
        self.seed(get_chip(self.chip).bootloader_flash_offset, bootloader_image(self.chip))
        self.seed(0x8000, TABLE.to_binary() if table is None else table)
        for name, image in (apps or {"factory": app_image(self.chip)}).items():
            self.seed(TABLE.get(name).offset, image)

    def run(self, *args: str, ok: bool = True):
        arguments = ["--port", self.url, "--before", "no-reset", "--after", "no-reset", *args]
        result = CliRunner().invoke(build_cli(), arguments)
        if ok:
            assert result.exit_code == 0, (result.stdout, result.stderr, result.exception)
        else:
            assert result.exit_code == 2, (result.stdout, result.stderr, result.exception)
        return result

    def output(self, *args: str) -> list[str]:
        """The lines a command prints with --silent: its result alone."""
        return self.run("--silent", *args).stdout.splitlines()

    def file(self, name: str, data: bytes) -> str:
        path = self.folder / name
        path.write_bytes(data)
        return str(path)


def _size(text: str) -> int:
    return int(text[:-2]) * (MB if text.endswith("MB") else KB)


def record(sequence: int, state: int = 0xFFFFFFFF) -> bytes:
    """esp_ota_select_entry_t as ESP-IDF writes it: CRC-32 of the sequence, seeded 0xFFFFFFFF."""
    crc = zlib.crc32(struct.pack("<I", sequence), 0xFFFFFFFF)
    return struct.pack("<I20sII", sequence, b"\xff" * 20, state, crc)


def sector(first_record: bytes) -> bytes:
    return first_record + b"\xff" * (0x1000 - len(first_record))
