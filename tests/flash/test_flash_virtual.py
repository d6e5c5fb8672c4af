"""Device commands end to end against the in-process virtual chip (`virtual://`), and data
written by the stock esptool 5.6 (--no-stub) read back by espforge and the other way round."""

from __future__ import annotations

import contextlib
import io
import random
import re
import threading
from pathlib import Path

import pytest
from click.testing import CliRunner

from conftest import run_espforge, run_esptool
from espforge.cli.main import build_cli
from espforge.link.port import register_url_handlers
from served import served_chip

MB = 0x100000
CHIPS = ["esp8266", "esp32", "esp32s2", "esp32s3", "esp32c3", "esp32c6", "esp32p4"]


def payload(size: int, seed: int) -> bytes:
    """Data that compresses a little, like firmware: random words with runs of 0xFF."""
    rng = random.Random(seed)
    pieces = [rng.randbytes(rng.randrange(16, 256)) + b"\xff" * rng.randrange(0, 64)]
    while sum(map(len, pieces)) < size:
        pieces.append(rng.randbytes(rng.randrange(16, 256)) + b"\xff" * rng.randrange(0, 64))
    return b"".join(pieces)[:size]


class VirtualBoard:
    """A virtual chip whose flash lives in a file, reached through its URL."""

    def __init__(self, chip: str, folder: Path, flash_size: str = "4MB") -> None:
        self.chip = chip
        self.flash_file = folder / f"{chip}-flash.bin"
        self.url = f"virtual://{chip}?flash={self.flash_file}&flash_size={flash_size}"

    def flash(self, address: int, size: int) -> bytes:
        return self.flash_file.read_bytes()[address : address + size]

    def espforge(self, *args: str, ok: bool = True, resets: bool = False):
        """espforge's CLI in-process; without `resets` the chip (which starts in download mode)
        is not reset around the command, which saves the reset sequences' delays."""
        no_resets = [] if resets else ["--before", "no-reset", "--after", "no-reset"]
        arguments = ["--port", self.url, "--no-stub", *no_resets, *args]
        result = CliRunner().invoke(build_cli(), arguments)
        if ok:
            assert result.exit_code == 0, (result.stdout, result.stderr, result.exception)
        return result

    def esptool(self, *args: str) -> str:
        """The stock esptool, in-process, talking to the same virtual chip."""
        esptool = pytest.importorskip("esptool", reason="esptool (test-only oracle) is absent")
        register_url_handlers()
        printed = io.StringIO()
        arguments = ["--port", self.url, "--no-stub", "--before", "no-reset", "--after", "no-reset"]
        try:
            with contextlib.redirect_stdout(printed):
                esptool.main([*arguments, *args])
        except SystemExit as exit_info:
            assert exit_info.code in (0, None), printed.getvalue()
        return printed.getvalue()


@pytest.fixture(params=CHIPS)
def board(request, tmp_path: Path) -> VirtualBoard:
    return VirtualBoard(request.param, tmp_path)


def write_file(folder: Path, name: str, data: bytes) -> str:
    path = folder / name
    path.write_bytes(data)
    return str(path)


