"""A stand-in for the bootloader client (`Loader`) over a `NorFlash`, for testing flash
operations without a serial link. It speaks the chip's ROM dialect (`rom_dialect`): FLASH_BEGIN
erases (also for erase_region/erase_flash), blocks program, MD5 and 64-byte reads where the
chip's ROM has them. Every call is recorded; `connect_to` makes `open_device` connect to it."""

from __future__ import annotations

import hashlib
import zlib
from collections.abc import Callable
from types import SimpleNamespace

from espforge.chips import ChipSpec, get_chip
from espforge.config import Settings
from espforge.errors import CommandFailed, ProtocolError
from espforge.protocol.dialect import rom_dialect
from espforge.protocol.security import SecurityInfo as LoaderSecurityInfo
from espforge.virtual.nor_flash import NorFlash

GIGADEVICE = 0xC8
SFDP_SIGNATURE = 0x50444653
RDID = 0x9F
WRITING_COMMANDS = {"flash_begin", "flash_defl_begin", "flash_block", "flash_defl_block"}


def jedec_id(size: int, manufacturer: int = GIGADEVICE) -> int:
    """An RDID answer for a flash of `size` bytes (capacity byte log2 of the size)."""
    return (size.bit_length() - 1) << 16 | 0x40 << 8 | manufacturer


def connect_to(monkeypatch, loader: Callable[[], FakeLoader]) -> None:
    """Make `open_device` connect to the fake `loader()` returns (asked at each connection),
    and record its `--after` reset as a call."""
    monkeypatch.setattr("espforge.protocol.connect.connect", lambda options: loader())
    monkeypatch.setattr(
        "espforge.protocol.resets.run_reset", lambda fake, after: fake._call("run_reset", after)
    )


