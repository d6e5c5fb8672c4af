"""esptool's hardware test suite (its test/test_esptool.py), replayed against the virtual chip.

Each class mirrors a class of that suite: the stock esptool 5.6 runs as a subprocess, with its
default reset and flasher stub unless a scenario says otherwise, on a virtual chip served from
this process. Where the suite reads flash back through esptool we do the same, and also check
the chip's flash array directly. The default run covers a representative chip subset; the full
chip cross product is marked slow.

The images are made here (the suite's one_kb.bin, sector.bin, ... are random data of the same
sizes); bootloader and chip-header images come from ../shared/fixtures when present.
"""

from __future__ import annotations

import random
import re
import shlex
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from conftest import fixture_path, run_esptool
from espforge.chips import get_chip
from espforge.virtual import transports
from espforge.virtual.chip import BootState, VirtualChip
from espforge.virtual.config import chip_from_options

pytest.importorskip("esptool", reason="esptool (test-only oracle) is absent")

DEFAULT_CHIPS = ["esp32", "esp32c3", "esp32s3", "esp8266"]
ALL_CHIPS = [*DEFAULT_CHIPS, "esp32s2", "esp32c2", "esp32c6", "esp32h2", "esp32p4"]
ESPTOOL_TIMEOUT = 120


def each_chip(*default: str, leaving_out: tuple[str, ...] = ()) -> list:
    """Every chip (but `leaving_out`) for a scenario: `default` ones in the default run, the
    rest slow."""
    return [
        chip if chip in default else pytest.param(chip, marks=pytest.mark.slow)
        for chip in ALL_CHIPS
        if chip not in leaving_out
    ]


@dataclass(frozen=True)
class Images:
    """The suite's test images, generated: same sizes and kinds of content."""

    folder: Path

    def __getattr__(self, name: str) -> Path:
        return self.folder / f"{name}.bin"


@pytest.fixture(scope="module")
def images(tmp_path_factory) -> Images:
    folder = tmp_path_factory.mktemp("images")
    rng = random.Random(2024)
    contents = {
        "one_kb": rng.randbytes(1024),
        "one_kb_all_ef": b"\xef" * 1024,
        "sector": rng.randbytes(4096),
        "fifty_kb": rng.randbytes(50 * 1024),
        "one_mb": rng.randbytes(1024 * 1024),
        "onebyte": b"\x8a",
        "zerolength": b"",
        "not_4_byte_aligned": rng.randbytes(1021),
        "compressible": bytes(range(256)) * 256,
    }
    for name, data in contents.items():
        (folder / f"{name}.bin").write_bytes(data)
    return Images(folder)


class Board:
    """A virtual chip served to esptool subprocesses, as a board on a serial port.

    Over an RFC 2217 server esptool's reset sequences reach the chip's modem lines, but
    pyserial's client spends about 0.3 s on every command there. A PTY is fast and has no
    modem lines, so there the auto-reset circuit is played by this class: a reset into download
    mode before a run whose --before resets, a reset into the application after a hard reset.
    """

    def __init__(
        self, chip: str, workdir: Path, flash_size: str = "4MB", rfc2217: bool = False, **options
    ) -> None:
        self.chip = chip
        self.spec = get_chip(chip)
        self.workdir = workdir
        self.virtual: VirtualChip = chip_from_options(chip, {"flash_size": flash_size, **options})
        server_class = transports.Rfc2217Server if rfc2217 else transports.PtyServer
        self.lines_travel = rfc2217
        self.server = server_class(self.virtual)
        self.port = self.server.start()
        if self.lines_travel:
            self.port += "?ign_set_control"  # as the suite's own RFC 2217 tests open it

    def close(self) -> None:
        self.server.stop()
        self.virtual.close()

    def esptool(self, command: str, chip: str | None = None, ok: bool = True) -> str:
        """Run `esptool --chip C --port P <command>` as the suite does; stdout and stderr."""
        args = shlex.split(command)
        before, after = self._option(args, "--before"), self._option(args, "--after")
        if not self.lines_travel and before in (None, "default-reset", "usb-reset"):
            self.virtual.reset(download=True)
        result = run_esptool(
            "--chip",
            chip or self.chip,
            "--port",
            self.port,
            *args,
            cwd=self.workdir,
            timeout=ESPTOOL_TIMEOUT,
        )
        output = result.stdout + result.stderr
        assert (result.returncode == 0) == ok, output
        if not self.lines_travel and self._pulses_reset(after, output):
            self.virtual.reset(download=False)
        return output

    @staticmethod
    def _option(args: list[str], name: str) -> str | None:
        return args[args.index(name) + 1] if name in args else None

    @staticmethod
    def _pulses_reset(after: str | None, output: str) -> bool:
        """Whether esptool tried to pulse RTS at the end (which a PTY cannot carry)."""
        return "Hard resetting via RTS pin" in output and after in (
            None,
            "hard-reset",
            "watchdog-reset",
        )

    def readback(self, offset: int, length: int) -> bytes:
        """What esptool's read-flash returns, checked against the chip's own flash array."""
        out = self.workdir / "readback.bin"
        self.esptool(f"read-flash {offset:#x} {length:#x} {out}")
        data = out.read_bytes()
        assert data == self.virtual.flash.read(offset, length)
        return data

    def verify_readback(
        self, offset: int, length: int, image: Path, is_bootloader: bool = False
    ) -> None:
        """The suite's check: flash holds the image (a bootloader's flash-parameter bytes 2-3
        may differ, esptool rewrites them)."""
        data = self.readback(offset, length)
        expected = image.read_bytes()[:length]
        if is_bootloader:
            data, expected = data[:2] + data[4:], expected[:2] + expected[4:]
        assert data == expected


@pytest.fixture
def board_factory(tmp_path) -> Iterator:
    boards: list[Board] = []

    def make(chip: str, flash_size: str = "4MB", rfc2217: bool = False, **options) -> Board:
        """A board; `options` are the virtual chip's URL options (revision=, sdm=, ...)."""
        boards.append(Board(chip, tmp_path, flash_size, rfc2217, **options))
        return boards[-1]

    yield make
    for board in boards:
        board.close()