def test_write_verify_read_erase(board: VirtualBoard, tmp_path: Path):
    first, second = payload(0x3100, 1), payload(0x900, 2)
    first_path = write_file(tmp_path, "first.bin", first)
    second_path = write_file(tmp_path, "second.bin", second)
    esp8266 = board.chip == "esp8266"

    written = board.espforge("write-flash", "0x1000", first_path, resets=True)
    assert board.flash(0x1000, len(first)) == first
    compressed = not esp8266  # the ESP8266 ROM takes no compressed data
    assert (" compressed) at 0x00001000" in written.stdout) == compressed
    assert ("Hash of data verified." in written.stdout) == (not esp8266)

    board.espforge("write-flash", "--no-compress", "0x8000", second_path)
    assert board.flash(0x8000, len(second)) == second
    assert board.flash(0x1000, len(first)) == first

    erased = board.espforge("erase-region", "0x2000", "0x1000")
    assert "Flash memory region erased successfully" in erased.stdout
    assert board.flash(0x2000, 0x1000) == b"\xff" * 0x1000
    assert board.flash(0x1000, 0x1000) == first[:0x1000]

    if esp8266:
        refused = board.espforge("read-flash", "0", "64", str(tmp_path / "r.bin"), ok=False)
        assert "ESP8266 ROM cannot read flash" in refused.stderr
        return
    verified = board.espforge("verify-flash", "0x8000", second_path)
    assert "Verification successful (digest matched)." in verified.stdout
    failed = board.espforge("verify-flash", "0x1000", first_path, ok=False)
    assert failed.exit_code == 2 and "Verification failed (digest mismatch)." in failed.stdout
    readback = tmp_path / "readback.bin"
    board.espforge("read-flash", "0x8000", hex(len(second)), str(readback))
    assert readback.read_bytes() == second


def test_identity_commands(board: VirtualBoard):
    mac = board.espforge("read-mac").stdout.splitlines()
    assert sum(line.startswith("MAC:                ") for line in mac) == 2  # banner + command
    flash_id = board.espforge("flash-id").stdout.splitlines()
    assert "Detected flash size: 4MB" in flash_id
    assert any(line.startswith("Manufacturer: ") for line in flash_id)


@pytest.mark.parametrize("chip", ["esp32", "esp32c3", "esp32s3"])
def test_esptool_writes_and_espforge_reads_back(chip: str, tmp_path: Path):
    board = VirtualBoard(chip, tmp_path)
    data = payload(0x2400, 3)
    image = write_file(tmp_path, "image.bin", data)
    board.esptool("write-flash", "-z", "0x10000", image)
    assert "Verification successful" in board.espforge("verify-flash", "0x10000", image).stdout
    readback = tmp_path / "readback.bin"
    board.espforge("read-flash", "0x10000", hex(len(data)), str(readback))
    assert readback.read_bytes() == data


@pytest.mark.parametrize("chip", ["esp32", "esp32c3", "esp32s3"])
def test_espforge_writes_and_esptool_reads_back(chip: str, tmp_path: Path):
    board = VirtualBoard(chip, tmp_path)
    data = payload(0x2400, 4)
    image = write_file(tmp_path, "image.bin", data)
    board.espforge("write-flash", "0x10000", image)
    assert "Verification successful" in board.esptool("verify-flash", "0x10000", image)
    readback = tmp_path / "readback.bin"
    board.esptool("read-flash", "0x10000", hex(len(data)), str(readback))
    assert readback.read_bytes() == data


def test_esp8266_data_written_by_either_tool_is_the_same(tmp_path: Path):
    data = payload(0x1800, 5)
    image = write_file(tmp_path, "image.bin", data)
    ours, theirs = VirtualBoard("esp8266", tmp_path / "ours"), VirtualBoard("esp8266", tmp_path)
    (tmp_path / "ours").mkdir()
    ours.espforge("write-flash", "0x4000", image)
    theirs.esptool("write-flash", "0x4000", image)
    assert ours.flash_file.read_bytes() == theirs.flash_file.read_bytes()


def test_bad_inputs_are_refused_before_the_flash_changes(tmp_path: Path):
    board = VirtualBoard("esp32c3", tmp_path, flash_size="2MB")
    board.espforge("write-flash", "0x0", write_file(tmp_path, "seed.bin", b"\0" * 16))
    before = board.flash_file.read_bytes()
    big = write_file(tmp_path, "big.bin", payload(0x2000, 6))
    small = write_file(tmp_path, "small.bin", b"x" * 16)
    past_end = board.espforge("write-flash", hex(2 * MB - 0x1000), big, ok=False)
    assert past_end.exit_code == 2 and "will not fit" in past_end.stderr
    overlap = board.espforge("write-flash", "0x0", big, "0x1000", small, ok=False)
    assert overlap.exit_code == 2 and "overlaps" in overlap.stderr
    unaligned = board.espforge("erase-region", "0x100", "0x1000", ok=False)
    assert unaligned.exit_code == 2 and "multiple of 4096" in unaligned.stderr
    assert board.flash_file.read_bytes() == before