class FakeLoader:
    ram_block_size = 0x1800

    def __init__(
        self,
        chip: str | ChipSpec = "esp32c3",
        flash_size: int = 0x400000,
        flash: NorFlash | None = None,
        mac: bytes = bytes.fromhex("aabbccddeeff"),
        revision: tuple[int, int] = (0, 4),
    ) -> None:
        self.chip = get_chip(chip) if isinstance(chip, str) else chip
        self.dialect = rom_dialect(self.chip)
        self.stub_image = None
        self.flash = flash if flash is not None else NorFlash(flash_size)
        self.secure_download_mode = False
        self.stub_detected = False
        self.port = SimpleNamespace(port=f"fake://{self.chip.name}")
        self.port_name = self.port.port
        self.usb_mode = None
        self.settings = Settings()
        self.mac = mac
        self.revision = revision
        self.security = LoaderSecurityInfo(0, 0, (0,) * 7, None, None)
        self.registers: dict[int, int] = {}
        self.calls: list[tuple[str, tuple]] = []
        self.flash_id_value = jedec_id(self.flash.size)
        self.link_failures = 0  # the next n data blocks fail as a lost link would
        self.corrupt_writes = False  # program every data block with one bit cleared
        self.configured_size: int | None = None
        self._write: dict = {}

    @property
    def flash_block_size(self) -> int:
        return self.dialect.flash_block_size

    def _call(self, name: str, *args) -> None:
        self.calls.append((name, args))

    def calls_named(self, *names: str) -> list[tuple[str, tuple]]:
        return [call for call in self.calls if call[0] in names]

    def wrote_anything(self) -> bool:
        return any(name in WRITING_COMMANDS for name, _ in self.calls)

    def _unsupported(self, what: str, supported: bool) -> None:
        if not supported:
            raise CommandFailed(f"{what}: unsupported", 0, 1, 5)

    # -------------------------------------------------------------- registers and RAM

    def read_reg(self, address: int) -> int:
        self._call("read_reg", address)
        return self.registers.get(address, 0)

    def write_reg(self, address, value, mask=0xFFFFFFFF, delay_us=0) -> None:
        self._call("write_reg", address, value, mask)
        old = self.registers.get(address, 0)
        self.registers[address] = (old & ~mask) | (value & mask)

    def mem_begin(self, size, blocks, block_size, offset) -> None:
        self._call("mem_begin", size, blocks, block_size, offset)

    def mem_block(self, data, seq) -> None:
        self._call("mem_block", len(data), seq)

    def mem_finish(self, entry=0) -> None:
        self._call("mem_finish", entry)

    # -------------------------------------------------------------- flash

    def spi_attach(self, value: int = 0) -> None:
        self._call("spi_attach", value)

    def spi_set_params(self, flash_size: int) -> None:
        self._call("spi_set_params", flash_size)
        self.configured_size = flash_size

    def read_flash_sfdp(self, offset: int, num_bytes: int) -> int:
        self._call("read_flash_sfdp", offset, num_bytes)
        return SFDP_SIGNATURE if offset == 0 else self.flash_id_value & 0xFF

    def run_spiflash_command(self, command, data=b"", read_bits=0) -> int:
        self._call("run_spiflash_command", command)
        return self.flash_id_value if command == RDID else 0

    def read_flash_status(self, num_bytes=2) -> int:
        self._call("read_flash_status", num_bytes)
        return self.registers.get(-1, 0) & ((1 << (8 * num_bytes)) - 1)

    def write_flash_status(self, value, num_bytes=2, set_non_volatile=False) -> None:
        self._call("write_flash_status", value, num_bytes, set_non_volatile)
        self.registers[-1] = value

    def flash_begin(self, size: int, offset: int, encrypted: bool = False) -> int:
        self._call("flash_begin", size, offset)
        self.flash.erase(offset, size)
        self._write = {"offset": offset, "inflater": None}
        return -(-size // self.flash_block_size)

    def flash_block(self, data: bytes, seq: int, timeout: float | None = None) -> None:
        self._call("flash_block", len(data), seq)
        self._fail_link_if_asked()
        self._program(self._write["offset"] + seq * self.flash_block_size, data)

    def flash_defl_begin(
        self, size: int, compressed_size: int, offset: int, encrypted: bool = False
    ) -> int:
        self._unsupported("FLASH_DEFL_BEGIN", self.dialect.compressed_writes)
        self._call("flash_defl_begin", size, compressed_size, offset)
        self.flash.erase(offset, size)
        self._write = {"offset": offset, "inflater": zlib.decompressobj(), "written": 0}
        return -(-compressed_size // self.flash_block_size)

    def flash_defl_block(self, data: bytes, seq: int, timeout: float | None = None) -> None:
        self._call("flash_defl_block", len(data), seq)
        self._fail_link_if_asked()
        plain = self._write["inflater"].decompress(data)
        self._program(self._write["offset"] + self._write["written"], plain)
        self._write["written"] += len(plain)

    def finish_write(self, compressed: bool, timeout: float | None = None) -> None:
        self._call("finish_write", compressed)

    def erase_region(self, offset: int, size: int) -> None:
        self.flash_begin(size, offset)

    def erase_flash(self, size: int) -> None:
        self.flash_begin(size, 0)

    def flash_md5(self, offset: int, size: int) -> bytes:
        self._unsupported("SPI_FLASH_MD5", self.dialect.flash_md5)
        self._call("flash_md5", offset, size)
        return hashlib.md5(self.flash.read(offset, size)).digest()

    def read_flash(self, offset: int, size: int, progress=None) -> bytes:
        self._unsupported("READ_FLASH_SLOW", self.dialect.can_read)
        self._call("read_flash", offset, size)
        data = b""
        while len(data) < size:
            data += self.flash.read(offset + len(data), min(64, size - len(data)))
            if progress:
                progress(len(data), size)
        return data

    def _program(self, offset: int, data: bytes) -> None:
        if self.corrupt_writes and data:
            data = bytes([data[0] & 0xFE]) + data[1:]
        self.flash.program(offset, data)

    def _fail_link_if_asked(self) -> None:
        if self.link_failures:
            self.link_failures -= 1
            raise ProtocolError("no reply to FLASH_DATA (0x03) within 3 s")

    # -------------------------------------------------------------- identity

    def security_info(self) -> LoaderSecurityInfo:
        self._unsupported("GET_SECURITY_INFO", self.chip.rom.security_info_length is not None)
        self._call("security_info")
        return self.security

    def read_mac(self) -> bytes:
        self._call("read_mac")
        return self.mac

    def read_mac_extension(self) -> bytes | None:
        mac = self.chip.mac
        if not getattr(mac, "has_eui64", False):
            return None
        return b"\xff\xfe"

    def chip_revision(self) -> tuple[int, int]:
        self._call("chip_revision")
        return self.revision

    def crystal_mhz(self) -> int:
        return 40

    def resync(self, before: str = "default-reset", attempts: int = 7) -> None:
        self._call("resync", before)

    def soft_reset(self, stay_in_bootloader: bool) -> None:
        self._call("soft_reset", stay_in_bootloader)

    def close(self) -> None:
        self._call("close")
