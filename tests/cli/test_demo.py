"""`python -m espforge.demo`: it runs, and what it writes is what esptool 5.6 makes and accepts."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import pytest

from espforge import demo

esptool_cmds = pytest.importorskip("esptool.cmds", reason="esptool (test-only oracle) is absent")


def esptool_output(function, *args, **kwargs) -> str:
    """What an in-process esptool command prints."""
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        function(*args, **kwargs)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory) -> tuple[int, str, Path]:
    outdir = tmp_path_factory.mktemp("demo") / "demo-out"
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        exit_code = demo.main([str(outdir)])
    return exit_code, buffer.getvalue(), outdir


def test_demo_exits_zero_and_explains_each_step(demo_run):
    exit_code, printed, outdir = demo_run
    assert exit_code == 0
    assert "1. Generate an ESP32-C3 application and bootloader ELF" in printed
    assert (
        f"$ espforge --chip esp32c3 elf2image --flash-mode dio --flash-freq 80m --flash-size 4MB "
        f"-o {outdir}/espforge-demo.bin {outdir}/espforge-demo.elf"
    ) in printed
    assert f"$ espforge image-info {outdir}/espforge-demo.bin" in printed
    assert "Project name: espforge-demo" in printed
    assert (
        f"$ espforge --chip esp32c3 merge-bin -o {outdir}/flash_image.bin "
        f"0x0 {outdir}/bootloader.bin 0x10000 {outdir}/espforge-demo.bin"
    ) in printed
    assert printed.count(": intact") == 2


@pytest.mark.parametrize("name", ["espforge-demo", "bootloader"])
def test_images_are_byte_identical_to_esptools_elf2image(demo_run, name):
    _, _, outdir = demo_run
    expected = esptool_cmds.elf2image(
        str(outdir / f"{name}.elf"),
        "esp32c3",
        flash_mode="dio",
        flash_freq="80m",
        flash_size="4MB",
    )
    assert (outdir / f"{name}.bin").read_bytes() == expected


def test_esptool_image_info_reports_the_app_descriptor(demo_run):
    _, _, outdir = demo_run
    report = esptool_output(esptool_cmds.image_info, str(outdir / "espforge-demo.bin"))
    assert "Detected image type: ESP32-C3" in report
    assert "Entry point: 0x40380080" in report
    assert "Checksum: " in report and "(valid)" in report.split("Checksum: ")[1].splitlines()[0]
    assert "Project name: espforge-demo" in report
    assert "App version: 1.0.0" in report
    assert "ESP-IDF: v5.4.1" in report
    assert "Compile time: Jan  1 2025 12:00:00" in report
    # elf2image wrote the ELF file's SHA-256 into the descriptor.
    assert "ELF file SHA256: " + "0" * 64 not in report


def test_esptool_image_info_reports_the_bootloader_descriptor(demo_run):
    _, _, outdir = demo_run
    report = esptool_output(esptool_cmds.image_info, str(outdir / "bootloader.bin"))
    assert "Entry point: 0x403ce710" in report
    assert "Bootloader version: 1" in report
    assert "ESP-IDF: v5.4.1" in report


def test_merged_file_holds_each_image_at_its_offset(demo_run):
    _, _, outdir = demo_run
    merged = (outdir / "flash_image.bin").read_bytes()
    bootloader = (outdir / "bootloader.bin").read_bytes()
    app = (outdir / "espforge-demo.bin").read_bytes()
    assert merged[: len(bootloader)] == bootloader
    assert merged[len(bootloader) : 0x10000] == b"\xff" * (0x10000 - len(bootloader))
    assert merged[0x10000:] == app


def test_unusable_output_folder_is_one_line_error(tmp_path, capsys):
    blocker = tmp_path / "taken"
    blocker.write_text("a file, not a folder")
    assert demo.main([str(blocker / "out")]) == 1
    error = capsys.readouterr().err
    assert error.startswith(f"error: {blocker / 'out'}: cannot create the output folder")
    assert error.count("\n") == 1