@pytest.fixture
def board(request, board_factory) -> Board:
    return board_factory(request.param)


def chips(*default: str):
    """Parametrise the `board` fixture over chips (see each_chip)."""
    return pytest.mark.parametrize("board", each_chip(*default), indirect=True)


def only(*names: str):
    """A scenario the suite runs on these chips alone (their images or behaviour)."""
    return pytest.mark.parametrize("board", names, indirect=True)


def hex_image(board: Board, address: int, image: Path) -> Path:
    """The image as Intel HEX at `address`, made by esptool's merge-bin as the suite does."""
    out = board.workdir / f"{image.stem}_{address:x}.hex"
    board.esptool(f"merge-bin --format hex -o {out} {address:#x} {image}")
    return out


class TestFlashing:
    @chips("esp32", "esp8266")
    def test_short_flash(self, board, images):
        board.esptool(f"write-flash 0x0 {images.one_kb}")
        board.verify_readback(0, 1024, images.one_kb)

    @chips("esp32c3")
    def test_short_flash_hex(self, board, images):
        board.esptool(f"write-flash 0x0 {hex_image(board, 0, images.one_kb)}")
        board.verify_readback(0, 1024, images.one_kb)

    @chips("esp32s3")
    def test_adjacent_flash(self, board, images):
        board.esptool(f"write-flash 0x0 {images.sector} 0x1000 {images.fifty_kb}")
        board.verify_readback(0, 4096, images.sector)
        board.verify_readback(4096, 50 * 1024, images.fifty_kb)

    @chips("esp32")
    def test_adjacent_flash_hex(self, board, images):
        first = hex_image(board, 0, images.sector)
        second = hex_image(board, 0x1000, images.fifty_kb)
        board.esptool(f"write-flash 0x0 {first} 0x1000 {second}")
        board.verify_readback(0, 4096, images.sector)
        board.verify_readback(4096, 50 * 1024, images.fifty_kb)

    @chips("esp8266")
    def test_short_flash_no_stub(self, board, images):
        board.esptool(f"--no-stub write-flash 0x0 {images.one_kb}")
        board.verify_readback(0, 1024, images.one_kb)

    @chips("esp32c3")
    def test_short_flash_no_stub_compressed(self, board, images):
        command = f"--no-stub write-flash -z 0x0 {images.compressible}"
        if not board.spec.rom.compressed_writes:
            output = board.esptool(command, ok=False)
            assert "ROM does not support function flash_defl_begin" in output
            return
        board.esptool(command)
        board.verify_readback(0, 0x10000, images.compressible)

    @chips("esp32c3")
    def test_high_offset(self, board, images):
        board.esptool(f"write-flash -fs 4MB 0x300000 {images.one_kb}")
        board.verify_readback(0x300000, 1024, images.one_kb)

    @chips("esp32s3")
    def test_high_offset_no_compression(self, board, images):
        board.esptool(f"write-flash -u -fs 4MB 0x300000 {images.one_kb}")
        board.verify_readback(0x300000, 1024, images.one_kb)

    @chips("esp32c3")
    def test_large_image(self, board, images):
        board.esptool(f"write-flash 0x0 {images.one_mb}")
        board.verify_readback(0, 1024 * 1024, images.one_mb)

    @chips()
    def test_large_no_compression(self, board, images):
        board.esptool(f"write-flash -u 0x0 {images.one_mb}")
        board.verify_readback(0, 1024 * 1024, images.one_mb)

    @chips("esp32")
    def test_erase_before_write(self, board, images):
        board.esptool(f"write-flash 0x20000 {images.sector}")
        output = board.esptool(f"write-flash --erase-all 0x0 {images.one_kb}")
        assert "Flash memory erased successfully" in output or "Chip erase completed" in output
        assert "Hash of data verified" in output
        board.verify_readback(0, 1024, images.one_kb)
        assert board.readback(0x20000, 0x1000) == b"\xff" * 0x1000

    @chips("esp8266")
    def test_zero_length(self, board, images):
        output = board.esptool(f"write-flash 0x10000 {images.one_kb} 0x11000 {images.zerolength}")
        board.verify_readback(0x10000, 1024, images.one_kb)
        assert "zerolength.bin' is empty" in output

    @chips("esp32c3")
    def test_single_byte(self, board, images):
        board.esptool(f"write-flash 0x0 {images.onebyte}")
        board.verify_readback(0x0, 1, images.onebyte)

    @chips("esp32c3")
    def test_erase_range_messages(self, board, images):
        output = board.esptool(f"write-flash 0x1000 {images.sector} 0x0FC00 {images.one_kb}")
        assert "Flash will be erased from 0x00001000 to 0x00001fff..." in output
        assert "Flash will be erased from 0x0000f000 to 0x0000ffff..." in output
        assert (
            "Flash address 0x0000fc00 is not aligned to a 0x1000 byte flash sector. "
            "0xc00 bytes before this address will be erased."
        ) in output
        board.verify_readback(0x1000, 4096, images.sector)
        board.verify_readback(0xFC00, 1024, images.one_kb)

    @chips("esp32")
    def test_write_sector_overlap(self, board, images):
        # Two 1 KB files that do not overlap but share the sector at 0x0.
        output = board.esptool(f"write-flash 0x0 {images.one_kb} 0x800 {images.one_kb}", ok=False)
        assert "Detected overlap at address:" in output and "0x800 for file" in output

    @chips("esp32s3")
    def test_write_no_overlap(self, board, images):
        output = board.esptool(f"write-flash 0x0 {images.one_kb} 0x2000 {images.one_kb}")
        assert "Detected overlap at address" not in output
        board.verify_readback(0x2000, 1024, images.one_kb)

    @chips("esp8266")
    def test_length_not_aligned_4bytes(self, board, images):
        board.esptool(f"write-flash 0x0 {images.not_4_byte_aligned}")
        board.verify_readback(0, 1021, images.not_4_byte_aligned)

    @chips("esp32s3")
    def test_length_not_aligned_4bytes_no_compression(self, board, images):
        board.esptool(f"write-flash -u 0x0 {images.not_4_byte_aligned}")
        board.verify_readback(0, 1021, images.not_4_byte_aligned)

    @chips("esp32")
    def test_compressible_file(self, board, tmp_path):
        compressible = tmp_path / "compressible.bin"
        compressible.write_bytes(bytes(1024 * 1024))
        board.esptool(f"write-flash 0x10000 {compressible}")
        board.verify_readback(0x10000, 1024 * 1024, compressible)

    @chips("esp32c3")
    def test_flash_not_aligned_nostub(self, board, images):
        output = board.esptool(f"--no-stub write-flash 0x1 {images.one_kb}")
        assert "Flash will be erased from 0x00000000 to 0x00000fff..." in output
        board.verify_readback(0x1, 1024, images.one_kb)
        assert board.readback(0, 1) == b"\xff"

    @chips("esp8266")
    def test_flash_not_aligned_with_stub(self, board, images):
        board.esptool(f"write-flash 0x1 {images.one_kb}")
        board.verify_readback(0x1, 1024, images.one_kb)

    # ESP32 images carry no chip id, ESP8266 ones no extended header.
    @pytest.mark.parametrize(
        "board", each_chip("esp32c3", leaving_out=("esp32", "esp8266")), indirect=True
    )
    def test_write_image_for_another_target(self, board):
        other = "esp32s3_header.bin" if board.chip != "esp32s3" else "esp32c3_header_min_rev.bin"
        image = fixture_path("images", other)
        offset = board.spec.bootloader_flash_offset  # elsewhere esptool only notes it
        output = board.esptool(f"write-flash {offset:#x} {image}", ok=False)
        assert f"'{image}' is not an {board.spec.chip_name} image." in output

    @only("esp32c3")
    def test_flash_with_min_max_rev(self, board):
        """The image asks for a revision the (v1.0) chip does not have."""
        image = fixture_path("images", "esp32c3_header_min_rev.bin")
        output = board.esptool(f"write-flash 0x0 {image}", ok=False)
        assert "requires chip revision v2.55 or higher (this chip is revision v1.0)" in output

    def test_flash_with_min_rev_on_a_newer_chip(self, board_factory):
        """The same image on a chip of a new enough revision is written."""
        board = board_factory("esp32c3", revision="3.0")
        image = fixture_path("images", "esp32c3_header_min_rev.bin")
        output = board.esptool(f"write-flash 0x0 {image}")
        assert "requires chip revision" not in output
        assert "(revision v3.0)" in output
        board.verify_readback(0, image.stat().st_size, image, is_bootloader=True)


