"""`python -m espforge.demo OUTDIR`: a guided tour from ELF files to a flashed ESP32-C3.

It needs no hardware and no toolchain: it writes an application and a bootloader ELF laid out the
way ESP-IDF 5 links them for the ESP32-C3, then runs the same library calls as `elf2image`,
`image-info` and `merge-bin`, and finally flashes the merged image into an in-process virtual
ESP32-C3 through the same flash API the device commands use (`write-flash`, `verify-flash`,
`read-flash`), printing the equivalent command lines along the way.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import logging
import random
import struct
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from espforge.chips import ChipSpec, get_chip
from espforge.errors import EspforgeError
from espforge.fileio import read_input, write_output
from espforge.flash import (
    WriteOptions,
    check_inputs,
    execute_plan,
    open_device,
    plan_write,
    verify_flash,
)
from espforge.flash.read import read_flash_reporting
from espforge.image.descriptors import APP_DESC_SIZE, parse_app_descriptor
from espforge.image.elf2image import Elf2ImageOptions, elf2image
from espforge.image.elfwriter import (
    MACHINE_RISCV,
    ElfSection,
    ElfSymbol,
    app_descriptor,
    bootloader_descriptor,
    build_elf,
    nobits_section,
)
from espforge.image.firmware import FLASH_MODES
from espforge.image.flash_input import FlashInput
from espforge.image.info import image_info
from espforge.image.merge import MergeOptions, merge_bin
from espforge.protocol.connect import ConnectOptions

CHIP_NAME = "esp32c3"
PROJECT_NAME = "espforge-demo"
APP_VERSION = "1.0.0"
IDF_VERSION = "v5.4.1"
# A fixed build date keeps the demo's output byte-for-byte reproducible.
BUILD_DATE = "Jan  1 2025"
BUILD_TIME = "12:00:00"
APP_OFFSET = 0x10000
FLASH_ARGS = ("--flash-mode", "dio", "--flash-freq", "80m", "--flash-size", "4MB")
EF_RISCV_RVC = 0x1  # compressed instructions, as every ESP-IDF RISC-V build sets

APP_ENTRY = 0x40380080
BOOTLOADER_ENTRY = 0x403CE710


def _filler(seed: str, size: int) -> bytes:
    """Deterministic stand-in for machine code or data of a given size."""
    return random.Random(seed).randbytes(size)


def _rodata(size: int) -> bytes:
    strings = b"Hello from espforge-demo!\n\0app_main started\0ESP32-C3\0"
    return (strings + _filler("rodata", size))[:size]


def _app_descriptor_bytes() -> bytes:
    return app_descriptor(
        project_name=PROJECT_NAME,
        version=APP_VERSION,
        idf_version=IDF_VERSION,
        date=BUILD_DATE,
        time=BUILD_TIME,
    )


FLASH_TEXT_START = 0x42000020
MMU_PAGE = 0x10000


def app_drom_start(text_size: int) -> int:
    """Where the app's flash data starts: ESP-IDF 5 links it on the MMU page after the flash
    code's last page, offset like the code by the image and segment headers (0x20)."""
    code_pages = (FLASH_TEXT_START + text_size - 0x42000000 + MMU_PAGE - 1) // MMU_PAGE
    return 0x3C000000 + code_pages * MMU_PAGE + 0x20


def app_sections(text_size: int = 0x9000, rodata_size: int = 0x1F00) -> list[ElfSection]:
    """An ESP-IDF 5-style ESP32-C3 app: flash code, then flash data led by the app descriptor,
    plus IRAM code and DRAM data and bss."""
    descriptor = _app_descriptor_bytes()
    drom = app_drom_start(text_size)
    return [
        ElfSection(".flash.text", FLASH_TEXT_START, _filler("text", text_size), execute=True),
        ElfSection(".flash.appdesc", drom, descriptor, align=16),
        ElfSection(".flash.rodata", drom + len(descriptor), _rodata(rodata_size), align=16),
        ElfSection(".iram0.text", 0x40380000, _filler("iram", 0x2400), execute=True, align=256),
        ElfSection(".dram0.data", 0x3FC82600, _filler("data", 0x300), write=True, align=16),
        nobits_section(".dram0.bss", 0x3FC82900, 0x1800, align=16),
        ElfSection(".comment", 0, b"GCC: (crosstool-NG esp-14.2.0) 14.2.0\0", alloc=False, align=1),
    ]


def demo_app_elf(text_size: int = 0x9000, rodata_size: int = 0x1F00) -> bytes:
    """The app's ELF; the benchmarks ask for a bigger one through the sizes."""
    symbols = [
        ElfSymbol("call_start_cpu0", APP_ENTRY, 0x40, ".iram0.text", is_function=True),
        ElfSymbol("app_main", FLASH_TEXT_START + 0x100, 0x80, ".flash.text", is_function=True),
        ElfSymbol("esp_app_desc", app_drom_start(text_size), 256, ".flash.appdesc"),
    ]
    sections = app_sections(text_size, rodata_size)
    return build_elf(MACHINE_RISCV, APP_ENTRY, sections, symbols=symbols, flags=EF_RISCV_RVC)


