"""espforge's image refusals hold esptool 5.6's sentence for the same case, with its exit code:
each case run through both command lines on inputs made here."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_elf2image import esp32_style_elf, section

from conftest import run_espforge, run_stock_tool
from espforge.image import elfwriter as ew

pytestmark = pytest.mark.oracle


def _both_fail_with(args: list[str | Path], sentence: str, exit_code: int = 2) -> None:
    theirs = run_stock_tool("esptool", *args)
    ours = run_espforge(*map(str, args))
    assert theirs.returncode == exit_code, theirs.stdout + theirs.stderr
    assert sentence in theirs.stdout + theirs.stderr
    assert ours.returncode == exit_code, ours.stdout + ours.stderr
    assert sentence in ours.stderr


@pytest.mark.parametrize(("first_byte", "shown"), [(0x00, "0x0"), (0xAA, "0xaa")])
def test_image_info_of_not_an_image_says_invalid_magic_number(tmp_path, first_byte, shown):
    data = tmp_path / "blob.bin"
    data.write_bytes(bytes([first_byte]) + b"\x01" * 63)
    _both_fail_with(["image-info", data],
                    f"This is not a valid image (invalid magic number: {shown}).")  # fmt: skip


def test_image_info_of_an_empty_file_says_image_is_empty(tmp_path):
    empty = tmp_path / "empty.bin"
    empty.write_bytes(b"")
    _both_fail_with(["image-info", empty], "Image is empty.")


def test_elf2image_refuses_more_than_sixteen_segments(tmp_path):
    many = [section(f".dram0.s{index}", 0x3FFC0000 + index * 0x100, 0x10) for index in range(16)]
    elf = tmp_path / "many.elf"
    elf.write_bytes(esp32_style_elf(*many))
    _both_fail_with(
        ["--chip", "esp32", "elf2image", "-o", tmp_path / "out.bin", elf],
        "Invalid segment count 20 (max 16). Usually this indicates a linker script problem.",
    )
    assert not (tmp_path / "out.bin").exists()


@pytest.mark.parametrize(
    ("offset", "sentence"),
    [
        ("0x20", "Contents of segment at SHA256 digest offset 0x20 are not zero. "
                 "Refusing to overwrite."),
        ("0x2630", "Cannot place SHA256 digest on segment boundary"),
    ],
)  # fmt: skip
def test_elf2image_refuses_an_elf_sha256_offset_it_cannot_use(tmp_path, offset, sentence):
    elf = tmp_path / "app.elf"
    elf.write_bytes(esp32_style_elf(ew.ElfSection(".dram0.zeros", 0x3FFB8000, bytes(0x100))))
    _both_fail_with(["--chip", "esp32", "elf2image", "--elf-sha256-offset", offset,
                     "-o", tmp_path / "out.bin", elf], sentence)  # fmt: skip


def test_elf2image_of_a_file_that_is_not_elf(tmp_path):
    elf = tmp_path / "app.elf"
    elf.write_bytes(b"\x7fELG" + bytes(100))
    _both_fail_with(["--chip", "esp32", "elf2image", "-o", tmp_path / "out.bin", elf],
                    "has invalid ELF magic header")  # fmt: skip