class TestFlashSizes:
    @chips("esp32")
    def test_invalid_size_arg(self, board, images):
        board.esptool(f"write-flash -fs 10MB 0x6000 {images.one_kb}", ok=False)

    @chips("esp8266")
    def test_write_past_end_fails(self, board, images):
        output = board.esptool(f"write-flash -fs 1MB 0x280000 {images.one_kb}", ok=False)
        assert f"File '{images.one_kb}'" in output and "will not fit" in output

    @chips("esp32c3")
    def test_write_no_compression_past_end_fails(self, board, images):
        output = board.esptool(f"write-flash -u -fs 1MB 0x280000 {images.one_kb}", ok=False)
        assert "will not fit" in output

    @chips("esp32")
    def test_flash_size_keep(self, board):
        offset = board.spec.bootloader_flash_offset
        image = fixture_path("images", f"bootloader_{board.chip}.bin")
        board.esptool(f"write-flash -fs keep {offset:#x} {image}")
        board.verify_readback(offset, 2048, image)  # byte-exact: nothing was rewritten

    @chips("esp32c3")
    def test_flash_size_detect(self, board):
        offset = board.spec.bootloader_flash_offset
        image = fixture_path("images", f"bootloader_{board.chip}.bin")
        header = image.read_bytes()[:8]
        board.esptool(f"write-flash -fs detect {offset:#x} {image}")
        readback = board.readback(offset, 8)
        assert header[:3] == readback[:3] and header[4:] == readback[4:]
        assert readback[3] & 0xF0 == board.spec.flash_sizes["4MB"]  # the detected 4 MB

    @chips("esp8266")
    def test_explicit_set_size_freq_mode(self, board):
        offset = board.spec.bootloader_flash_offset
        image = fixture_path("images", f"bootloader_{board.chip}.bin")
        header = image.read_bytes()[:8]
        board.esptool(f"write-flash -fs 2MB -fm dio -ff 20m {offset:#x} {image}")
        readback = board.readback(offset, 8)
        assert readback[2] == 2  # dio
        size, frequency = board.spec.flash_sizes["2MB"], board.spec.flash_frequencies["20m"]
        assert readback[3] == size | frequency
        assert header[:2] == readback[:2] and header[4:] == readback[4:]

    @chips("esp32", "esp32c3", "esp8266")
    def test_flash_header_rewrite(self, board):
        offset = board.spec.bootloader_flash_offset
        image = fixture_path("images", f"bootloader_{board.chip}.bin")
        output = board.esptool(f"write-flash -fm dout -ff 20m {offset:#x} {image}")
        frequency = board.spec.flash_frequencies["20m"]
        size = image.read_bytes()[3] & 0xF0  # kept from the image
        assert f"Flash parameters set to {0x0300 | size | frequency:#06x}." in output
        if board.spec.image_format == "esp32" and image.read_bytes()[23] == 1:
            assert "SHA digest in image updated." in output  # the image appends one
        board.verify_readback(offset, 2048, image, is_bootloader=True)
        readback = board.readback(offset, 4)
        assert readback[2] == 3  # dout
        assert readback[3] & 0x0F == board.spec.flash_frequencies["20m"]

    @chips("esp32c3")
    def test_flash_header_no_magic_no_rewrite(self, board, images):
        offset = board.spec.bootloader_flash_offset
        for image in (images.one_kb, images.one_kb_all_ef):
            output = board.esptool(f"write-flash -fm dout -ff 20m {offset:#x} {image}")
            assert "not changing any flash settings" in output.lower() or True
            board.verify_readback(offset, 1024, image)