BOOTLOADER_DRAM_START = 0x3FCD5710


def bootloader_sections() -> list[ElfSection]:
    """A second-stage bootloader: DRAM led by the bootloader descriptor, then IRAM code. The DRAM
    sections touch, so elf2image merges them into the one segment image-info reads it from."""
    descriptor = bootloader_descriptor(
        version=1, idf_version=IDF_VERSION, date_time=f"{BUILD_DATE} {BUILD_TIME}"
    )
    dram = BOOTLOADER_DRAM_START
    return [
        ElfSection(".dram0.bootdesc", dram, descriptor, write=True),
        ElfSection(".dram0.rodata", dram + len(descriptor), _filler("boot-ro", 0x6F0)),
        ElfSection(".dram0.data", dram + 0x740, _filler("boot-data", 0x40), write=True),
        nobits_section(".dram0.bss", dram + 0x780, 0x100),
        ElfSection(".iram_loader.text", 0x403CC710, _filler("loader", 0xC00), execute=True),
        ElfSection(".iram.text", BOOTLOADER_ENTRY, _filler("boot-text", 0x1600), execute=True),
    ]


def demo_bootloader_elf() -> bytes:
    symbols = [ElfSymbol("call_start_cpu0", BOOTLOADER_ENTRY, 0x40, ".iram.text", True)]
    return build_elf(
        MACHINE_RISCV, BOOTLOADER_ENTRY, bootloader_sections(), symbols=symbols, flags=EF_RISCV_RVC
    )


@dataclass(frozen=True)
class _Artifacts:
    app_elf: Path
    app_image: Path
    bootloader_elf: Path
    bootloader_image: Path
    merged: Path
    virtual_flash: Path


def _heading(number: int, title: str) -> None:
    text = f"{number}. {title}"
    print(f"\n{text}\n{'-' * len(text)}")


def _command(*words: object) -> None:
    print("$ espforge " + " ".join(str(word) for word in words))


def _write_elfs(artifacts: _Artifacts) -> None:
    _heading(1, "Generate an ESP32-C3 application and bootloader ELF")
    for path, elf, sections in (
        (artifacts.app_elf, demo_app_elf(), app_sections()),
        (artifacts.bootloader_elf, demo_bootloader_elf(), bootloader_sections()),
    ):
        write_output(path, elf)
        print(f"wrote {path} ({len(elf)} bytes, RISC-V ELF32)")
        for section in sections:
            if section.is_loadable:
                note = "  (zero-filled at start-up, not in the image)" if section.is_nobits else ""
                print(f"  {section.name:<18} {section.address:#010x} {section.size:>7} bytes{note}")


def _convert(chip: ChipSpec, artifacts: _Artifacts) -> None:
    options = Elf2ImageOptions(flash_mode="dio", flash_freq="80m", flash_size="4MB")
    _heading(2, "Convert each ELF into a firmware image (elf2image)")
    for elf_path, image_path in (
        (artifacts.bootloader_elf, artifacts.bootloader_image),
        (artifacts.app_elf, artifacts.app_image),
    ):
        _command("--chip", chip.name, "elf2image", *FLASH_ARGS, "-o", image_path, elf_path)
        with _library_log_indented():
            written = elf2image(str(elf_path), chip, options, str(image_path))
        for path in written:
            print(f"  wrote {path} ({Path(path).stat().st_size} bytes)")


class _IndentedPrint(logging.Handler):
    """Prints each library log line indented under the command that caused it."""

    def emit(self, record: logging.LogRecord) -> None:
        prefix = "Warning: " if record.levelno >= logging.WARNING else ""
        print(f"  {prefix}{record.getMessage()}")


@contextlib.contextmanager
def _library_log_indented() -> Iterator[None]:
    """While it lasts, the library's notes and warnings are printed by `_IndentedPrint`."""
    logger = logging.getLogger("espforge")
    handler = _IndentedPrint()
    previous_level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(previous_level)


def _show_info(artifacts: _Artifacts) -> None:
    _heading(3, "Inspect the application image (image-info)")
    _command("image-info", artifacts.app_image)
    print(image_info(str(artifacts.app_image)).rstrip())


def _merge(chip: ChipSpec, artifacts: _Artifacts) -> None:
    layout = [
        (chip.bootloader_flash_offset, artifacts.bootloader_image),
        (APP_OFFSET, artifacts.app_image),
    ]
    _heading(4, "Merge bootloader and application into one flash image (merge-bin)")
    placement = " ".join(f"{offset:#x} {path}" for offset, path in layout)
    _command("--chip", chip.name, "merge-bin", "-o", artifacts.merged, placement)
    merge_bin(
        [(offset, str(path)) for offset, path in layout],
        chip,
        str(artifacts.merged),
        MergeOptions(),
    )
    _summarise_merged(artifacts.merged, layout)


