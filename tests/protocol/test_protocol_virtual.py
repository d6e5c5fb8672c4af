"""The ROM client end to end against the virtual chip (`virtual://` through pyserial), and the
packets it sends compared with the stock esptool 5.6's on the virtual chip's command log."""

from __future__ import annotations

import hashlib
import random
import zlib

import pytest

from espforge.chips import CHIP_NAMES
from espforge.config import Settings
from espforge.errors import (
    CommandFailed,
    ConnectError,
    NotSupportedError,
    PortError,
    SecureDownloadModeError,
)
from espforge.link.port import register_url_handlers
from espforge.protocol.commands import Opcode
from espforge.protocol.connect import ConnectOptions, connect
from espforge.protocol.loader import Loader

pytest.importorskip("espforge.virtual.protocol_virtual")

REPRESENTATIVE = [
    "esp8266",
    "esp32",
    "esp32s2",
    "esp32s3",
    "esp32c3",
    "esp32c6",
    "esp32h2",
    "esp32p4",
]
OTHERS = [name for name in CHIP_NAMES if name not in REPRESENTATIVE]
QUICK = Settings(timeout=0.5)  # lost replies cost a timeout each; keep fault tests short
DATA = bytes((n * 7 + n // 256) & 0xFF for n in range(5000))
NOISE = random.Random(1).randbytes(12000)  # incompressible: many compressed blocks


def chip_params(names: list[str], slow: bool = False) -> list:
    marks = [pytest.mark.slow] if slow else []
    return [pytest.param(name, marks=marks, id=name) for name in names]


def write_plain(loader: Loader, offset: int, data: bytes) -> None:
    size = loader.flash_block_size
    blocks = loader.flash_begin(len(data), offset)
    for seq in range(blocks):
        block = data[seq * size : (seq + 1) * size]
        loader.flash_block(block + b"\xff" * (size - len(block)), seq)


def write_compressed(loader: Loader, offset: int, data: bytes) -> None:
    packed = zlib.compress(data, 9)
    size = loader.flash_block_size
    blocks = loader.flash_defl_begin(len(data), len(packed), offset)
    for seq in range(blocks):
        loader.flash_defl_block(packed[seq * size : (seq + 1) * size], seq)


@pytest.mark.parametrize("name", chip_params(REPRESENTATIVE) + chip_params(OTHERS, slow=True))
def test_a_rom_session_end_to_end(name: str) -> None:
    with connect(ConnectOptions(f"virtual://{name}?flash_size=2MB", baud=460800)) as loader:
        virtual = loader.port.chip
        assert loader.chip.name == name
        assert loader.read_mac() == virtual.identity.mac
        assert loader.flash_id() & 0xFF == 0xEF  # the virtual flash is a Winbond part
        fields = loader.chip.revision
        if fields is not None:  # chips without revision eFuses yet (ESP32-E22) say v0.0
            expected = virtual.identity.revision if fields.major or fields.minor else (0, 0)
            assert loader.chip_revision() == expected
        write_plain(loader, 0x10000, DATA)
        assert virtual.flash.read(0x10000, len(DATA)) == DATA
        if not loader.chip.rom.flash_md5:
            with pytest.raises(NotSupportedError):
                loader.read_flash(0x10000, 64)
            return
        assert loader.port.baudrate == 460800
        write_compressed(loader, 0x20000, DATA[::-1])
        assert loader.flash_md5(0x10000, len(DATA)) == hashlib.md5(DATA).digest()
        assert loader.flash_md5(0x20000, len(DATA)) == hashlib.md5(DATA[::-1]).digest()
        assert loader.read_flash(0x1FFF0, 100) == b"\xff" * 16 + DATA[::-1][:84]


def test_flash_persists_in_its_file(tmp_path) -> None:
    image = tmp_path / "flash.bin"
    with connect(ConnectOptions(f"virtual://esp32c3?flash={image}&flash_size=1MB")) as loader:
        write_plain(loader, 0x8000, DATA)
    with connect(ConnectOptions(f"virtual://esp32c3?flash={image}&flash_size=1MB")) as loader:
        assert loader.read_flash(0x8000, len(DATA)) == DATA


def test_secure_download_mode_on_the_virtual_chip() -> None:
    with connect(ConnectOptions("virtual://esp32s3?sdm=1")) as loader:
        assert loader.secure_download_mode
        with pytest.raises(SecureDownloadModeError):
            loader.read_mac()
        write_plain(loader, 0x10000, DATA[:1024])
        assert loader.port.chip.flash.read(0x10000, 1024) == DATA[:1024]


def test_a_chip_running_its_application_is_diagnosed() -> None:
    with pytest.raises(ConnectError, match=r"wrong boot mode|running an application"):
        connect(ConnectOptions("virtual://esp32?start=app", before="no-reset", connect_attempts=1))


@pytest.mark.parametrize(
    "faults",
    [
        "drop=0.2,only=FLASH_DATA",
        "corrupt=0.2,only=FLASH_DATA",
        "delay=0.2,delay_seconds=0.7,only=FLASH_DATA",
        "drop=0.1,corrupt=0.1,only=FLASH_DEFL_DATA/SPI_FLASH_MD5/READ_REG",
    ],
)
def test_a_noisy_link_still_writes_the_right_data(faults: str) -> None:
    def session(url: str) -> int:
        with connect(ConnectOptions(url, settings=QUICK)) as loader:
            write_plain(loader, 0x10000, DATA * 3)
            write_compressed(loader, 0x30000, NOISE)
            assert loader.port.chip.flash.read(0x10000, len(DATA) * 3) == DATA * 3
            assert loader.flash_md5(0x30000, len(NOISE)) == hashlib.md5(NOISE).digest()
            return len(loader.port.chip.command_log)

    # The faults did strike: recovering from them took commands a clean link does not need.
    assert session(f"virtual://esp32c3?faults={faults}&seed=3") > session("virtual://esp32c3")


# ----------------------------------------------------------- wire equivalence


def esptool_session(url: str):
    """What esptool 5.6 (ROM mode) sends for: connect, a register read, writing a small
    file uncompressed and compressed, and an MD5; the virtual chip's log of it."""
    cmds = pytest.importorskip("esptool.cmds")
    register_url_handlers()
    esp = cmds.detect_chip(url, 115200, "default-reset", False, 3)
    esp.read_reg(0x40001000 if esp.USES_MAGIC_VALUE else esp.UART_DATE_REG_ADDR)
    blocks = esp.flash_begin(len(DATA), 0x10000, logging=False)
    for seq in range(blocks):
        block = DATA[seq * 0x400 : (seq + 1) * 0x400]
        esp.flash_block(block + b"\xff" * (0x400 - len(block)), seq)
    if esp.CHIP_NAME != "ESP8266":
        packed = zlib.compress(DATA, 9)
        blocks = esp.flash_defl_begin(len(DATA), len(packed), 0x20000)
        for seq in range(blocks):
            esp.flash_defl_block(packed[seq * 0x400 : (seq + 1) * 0x400], seq)
        esp.flash_md5sum(0x10000, len(DATA))
    log = esp._port.chip.command_log
    esp._port.close()
    return log


def espforge_session(url: str):
    with connect(ConnectOptions(url)) as loader:
        chip = loader.chip
        loader.read_reg(0x40001000 if chip.uses_magic_value else chip.uart_date_reg)
        write_plain(loader, 0x10000, DATA)
        if chip.rom.compressed_writes:
            write_compressed(loader, 0x20000, DATA)
            loader.flash_md5(0x10000, len(DATA))
        return loader.port.chip.command_log


@pytest.mark.parametrize("name", chip_params(["esp8266", "esp32", "esp32s2", "esp32c3", "esp32s3"]))
def test_espforge_sends_what_esptool_sends(name: str) -> None:
    """Identical packets, except for one intended difference: espforge asks for the security
    info once where esptool asks two to four times (it re-asks after a failure, and again for
    the chip class it settles on)."""
    url = f"virtual://{name}?flash_size=4MB"
    theirs = [(c.opcode, c.data, c.checksum) for c in esptool_session(url)]
    ours = [(c.opcode, c.data, c.checksum) for c in espforge_session(url)]
    first = next((p for p in theirs if p[0] == Opcode.GET_SECURITY_INFO), None)
    theirs = [p for p in theirs if p[0] != Opcode.GET_SECURITY_INFO or p is first]
    assert ours == theirs


def test_a_chip_that_resets_mid_write_fails_clearly() -> None:
    with (
        connect(ConnectOptions("virtual://esp32c3?faults=reset_after=6", settings=QUICK)) as loader,
        pytest.raises(CommandFailed, match=r"failed to write block \d to flash: .*it reset"),
    ):
        write_plain(loader, 0x10000, DATA)


def test_a_link_that_hangs_up_fails_clearly() -> None:
    with (
        connect(
            ConnectOptions("virtual://esp32c3?faults=disconnect_after=5", settings=QUICK)
        ) as loader,
        pytest.raises(PortError, match="failed .* unplugged or reset") as caught,
    ):
        write_plain(loader, 0x10000, DATA)
    assert caught.value.reason == "lost"


@pytest.mark.parametrize("server_kind", ["TcpServer", "PtyServer"])
def test_the_virtual_chip_over_a_socket_and_a_pty(server_kind: str) -> None:
    from espforge.virtual import transports
    from espforge.virtual.chip import VirtualChip

    chip = VirtualChip.create("esp32s3", "1MB")
    with getattr(transports, server_kind)(chip) as server:
        # A socket cannot reset the chip (connect falls back to no-reset); a PTY ignores the
        # modem lines, and the chip waits in download mode from the start either way.
        with connect(ConnectOptions(server.port, baud=921600)) as loader:
            assert loader.chip.name == "esp32s3"
            write_compressed(loader, 0x1000, NOISE)
            assert loader.flash_md5(0x1000, len(NOISE)) == hashlib.md5(NOISE).digest()
        assert chip.flash.read(0x1000, len(NOISE)) == NOISE