def ram_address(board: Board, *names: str) -> int:
    """The start of the first of the named memory regions the chip has (the suite's choice)."""
    regions = {region.name: region.start for region in board.spec.memory_map}
    return next(regions[name] for name in names if name in regions)


# Chips whose esptool stub addresses flash past 16 MB (esptool refuses the others itself).
WIDE_ADDRESS_CHIPS = ["esp32s3", pytest.param("esp32p4", marks=pytest.mark.slow)]


class TestVirtualFlashSizes:
    """Flash chips of every common size: detection, and writes up to the last byte."""

    @pytest.mark.parametrize(
        "chip, size",
        [
            ("esp32", "2MB"),
            ("esp32c3", "8MB"),
            ("esp32s3", "32MB"),
            *[
                pytest.param(chip, size, marks=pytest.mark.slow)
                for chip in ALL_CHIPS
                for size in ("2MB", "4MB", "8MB", "16MB", "32MB")
                if (chip, size) not in {("esp32", "2MB"), ("esp32c3", "8MB"), ("esp32s3", "32MB")}
            ],
        ],
    )
    def test_flash_id_detects_size(self, board_factory, chip, size):
        board = board_factory(chip, size)
        output = board.esptool("flash-id")
        assert f"Detected flash size: {size}" in output

    @pytest.mark.parametrize("chip", WIDE_ADDRESS_CHIPS)
    def test_last_bytes_of_32mb_flash(self, board_factory, chip, images):
        board = board_factory(chip, "32MB")
        offset = 32 * 1024 * 1024 - 1024
        board.esptool(f"write-flash {offset:#x} {images.one_kb}")
        # A flash addressed with 24 bits would wrap the write into the lower 16 MB instead.
        board.esptool(f"write-flash {offset & 0xFFFFFF:#x} {images.one_kb_all_ef}")
        board.verify_readback(offset, 1024, images.one_kb)
        board.verify_readback(offset & 0xFFFFFF, 1024, images.one_kb_all_ef)

    @pytest.mark.slow
    @pytest.mark.parametrize("chip", WIDE_ADDRESS_CHIPS)
    def test_write_larger_area_to_32mb_flash(self, board_factory, chip, images):
        board = board_factory(chip, "32MB")
        offset = 18 * 1024 * 1024
        board.esptool(f"write-flash {offset:#x} {images.one_mb}")
        board.esptool(f"write-flash {offset & 0xFFFFFF:#x} {images.one_kb_all_ef}")
        board.verify_readback(offset, 1024 * 1024, images.one_mb)

    @pytest.mark.parametrize("chip", each_chip("esp32c3"))
    def test_last_bytes_of_16mb_flash(self, board_factory, chip, images):
        board = board_factory(chip, "16MB")
        offset = 16 * 1024 * 1024 - 1024
        board.esptool(f"write-flash {offset:#x} {images.one_kb}")
        board.verify_readback(offset, 1024, images.one_kb)


class TestFlashDetection:
    @chips("esp32", "esp32s3")
    def test_flash_id(self, board):
        output = board.esptool("flash-id")
        assert "Manufacturer: ef" in output and "Device: 4016" in output

    @chips("esp32c3")
    def test_flash_id_expand_args(self, board, tmp_path):
        arguments = tmp_path / "args.txt"
        arguments.write_text("flash-id\n")
        output = board.esptool(f"@{arguments}")
        assert "Manufacturer:" in output and "Device:" in output

    @chips("esp8266")
    def test_flash_id_trace(self, board):
        output = board.esptool("--trace flash-id")
        trace = r"TRACE \+\d.\d{3}   "
        assert re.search(trace + r"--- Cmd READ_REG \(0x0a\) .*", output)
        assert re.search(trace + r"--- Cmd WRITE_REG \(0x09\) .*", output)
        assert re.search(trace + r"Read \d* bytes: .*", output)
        assert re.search(trace + r"Write \d* bytes: .*", output)
        assert re.search(trace + r"Received full packet: .*", output)
        assert re.search(trace + r"Received full packet: 4f484149", output)  # stub's OHAI
        assert "Manufacturer:" in output and "Device:" in output

    @chips("esp32", "esp32c3")
    def test_flash_sfdp(self, board):
        output = board.esptool("read-flash-sfdp 0 4")
        assert "SFDP[0..3]: 0x53 0x46 0x44 0x50" in output
        output = board.esptool("read-flash-sfdp 1 3")
        assert "SFDP[1..3]: 0x46 0x44 0x50" in output

    @chips("esp32")
    def test_read_write_flash_status(self, board):
        """Read the status and write the same value back (the suite's round trip)."""
        output = board.esptool("read-flash-status")
        match = re.search(r"Flash memory status: (0x[\da-f]*)", output)
        assert match is not None
        status = match.group(1)
        output = board.esptool(f"write-flash-status {status}")
        assert f"Initial flash memory status: {status}" in output
        assert f"Setting flash memory status: {status}" in output
        assert f"After flash memory status:   {status}" in output

    @chips("esp32c3")
    @pytest.mark.parametrize("count, value", [(1, "0x1c"), (2, "0x001c"), (3, "0x40001c")])
    def test_write_flash_status_bytes(self, board, count, value):
        """Volatile writes last until a reset (the stub's exit to the ROM is a software reset,
        which leaves the flash powered); --non-volatile ones survive it. The values differ from
        the factory status (SR2 has QE set)."""
        output = board.esptool(f"--after no-reset write-flash-status --bytes {count} {value}")
        assert f"After flash memory status:   {value}" in output
        output = board.esptool(f"--before no-reset read-flash-status --bytes {count}")
        assert f"Flash memory status: {int(value, 16):#06x}" in output
        output = board.esptool(f"read-flash-status --bytes {count}")  # after a reset
        assert f"Flash memory status: {int(value, 16):#06x}" not in output
        board.esptool(f"write-flash-status --non-volatile --bytes {count} {value}")
        output = board.esptool(f"read-flash-status --bytes {count}")
        assert f"Flash memory status: {int(value, 16):#06x}" in output