def test_dry_run_leaves_the_flash_alone(tmp_path: Path):
    board = VirtualBoard("esp32c3", tmp_path)
    image = write_file(tmp_path, "image.bin", payload(0x1800, 7))
    result = board.espforge("write-flash", "--dry-run", "0x10000", image)
    assert "Write plan for ESP32-C3:" in result.stdout
    assert "Dry run: nothing was erased or written." in result.stdout
    assert not board.flash_file.exists() or set(board.flash_file.read_bytes()) == {0xFF}


def test_erase_flash_works_in_rom_mode(tmp_path: Path):
    """esptool 5.6 refuses erase-flash without its stub; espforge erases through FLASH_BEGIN."""
    board = VirtualBoard("esp32c3", tmp_path, flash_size="1MB")
    board.espforge("write-flash", "0xF0000", write_file(tmp_path, "end.bin", b"\0" * 64))
    result = board.espforge("erase-flash")
    assert "Flash memory erased successfully in" in result.stdout
    assert set(board.flash_file.read_bytes()) == {0xFF}


# ------------------------------------------------------------------ espforge virtual serve


@pytest.mark.parametrize("how", [("--tcp", "0"), ("--pty",)], ids=["tcp", "pty"])
def test_served_chip_takes_writes_from_espforge_and_esptool(how, tmp_path: Path):
    data = payload(0x1400, 8)
    image = write_file(tmp_path, "image.bin", data)
    no_resets = ("--before", "no-reset", "--after", "no-reset", "--no-stub")
    with served_chip(tmp_path, *how) as (port, flash_file):
        ours = run_espforge("--port", port, *no_resets, "write-flash", "0x2000", image)
        assert ours.returncode == 0, ours.stderr
        assert "Hash of data verified." in ours.stdout
        theirs = run_esptool("--port", port, *no_resets, "verify-flash", "0x2000", image)
        assert theirs.returncode == 0 and "Verification successful" in theirs.stdout
    assert flash_file.read_bytes()[0x2000 : 0x2000 + len(data)] == data


def test_intel_hex_input_brings_its_own_addresses(tmp_path: Path):
    from espforge.image.intelhex_io import encode_intel_hex

    board = VirtualBoard("esp32s3", tmp_path)
    low, high = payload(0x300, 9), payload(0x200, 10)
    hex_file = tmp_path / "both.hex"
    hex_file.write_bytes(encode_intel_hex([(0x3000, low), (0x9000, high)]))
    result = board.espforge("write-flash", "0x0", str(hex_file))
    assert result.stdout.count("Hash of data verified.") == 2
    assert board.flash(0x3000, len(low)) == low and board.flash(0x9000, len(high)) == high


@pytest.mark.parametrize(
    "faults",
    [
        "reset_after=75",  # a brown-out in the middle of the data blocks
        "disconnect_after=80",  # the board drops off the link mid-write
        "drop=0.2,only=FLASH_DEFL_DATA/SPI_FLASH_MD5",
        "corrupt=0.2,only=FLASH_DEFL_DATA",
        "drop=0.05,corrupt=0.05",  # anything may fail, even the set-up
    ],
)
@pytest.mark.parametrize("seed", [1, 2])
def test_faults_end_in_verified_data_or_a_clear_error(
    faults: str, seed: int, tmp_path: Path, monkeypatch
):
    # Lost replies are waited for as long as the config file says: short, to keep this quick.
    config = tmp_path / "esptool.cfg"
    config.write_text("[esptool]\ntimeout = 0.3\n")
    monkeypatch.setenv("ESPFORGE_CFGFILE", str(config))
    data = random.Random(seed).randbytes(0x6000)
    image = write_file(tmp_path, "image.bin", data)
    board = VirtualBoard("esp32c3", tmp_path)
    board.url += f"&faults={faults}&seed={seed}"
    result = board.espforge("write-flash", "-z", "0x0", image, ok=False)
    if result.exit_code == 0:
        assert "Hash of data verified." in result.stdout
        assert board.flash(0, len(data)) == data
    else:
        assert result.exit_code == 2 and "Hash of data verified." not in result.stdout
        assert result.stderr.startswith("A fatal error occurred: ")
        assert "Traceback" not in result.stderr