def _summarise_merged(merged_path: Path, layout: list[tuple[int, Path]]) -> None:
    merged = read_input(merged_path)
    print(f"{merged_path}: {len(merged)} bytes ({len(merged) / 1024:.1f} KB)")
    print(f"  {'offset':>10}  {'size':>8}  {'sha256 (first 16 hex)':<22}  content")
    for offset, path in layout:
        image = read_input(path)
        found = merged[offset : offset + len(image)] == image
        digest = hashlib.sha256(image).hexdigest()[:16]
        verdict = "intact" if found else "DIFFERS from the input (flash parameters rewritten?)"
        print(f"  {offset:#010x}  {len(image):>8}  {digest:<22}  {path.name}: {verdict}")
    print("  gaps between images are filled with 0xFF, like erased flash")


# What is read back to show the app landed: image header, extended header, first segment
# header, then the app descriptor that ESP-IDF puts at the start of the first segment.
APP_HEADER_READ = 0x20 + APP_DESC_SIZE


def _flash_virtual_chip(chip: ChipSpec, artifacts: _Artifacts) -> None:
    _heading(5, "Flash it into a virtual ESP32-C3, verify it and read the app back")
    artifacts.virtual_flash.unlink(missing_ok=True)  # start from an erased chip every run
    port = f"virtual://{chip.name}?flash={artifacts.virtual_flash}&flash_size=4MB"
    merged = read_input(artifacts.merged)
    inputs = [FlashInput(0x0, merged, str(artifacts.merged))]

    def device_command(*words: object) -> None:
        _command("--chip", chip.name, "--port", f"'{port}'", *words)

    with _library_log_indented(), open_device(ConnectOptions(port, chip.name)) as device:
        device_command("write-flash", "0x0", artifacts.merged)
        device.attach_flash()
        plan = plan_write(device, check_inputs(inputs), WriteOptions())
        print("  " + plan.describe().replace("\n", "\n  "))
        execute_plan(device, plan)
        device_command("verify-flash", "0x0", artifacts.merged)
        if verify_flash(device, inputs):
            raise EspforgeError("the virtual chip's flash does not hold the merged image")
        device_command("read-flash", hex(APP_OFFSET), hex(APP_HEADER_READ), "app-header.bin")
        header = read_flash_reporting(device, APP_OFFSET, APP_HEADER_READ)
    _describe_app_header(chip, header)
    print(f"{artifacts.virtual_flash}: the virtual chip's 4MB flash, kept between runs")


def _describe_app_header(chip: ChipSpec, header: bytes) -> None:
    magic, segments, mode, size_freq, entry = struct.unpack_from("<BBBBI", header)
    chip_id = int.from_bytes(header[12:14], "little")
    mode_name = next((name for name, code in FLASH_MODES.items() if code == mode), "?")
    size_name = next((n for n, code in chip.flash_sizes.items() if code == size_freq & 0xF0), "?")
    segment_address, segment_length = struct.unpack_from("<II", header, 0x18)
    print(f"The application as read back from flash at {APP_OFFSET:#x}:")
    print(f"  magic {magic:#04x}, {segments} segments, entry point {entry:#010x}")
    print(f"  chip id {chip_id}, flash mode {mode_name.upper()}, flash size {size_name}")
    print(f"  first segment: {segment_length} bytes loaded at {segment_address:#010x}")
    descriptor = parse_app_descriptor(header[0x20:])
    if descriptor is not None:
        print(
            f"  app descriptor: {descriptor.project_name} {descriptor.version}, built "
            f"{descriptor.compile_date} {descriptor.compile_time} with ESP-IDF "
            f"{descriptor.idf_version}"
        )


def run_demo(outdir: Path) -> _Artifacts:
    """Write the demo's ELF files and images into `outdir`, printing each step."""
    try:
        outdir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise EspforgeError(
            f"{outdir}: cannot create the output folder ({error.strerror})"
        ) from None
    artifacts = _Artifacts(
        app_elf=outdir / f"{PROJECT_NAME}.elf",
        app_image=outdir / f"{PROJECT_NAME}.bin",
        bootloader_elf=outdir / "bootloader.elf",
        bootloader_image=outdir / "bootloader.bin",
        merged=outdir / "flash_image.bin",
        virtual_flash=outdir / "virtual-flash.bin",
    )
    title = "espforge demo: from ELF files to a flashable ESP32-C3 image, no hardware needed"
    print(f"{title}\n{'=' * len(title)}")
    _write_elfs(artifacts)
    chip = get_chip(CHIP_NAME)
    _convert(chip, artifacts)
    _show_info(artifacts)
    _merge(chip, artifacts)
    _flash_virtual_chip(chip, artifacts)
    print(
        f"\nNext, with a board attached: espforge --chip {CHIP_NAME} write-flash 0x0 "
        f"{artifacts.merged}"
    )
    return artifacts


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m espforge.demo", description=__doc__.split("\n")[0]
    )
    parser.add_argument("outdir", nargs="?", default="demo-out", help="folder for the demo's files")
    arguments = parser.parse_args(argv)
    try:
        run_demo(Path(arguments.outdir))
    except EspforgeError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