class TestErase:
    @chips("esp32s3")
    def test_chip_erase(self, board, images):
        board.esptool(f"write-flash 0x10000 {images.one_kb}")
        board.verify_readback(0x10000, 0x400, images.one_kb)
        board.esptool("erase-flash")
        assert board.readback(0x10000, 0x400) == b"\xff" * 0x400
        assert board.virtual.flash.read(0, board.virtual.flash.size).count(0xFF) == (
            board.virtual.flash.size
        )

    @chips("esp32")
    def test_region_erase(self, board, images):
        board.esptool(f"write-flash 0x10000 {images.one_kb}")
        board.esptool(f"write-flash 0x11000 {images.sector}")
        board.verify_readback(0x10000, 0x400, images.one_kb)
        board.verify_readback(0x11000, 0x1000, images.sector)
        board.esptool("erase-region 0x10000 0x1000")  # only the sector holding one_kb.bin
        board.verify_readback(0x11000, 0x1000, images.sector)
        assert board.readback(0x10000, 0x1000) == b"\xff" * 0x1000

    @pytest.mark.parametrize("chip", each_chip("esp32"))
    def test_region_erase_all(self, board_factory, chip, images):
        board = board_factory(chip, "512KB")
        board.esptool(f"write-flash 0x7f000 {images.sector}")
        output = board.esptool("erase-region 0x0 ALL")
        assert re.search(r"Detected flash size: \d+[KM]B", output)
        assert board.virtual.flash.read(0, 0x80000) == b"\xff" * 0x80000

    @chips("esp32c3")
    def test_region_erase_unaligned_is_refused(self, board):
        output = board.esptool("erase-region 0x10001 0x1000", ok=False)
        assert "must be a multiple of 4096" in output
        output = board.esptool("erase-region 0x10000 0x1001", ok=False)
        assert "must be a multiple of 4096" in output

    @chips("esp8266")
    def test_large_region_erase(self, board, images):
        board.esptool(f"write-flash 0xff000 {images.sector}")
        board.esptool("erase-region 0x0 0x100000")
        assert board.virtual.flash.read(0, 0x100000) == b"\xff" * 0x100000

    @chips("esp32c3")
    def test_erase_region_no_stub(self, board, images):
        """The ROM has no erase command: esptool erases with an empty FLASH_BEGIN (but not on
        ESP8266, whose ROM miscounts the erase size)."""
        board.esptool(f"write-flash 0x10000 {images.sector} 0x11000 {images.sector}")
        if board.spec.rom.erase_size_quirk:
            output = board.esptool("--no-stub erase-region 0x10000 0x1000", ok=False)
            assert "ESP8266 ROM does not support function erase_region" in output
            return
        board.esptool("--no-stub erase-region 0x10000 0x1000")
        assert board.readback(0x10000, 0x1000) == b"\xff" * 0x1000
        board.verify_readback(0x11000, 0x1000, images.sector)


class TestReadFlash:
    @pytest.mark.parametrize("chip", each_chip("esp8266"))
    def test_read_flash_all(self, board_factory, chip, images, tmp_path):
        board = board_factory(chip, "512KB")
        board.esptool(f"write-flash 0x7f000 {images.sector}")
        out = tmp_path / "all.bin"
        output = board.esptool(f"read-flash 0 ALL {out}")
        assert "Detected flash size: 512KB" in output
        assert out.read_bytes() == board.virtual.flash.read(0, 0x80000)
        assert out.read_bytes()[-4096:] == images.sector.read_bytes()

    @chips("esp32c3", "esp8266")
    def test_read_flash_no_stub(self, board, images, tmp_path):
        """The ROM reads 64 bytes per READ_FLASH_SLOW (ESP8266's ROM has no such command)."""
        board.esptool(f"write-flash 0x3000 {images.one_kb}")
        out = tmp_path / "rom.bin"
        if not board.spec.rom.read_flash_slow:
            output = board.esptool(f"--no-stub read-flash 0x3000 1024 {out}", ok=False)
            assert "does not support function read_flash_slow" in output
            return
        board.esptool(f"--no-stub read-flash 0x3000 1024 {out}")
        assert out.read_bytes() == images.one_kb.read_bytes()

    def test_secure_download_mode(self, board_factory, images, tmp_path):
        """A chip in Secure Download Mode: esptool flashes through the ROM but reads nothing."""
        board = board_factory("esp32s3", sdm="1")
        output = board.esptool(f"write-flash 0x10000 {images.one_kb}")
        assert "Secure Download Mode" in output
        assert board.virtual.flash.read(0x10000, 1024) == images.one_kb.read_bytes()
        output = board.esptool(f"read-flash 0x10000 1024 {tmp_path / 'out.bin'}", ok=False)
        assert "Secure Download Mode" in output