def _normalised(text: str) -> list[str]:
    """Lines without timings and rates, and without the NOTE/Note: spelling difference."""
    lines = []
    for line in text.splitlines():
        line = re.sub(r"\d+\.\d+", "T", line.strip()).replace("NOTE:", "Note:")
        if line and not line.startswith(("Writing at", "esp", "Connect", "Serial port")):
            lines.append(line)
    return lines


@pytest.mark.parametrize("compression", ["-z", "-u"])
def test_write_flash_prints_esptools_lines(compression: str, tmp_path: Path):
    data = payload(0x2200, 11)
    image = write_file(tmp_path, "image.bin", data)
    ours = VirtualBoard("esp32c3", tmp_path / "a")
    theirs = VirtualBoard("esp32c3", tmp_path / "b")
    for folder in (tmp_path / "a", tmp_path / "b"):
        folder.mkdir()
    our_lines = _normalised(ours.espforge("write-flash", compression, "0x9000", image).stdout)
    their_lines = _normalised(theirs.esptool("write-flash", compression, "0x9000", image))
    start = their_lines.index("Enabling default SPI flash mode...")
    assert our_lines[our_lines.index("Enabling default SPI flash mode...") :] == their_lines[start:]


def test_several_boards_report_progress_at_once(tmp_path: Path):
    """Two boards written from two threads through the API, one subscriber for both."""
    from espforge.flash import EventKind, open_device, write_flash
    from espforge.image.flash_input import FlashInput
    from espforge.protocol.connect import ConnectOptions

    events = []
    data = payload(0x3000, 12)

    def flash(chip: str) -> None:
        url = VirtualBoard(chip, tmp_path).url
        with open_device(ConnectOptions(url, chip, before="no-reset"), after="no-reset") as device:
            device.progress.subscribe(events.append)
            device.attach_flash()
            write_flash(device, [FlashInput(0x1000, data)])

    threads = [threading.Thread(target=flash, args=(chip,)) for chip in ("esp32", "esp32c3")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    finished = {
        (event.device.port.split("?")[0], event.device.chip)
        for event in events
        if event.kind is EventKind.FINISHED
    }
    assert finished == {("virtual://esp32", "ESP32"), ("virtual://esp32c3", "ESP32-C3")}
    for chip in ("esp32", "esp32c3"):
        assert VirtualBoard(chip, tmp_path).flash(0x1000, len(data)) == data


def test_secure_download_mode_writes_unverified_and_refuses_the_rest(tmp_path: Path):
    board = VirtualBoard("esp32c3", tmp_path)
    board.url += "&sdm=1"
    data = payload(0x1000, 13)
    result = board.espforge("write-flash", "0x3000", write_file(tmp_path, "a.bin", data))
    assert "Chip type:          ESP32-C3 in Secure Download Mode" in result.stdout
    assert "Cannot verify written data if encrypted or in secure download mode." in result.stdout
    assert "Hash of data verified." not in result.stdout
    assert board.flash(0x3000, len(data)) == data
    refused = board.espforge("read-mac", ok=False)
    assert "The 'read-mac' command is not available in Secure Download Mode." in refused.stderr