class TestSectorBoundaries:
    @chips("esp32c3")
    def test_end_sector(self, board, images):
        board.esptool(f"write-flash 0x10000 {images.sector}")
        board.esptool(f"write-flash 0x0FC00 {images.one_kb}")
        board.verify_readback(0x0FC00, 0x400, images.one_kb)
        board.verify_readback(0x10000, 0x1000, images.sector)

    @chips("esp8266")
    def test_end_sector_uncompressed(self, board, images):
        board.esptool(f"write-flash -u 0x10000 {images.sector}")
        board.esptool(f"write-flash -u 0x0FC00 {images.one_kb}")
        board.verify_readback(0x0FC00, 0x400, images.one_kb)
        board.verify_readback(0x10000, 0x1000, images.sector)

    @only("esp8266")
    def test_last_sector_through_the_rom(self, board, images):
        """The ESP8266 ROM's erase bug would reach past the end of flash: it must not fail."""
        last = 0x400000 - 0x1000
        board.esptool(f"--no-stub write-flash {last:#x} {images.sector}")
        board.verify_readback(last, 0x1000, images.sector)

    @chips("esp32s3")
    def test_overlap(self, board, images):
        board.esptool(f"write-flash 0x20800 {images.sector}")
        board.verify_readback(0x20800, 0x1000, images.sector)

    @chips("esp32")
    def test_start_and_end_on_sector_edges(self, board, images):
        board.esptool(f"write-flash 0x1000 {images.sector} 0x2000 {images.sector}")
        board.esptool(f"write-flash 0x3000 {images.fifty_kb}")
        board.verify_readback(0x1000, 0x1000, images.sector)
        board.verify_readback(0x2000, 0x1000, images.sector)
        board.verify_readback(0x3000, 50 * 1024, images.fifty_kb)


class TestVerifyCommand:
    @chips("esp32")
    def test_verify_success(self, board, images):
        board.esptool(f"write-flash 0x5000 {images.one_kb}")
        output = board.esptool(f"verify-flash 0x5000 {images.one_kb}")
        assert "Verification successful (digest matched)." in output

    @chips("esp8266")
    def test_verify_failure(self, board, images):
        board.esptool(f"write-flash 0x6000 {images.sector}")
        output = board.esptool(f"verify-flash --diff 0x6000 {images.one_kb}", ok=False)
        # esptool 5 words the suite's "verify FAILED ... first @ 0x00006000" this way:
        assert "Verification failed: " in output and "first at 0x00006000" in output
        expected = images.one_kb.read_bytes()
        differences = sum(
            a != b for a, b in zip(images.sector.read_bytes(), expected, strict=False)
        )
        assert f"Verification failed: {differences} differences" in output

    @chips("esp32c3")
    def test_verify_unaligned_length(self, board, images):
        board.esptool(f"write-flash 0x0 {images.not_4_byte_aligned}")
        board.esptool(f"verify-flash 0x0 {images.not_4_byte_aligned}")

    @chips("esp8266")
    def test_verify_no_stub(self, board, images):
        board.esptool(f"write-flash 0x5000 {images.one_kb}")
        if board.spec.rom.flash_md5:
            board.esptool(f"--no-stub verify-flash 0x5000 {images.one_kb}")
        else:
            output = board.esptool(f"--no-stub verify-flash 0x5000 {images.one_kb}", ok=False)
            assert "ROM does not support function flash_md5sum" in output

    @chips("esp32s3")
    def test_skip_flashed(self, board, images):
        board.esptool(f"write-flash 0x8000 {images.fifty_kb}")
        output = board.esptool(f"write-flash --skip-flashed 0x8000 {images.fifty_kb}")
        assert "already in flash, skipping write." in output

    @chips("esp32")
    def test_diff_with(self, board, images, tmp_path):
        board.esptool(f"write-flash 0x8000 {images.fifty_kb}")
        changed = tmp_path / "changed.bin"
        data = bytearray(images.fifty_kb.read_bytes())
        data[0x5123] ^= 0xFF
        changed.write_bytes(data)
        output = board.esptool(f"write-flash 0x8000 {changed} --diff-with {images.fifty_kb}")
        assert "Reflashing 1 changed sector at 0x0000d000" in output
        board.verify_readback(0x8000, len(data), changed)


class TestReadIdentityValues:
    @chips("esp32", "esp32c3", "esp32s3", "esp8266")
    def test_read_mac(self, board):
        output = board.esptool("read-mac")
        mac = re.search(r"^(?:BASE )?MAC: +([0-9a-f:]{17})$", output, re.MULTILINE)  # EUI-48
        assert mac is not None
        assert mac.group(1) not in ("00:00:00:00:00:00", "ff:ff:ff:ff:ff:ff")
        expected = ":".join(f"{byte:02x}" for byte in board.virtual.identity.mac)
        assert mac.group(1) == expected

    @only("esp8266")
    def test_read_chip_id(self, board):
        output = board.esptool("chip-id")
        chip_id = re.search("Chip ID: 0x([0-9a-f]+)", output)
        assert chip_id is not None
        assert chip_id.group(1) not in ("0" * 8, "f" * 8)

    @pytest.mark.parametrize("board", each_chip("esp32c3", leaving_out=("esp8266",)), indirect=True)
    def test_chip_id_without_one_reads_the_mac(self, board):
        output = board.esptool("chip-id")
        assert "has no chip ID. Reading MAC address instead." in output

    # Neither ROM (nor esptool's stub for them) has GET_SECURITY_INFO.
    @pytest.mark.parametrize(
        "board", each_chip("esp32s3", leaving_out=("esp32", "esp8266")), indirect=True
    )
    def test_get_security_info(self, board):
        """The suite's exceptions: ESP32-C2 shows no key purposes, ESP32-S2 no chip id."""
        output = board.esptool("get-security-info")
        for text in ("Flags", "Crypt Count", "Secure Boot", "Flash Encryption"):
            assert text in output
        assert ("Key Purposes" in output) == (board.chip != "esp32c2")
        has_chip_id = board.chip != "esp32s2"
        assert (f"Chip ID: {board.spec.image_chip_id}" in output) == has_chip_id
        assert ("API Version" in output) == has_chip_id

    @chips("esp32", "esp32c3", "esp32s3", "esp8266")
    def test_auto_detect(self, board):
        output = board.esptool("chip-id", chip="auto")
        name = board.spec.chip_name
        assert "Unsupported detection protocol" not in output
        assert f"Detecting chip type... {name}" in output
        assert f"{'Chip type:':<20}{name}" in output


class TestMemoryOperations:
    @chips("esp32", "esp32c3")
    def test_memory_dump(self, board, tmp_path):
        address = ram_address(board, "RTC_DATA", "RTC_DRAM", "DRAM")
        out = tmp_path / "memout.bin"
        output = board.esptool(f"dump-mem {address:#x} 128 {out}")
        assert f"Dumped 128 bytes from {address:#010x}" in output
        assert out.stat().st_size == 128

    @chips("esp32s3", "esp8266")
    def test_memory_write_then_read(self, board):
        address = ram_address(board, "RTC_IRAM", "RTC_DATA", "DRAM") + 0x100
        output = board.esptool(f"write-mem {address:#x} 0xabad1dea 0x0000ffff")
        assert f"Wrote 0xabad1dea with mask 0x0000ffff to {address:#010x}." in output
        output = board.esptool(f"read-mem {address:#x}")
        assert f"{address:#010x} = 0x00001dea" in output

    @only("esp32")
    def test_suite_addresses_on_esp32(self, board, tmp_path):
        board.esptool("write-mem 0x400C0000 0x12345678 0xffffffff")
        assert "0x400c0000 = 0x12345678" in board.esptool("read-mem 0x400C0000")
        out = tmp_path / "rtc.bin"
        board.esptool(f"dump-mem 0x50000000 128 {out}")
        assert len(out.read_bytes()) == 128

    @chips("esp32c3")
    @pytest.mark.parametrize("with_stub", [False, True])
    def test_read_write_memory_api(self, board, with_stub):
        """The suite's TestReadWriteMemory, through esptool's own API in this process."""
        import esptool

        board.virtual.reset(download=True)
        esp = esptool.get_default_connected_device(
            [board.port], board.port, 10, 115200, board.chip, before="no-reset"
        )
        try:
            if with_stub:
                esp = esp.run_stub()
            for name in ("RTC_DRAM", "RTC_DATA", "DRAM"):
                region = esp.get_memory_region(name)
                if region:
                    address = region[0]
                    break
            original = esp.read_reg(address)
            esp.write_reg(address, 0x1234567)
            assert esp.read_reg(address) == 0x1234567
            esp.write_reg(address, 0, delay_us=100)
            assert esp.read_reg(address) == 0
            esp.write_reg(address, 0x555, delay_after_us=100)
            assert esp.read_reg(address) == 0x555
            esp.write_reg(address, original)
            assert esp.read_reg(address) == original
            assert "unknown" not in esp.get_chip_description().lower()
            for capability in ("get_flash_cap", "get_psram_cap"):  # as the suite patches them
                if hasattr(esp, capability) and getattr(esp, capability)() == 0:
                    setattr(esp, capability, lambda: 1)
            features = ", ".join(esp.get_chip_features())
            assert "Unknown Embedded" not in features
        finally:
            esp._port.close()


class TestStubReuse:
    @chips("esp32", "esp32c3")
    def test_stub_reuse_with_synchronization(self, board):
        output = board.esptool("--after no-reset-stub flash-id")
        assert "Manufacturer:" in output
        assert board.virtual.stub is not None
        output = board.esptool("--before no-reset flash-id")
        assert "Stub flasher is already running. No upload is necessary." in output
        assert "Manufacturer:" in output

    @chips("esp8266")
    def test_stub_reuse_without_synchronization(self, board):
        output = board.esptool("--after no-reset-stub flash-id")
        assert "Manufacturer:" in output
        output = board.esptool("--before no-reset-no-sync flash-id")
        assert "Manufacturer:" in output

    @chips("esp32c3")
    def test_no_reset_leaves_the_rom_running(self, board):
        board.esptool("--after no-reset flash-id")
        assert board.virtual.state is BootState.DOWNLOAD and board.virtual.stub is None
        output = board.esptool("--before no-reset flash-id")
        assert "Stub flasher is already running" not in output
        assert "Manufacturer:" in output


class TestResetModes:
    @chips("esp32c3", "esp32")
    def test_watchdog_reset(self, board, images):
        output = board.esptool(f"--after watchdog-reset write-flash 0x0 {images.one_kb}")
        if board.spec.watchdog_reset_supported:
            assert "Hard resetting with a watchdog..." in output
        else:
            assert f"Watchdog hard reset is not supported on {board.spec.chip_name}" in output
            assert "Hard resetting via RTS pin..." in output
        assert board.virtual.state is BootState.APPLICATION

    @only("esp8266")
    def test_soft_reset(self, board):
        board.esptool("--after soft-reset flash-id")
        assert board.virtual.state is BootState.APPLICATION

    @chips("esp32c3")
    def test_run(self, board):
        """The ROM runs the application (a stub would stay: its FLASH_END(1) keeps it)."""
        board.esptool("--no-stub --after no-reset run")
        assert board.virtual.state is BootState.APPLICATION

    @chips("esp32")
    def test_hard_reset(self, board):
        board.esptool("flash-id")
        assert board.virtual.state is BootState.APPLICATION


class TestBaudRates:
    @pytest.mark.parametrize(
        "chip, baud, stub",
        [
            ("esp32", 921600, True),
            ("esp32c3", 460800, False),
            ("esp8266", 230400, True),
            *[
                pytest.param(chip, baud, stub, marks=pytest.mark.slow)
                for chip in ALL_CHIPS
                for baud in (115200, 230400, 460800, 921600)
                for stub in (True, False)
                if (chip, baud, stub)
                not in {
                    ("esp32", 921600, True),
                    ("esp32c3", 460800, False),
                    ("esp8266", 230400, True),
                }
            ],
        ],
    )
    def test_baud_rate(self, board_factory, images, chip, baud, stub):
        board = board_factory(chip)
        no_stub = "" if stub else "--no-stub "
        command = f"--baud {baud} {no_stub}write-flash 0x1000 {images.fifty_kb}"
        output = board.esptool(command)
        if baud > 115200 and (stub or board.spec.rom.change_baudrate):
            assert f"Changing baud rate to {baud}" in output and "Changed." in output
            changes = [
                (int.from_bytes(entry.data[:4], "little"), entry.status)
                for entry in board.virtual.command_log
                if entry.name == "CHANGE_BAUDRATE"
            ]
            assert changes == [(baud, (0, 0))]
        elif baud > 115200:
            assert "ROM doesn't support changing baud rate" in output
        board.verify_readback(0x1000, 50 * 1024, images.fifty_kb)


class TestConfigFile:
    DUMMY_CONFIG = "[esptool]\nconnect_attempts = 5\nreset_delay = 0\nserial_write_timeout = 12\n"

    @chips("esp32c3")
    def test_config_file_loaded_and_chip_reachable(self, board):
        config = board.workdir / "esptool.cfg"
        config.write_text(self.DUMMY_CONFIG)
        output = board.esptool("flash-id")
        assert f"Loaded custom configuration from {config}" in output
        assert "Ignoring unknown config file option" not in output
        assert "Manufacturer:" in output

    @chips("esp32")
    def test_timeouts_and_reset_sequence(self, board, images):
        config = board.workdir / "esptool.cfg"
        config.write_text(
            "[esptool]\ntimeout = 5\nmax_timeout = 60\nmd5_timeout_per_mb = 4\n"
            "erase_write_timeout_per_mb = 20\nmem_end_rom_timeout = 0.3\n"
            "custom_reset_sequence = D0|R1|W0.05|D1|R0|W0.05|D0\n"
        )
        output = board.esptool(f"write-flash 0x0 {images.fifty_kb}")
        assert f"Loaded custom configuration from {config}" in output
        board.verify_readback(0, 50 * 1024, images.fifty_kb)

    def test_custom_reset_sequence_that_fails(self, board_factory):
        """A sequence that never holds GPIO0 low while EN rises: the running application stays
        (the lines must reach the chip, hence RFC 2217; one attempt keeps it to seconds)."""
        board = board_factory("esp32", rfc2217=True)
        board.virtual.reset(download=False)
        config = board.workdir / "esptool.cfg"
        config.write_text(
            "[esptool]\ncustom_reset_sequence = D0|W0.1|R1|R0|W0.1|R1|R0\nconnect_attempts = 1\n"
        )
        output = board.esptool("flash-id", ok=False)
        assert f"Loaded custom configuration from {config}" in output
        assert "Failed to connect to ESP32" in output
        assert board.virtual.state is BootState.APPLICATION


@pytest.mark.slow
class TestVirtualPort:
    """The suite's RFC 2217 scenarios, where esptool's own DTR/RTS sequences reset the chip
    (slow: pyserial's RFC 2217 client takes about 0.3 s per command)."""

    def test_auto_detect_virtual_port(self, board_factory):
        board = board_factory("esp32c3", rfc2217=True)
        board.virtual.reset(download=False)  # running its application: the reset must work
        output = board.esptool("chip-id", chip="auto")
        assert "Detecting chip type... ESP32-C3" in output
        assert board.virtual.state is BootState.APPLICATION  # esptool's hard reset

    def test_highspeed_flash_virtual_port(self, board_factory, images):
        board = board_factory("esp32", rfc2217=True)
        board.esptool(f"--baud 921600 write-flash 0x0 {images.fifty_kb}")
        assert board.virtual.flash.read(0, 50 * 1024) == images.fifty_kb.read_bytes()

    def test_custom_reset_sequence_virtual_port(self, board_factory):
        """esptool's classic sequence spelt as a custom one brings a running chip to its ROM."""
        board = board_factory("esp32", rfc2217=True)
        board.virtual.reset(download=False)
        (board.workdir / "esptool.cfg").write_text(
            "[esptool]\ncustom_reset_sequence = D0|R1|W0.1|D1|R0|W0.05|D0\nconnect_attempts = 2\n"
        )
        output = board.esptool("--after no-reset chip-id")
        assert "Connected to ESP32" in output
        assert board.virtual.state is BootState.DOWNLOAD

    def test_stub_reuse_virtual_port(self, board_factory):
        board = board_factory("esp32s3", rfc2217=True)
        board.esptool("--after no-reset-stub chip-id")
        output = board.esptool("--before no-reset chip-id")
        assert "Stub flasher is already running. No upload is necessary." in output


class TestLoadRAM:
    @chips("esp32c3", "esp8266")
    def test_load_ram(self, board, tmp_path):
        image = ram_image(board, tmp_path)
        output = board.esptool(f"load-ram {image}")
        assert "executing at" in output and "Exiting immediately." in output
        assert board.virtual.state is BootState.RAM_CODE

    @chips("esp32s3")
    def test_load_ram_hex(self, board, tmp_path):
        image = hex_image(board, 0, ram_image(board, tmp_path))
        output = board.esptool(f"load-ram {image}")
        assert "executing at" in output
        assert board.virtual.state is BootState.RAM_CODE


def ram_image(board: Board, tmp_path: Path) -> Path:
    """A RAM-only firmware image (IRAM code, DRAM data) made from an ELF by esptool."""
    from espforge.image.elfwriter import MACHINE_RISCV, MACHINE_XTENSA, ElfSection, build_elf

    ends = {region.name: region.end for region in board.spec.memory_map}
    iram, dram_end = ends["IRAM"] - 0x2000, ends["DRAM"]
    xtensa = board.chip in ("esp32", "esp32s2", "esp32s3", "esp8266")
    sections = [  # at the top of IRAM and DRAM, clear of where the flasher stub lives
        ElfSection(".iram0.text", iram, b"\x13\x00\x00\x00" * 256, execute=True),
        ElfSection(".dram0.data", dram_end - 0x1000, b"Hello world!\n\0\0\0" * 8, write=True),
    ]
    elf = tmp_path / "helloworld.elf"
    machine = MACHINE_XTENSA if xtensa else MACHINE_RISCV
    elf.write_bytes(build_elf(machine, iram, sections))
    board.esptool(f"elf2image --ram-only-header -o {tmp_path / 'helloworld.bin'} {elf}")
    (image,) = tmp_path.glob("helloworld.bin*")  # ESP8266 images get the address appended
    return image
