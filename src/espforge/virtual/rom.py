"""The ROM bootloader's command handling: one decoded request in, responses and side effects out.

Behaviour follows the reference pages and what esptool 5.6 expects of each ROM: status bytes
per ROM family, erase in FLASH_BEGIN (with the ESP8266 ROM's miscounted erase), one zlib stream
across FLASH_DEFL_DATA blocks, MD5 answered as hex text, 64-byte READ_FLASH_SLOW, and error
codes for bad checksums, sequence numbers, lengths and addresses. ROMs that take FLASH_BEGIN's
encrypt word encrypt what they are sent with the eFuse key (`espforge.virtual.flash_crypt`).
"""

from __future__ import annotations

import hashlib
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field

from espforge.chips.base import FLASH_SECTOR_SIZE, ChipSpec
from espforge.protocol.commands import SYNC_PAYLOAD, Opcode, Request, checksum, encode_response
from espforge.virtual.flash_crypt import EncryptionRefused, FlashEncryptor, start_encryption
from espforge.virtual.memory import AddressSpace
from espforge.virtual.nor_flash import BLOCK_SIZE
from espforge.virtual.spi_flash import SpiFlashDevice

# ROM error codes (sent after a status byte of 1).
INVALID_MESSAGE = 0x05  # malformed request, wrong length, or a command this ROM lacks
FAILED_TO_ACT = 0x06  # well-formed but not possible now (wrong sequence, no session, range)
BAD_CHECKSUM = 0x07
FLASH_WRITE_ERROR = 0x08
FLASH_READ_ERROR = 0x09
READ_LENGTH_ERROR = 0x0A
INFLATE_ERROR = 0x0B
INFLATE_CHECK_ERROR = 0x0C
INVALID_RAM_ADDRESS = 0x0F

SYNC_VALUE = 0x20120707  # any non-zero value tells the host a ROM (not a stub) answered
ROM_DEFAULT_FLASH_SIZE = 0x200000  # what a ROM with SPI_SET_PARAMS assumes until told
DATA_HEADER = struct.Struct("<IIII")


class CommandError(Exception):
    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code


@dataclass(frozen=True)
class FlashTiming:
    """Typical NOR datasheet times (reference README), charged when the link model is on."""

    sector_erase: float = 0.045
    block_erase: float = 0.150
    page_program: float = 0.0007
    md5_per_mb: float = 0.5
    page_size: int = 256

    def erase(self, offset: int, length: int) -> float:
        """Time to erase [offset, offset+length) with 64 KB block erases where they fit."""
        seconds = 0.0
        position, end = offset, offset + length
        while position < end:
            if position % BLOCK_SIZE == 0 and end - position >= BLOCK_SIZE:
                seconds, position = seconds + self.block_erase, position + BLOCK_SIZE
            else:
                seconds, position = seconds + self.sector_erase, position + FLASH_SECTOR_SIZE
        return seconds

    def program(self, length: int) -> float:
        return -(-length // self.page_size) * self.page_program


# Things the bootloader asks of the chip around it once its response is on the way.
@dataclass(frozen=True)
class ChangeBaud:
    baud: int
    # A stub scales the UART's divider by claimed_current / baud: the rate it ends at is the
    # current one times baud / claimed_current, right only if the host told the true rate.
    claimed_current: int | None = None


@dataclass(frozen=True)
class LeaveBootloader:
    reboot: bool  # True: reset the chip; False: run the application in flash


@dataclass(frozen=True)
class RunRamCode:
    entry: int


Action = ChangeBaud | LeaveBootloader | RunRamCode


@dataclass
class Outcome:
    """What one request produced: response packets, work time, and an action to take after."""

    responses: list[bytes] = field(default_factory=list)
    status: tuple[int, int] = (0, 0)
    work_seconds: float = 0.0
    action: Action | None = None
    background_seconds: float = 0.0  # work done after the response went out (stub writes)


@dataclass
class _Download:
    """An open FLASH_BEGIN, FLASH_DEFL_BEGIN or MEM_BEGIN session."""

    offset: int
    blocks: int
    block_size: int
    size: int
    next_seq: int = 0
    written: int = 0
    last_block: bytes | None = None
    inflater: zlib._Decompress | None = None  # FLASH_DEFL_* only
    encryptor: FlashEncryptor | None = None  # an encrypted write


@dataclass
class BootloaderOptions:
    crystal_mhz: int
    rom_crystal_mhz: Callable[[], float]
    timing: FlashTiming | None = None  # None: commands take no modelled time
    secure_download: bool = False
    # GET_SECURITY_INFO's (flags, flash-encryption count, key purposes) from the chip's eFuses
    security: Callable[[], tuple[int, int, list[int]]] | None = None


class RomBootloader:
    """Answers host requests as the chip's ROM bootloader does."""

    def __init__(
        self,
        chip: ChipSpec,
        memory: AddressSpace,
        flash: SpiFlashDevice,
        options: BootloaderOptions,
    ) -> None:
        self.chip = chip
        self.memory = memory
        self.device = flash
        self.options = options
        self.flash_limit = ROM_DEFAULT_FLASH_SIZE if chip.rom.spi_set_params else flash.flash.size
        self._flash: _Download | None = None
        self._compressed: _Download | None = None
        self._ram: _Download | None = None
        rom = chip.rom
        self._handlers: dict[int, Callable[[bytes], Outcome]] = {
            Opcode.SYNC: self._sync,
            Opcode.READ_REG: self._read_reg,
            Opcode.WRITE_REG: self._write_reg,
            Opcode.MEM_BEGIN: self._mem_begin,
            Opcode.MEM_DATA: self._mem_data,
            Opcode.MEM_END: self._mem_end,
            Opcode.FLASH_BEGIN: self._flash_begin,
            Opcode.FLASH_DATA: self._flash_data,
            Opcode.FLASH_END: self._flash_end,
        }
        optional = {
            Opcode.FLASH_DEFL_BEGIN: (rom.compressed_writes, self._defl_begin),
            Opcode.FLASH_DEFL_DATA: (rom.compressed_writes, self._defl_data),
            Opcode.FLASH_DEFL_END: (rom.compressed_writes, self._flash_end),
            Opcode.SPI_FLASH_MD5: (rom.flash_md5, self._md5),
            Opcode.READ_FLASH_SLOW: (rom.read_flash_slow, self._read_slow),
            Opcode.CHANGE_BAUDRATE: (rom.change_baudrate, self._change_baud),
            Opcode.SPI_ATTACH: (rom.spi_attach, self._spi_attach),
            Opcode.SPI_SET_PARAMS: (rom.spi_set_params, self._spi_set_params),
            Opcode.GET_SECURITY_INFO: (rom.security_info_length is not None, self._security),
        }
        self._handlers |= {op: handler for op, (offered, handler) in optional.items() if offered}
        self._checksummed = {Opcode.MEM_DATA, Opcode.FLASH_DATA, Opcode.FLASH_DEFL_DATA}
        if options.secure_download:
            for opcode in (Opcode.READ_REG, Opcode.WRITE_REG, Opcode.READ_FLASH_SLOW):
                self._handlers.pop(opcode, None)
            for opcode in (Opcode.MEM_BEGIN, Opcode.MEM_DATA, Opcode.MEM_END):
                self._handlers.pop(opcode, None)

    # --- dispatch ---

    # What a command this dialect lacks fails with, and how a failure becomes status bytes.
    unknown_command_code = INVALID_MESSAGE

    def failure_status(self, code: int) -> tuple[int, int]:
        return (1, code)

    def handle(self, request: Request) -> Outcome:
        handler = self._handlers.get(request.opcode)
        try:
            if handler is None:
                raise CommandError(self.unknown_command_code, "unknown command")
            if request.opcode in self._checksummed:
                self._check_data(request)
            outcome = handler(request.data)
        except CommandError as error:
            outcome = Outcome(status=self.failure_status(error.code))
        if not outcome.responses:
            outcome.responses.append(self.reply(request.opcode, status=outcome.status))
        return outcome

    def reply(self, opcode: int, value: int = 0, payload: bytes = b"", status=(0, 0)) -> bytes:
        status_bytes = bytes(status) + bytes(self.chip.rom.status_length - 2)
        return encode_response(opcode, value, payload + status_bytes)

    @staticmethod
    def _words(data: bytes, count: int, allowed_lengths: tuple[int, ...] = ()) -> tuple[int, ...]:
        if len(data) != 4 * count and len(data) not in allowed_lengths:
            raise CommandError(INVALID_MESSAGE, "wrong parameter length")
        return struct.unpack_from(f"<{len(data) // 4}I", data)

    def _check_data(self, request: Request) -> None:
        if len(request.data) < DATA_HEADER.size:
            raise CommandError(INVALID_MESSAGE, "data header missing")
        length = DATA_HEADER.unpack_from(request.data)[0]
        block = request.data[DATA_HEADER.size :]
        if length != len(block):
            raise CommandError(INVALID_MESSAGE, "data length field disagrees with the data")
        if checksum(block) != request.checksum & 0xFF:
            raise CommandError(BAD_CHECKSUM, "data checksum mismatch")

    # --- link and registers ---

    def _sync(self, data: bytes) -> Outcome:
        if data != SYNC_PAYLOAD:
            raise CommandError(INVALID_MESSAGE, "not a sync pattern")
        reply = self.reply(Opcode.SYNC, SYNC_VALUE)
        return Outcome(responses=[reply] * self.chip.rom.sync_responses)

    def _read_reg(self, data: bytes) -> Outcome:
        (address,) = self._words(data, 1)
        value = self.memory.read_word(address)
        return Outcome(responses=[self.reply(Opcode.READ_REG, value)])

    def _write_reg(self, data: bytes) -> Outcome:
        if not data or len(data) % 16:
            raise CommandError(INVALID_MESSAGE, "WRITE_REG takes groups of 4 words")
        delay = 0.0
        for address, value, mask, delay_us in struct.iter_unpack("<IIII", data):
            old = self.memory.read_word(address)
            self.memory.write_word(address, (old & ~mask) | (value & mask))
            delay += delay_us / 1e6
        return Outcome(work_seconds=delay)

    def _change_baud(self, data: bytes) -> Outcome:
        new_baud, _old = self._words(data, 2)
        if new_baud == 0:
            raise CommandError(FAILED_TO_ACT, "baud rate 0")
        # The ROM programs its divider from the crystal it believes in.
        actual = round(new_baud * self.options.crystal_mhz / self.options.rom_crystal_mhz())
        return Outcome(action=ChangeBaud(actual))

    def _security(self, data: bytes) -> Outcome:
        if data:
            raise CommandError(INVALID_MESSAGE, "GET_SECURITY_INFO takes no data")
        flags, count, purposes = 0, 0, [0] * 7
        if self.options.security is not None:
            flags, count, purposes = self.options.security()
        flags |= 1 << 2 if self.options.secure_download else 0
        chip_id = self.chip.image_chip_id or 0
        info = struct.pack("<IB7BII", flags, count, *purposes, chip_id, 0)
        length = self.chip.rom.security_info_length or 0
        return Outcome(responses=[self.reply(Opcode.GET_SECURITY_INFO, 0, info[:length])])

    # --- SPI flash set-up ---

    def _spi_attach(self, data: bytes) -> Outcome:
        self._words(data, 2)  # pin configuration word, then the ROM's "is legacy" word
        return Outcome()

    def _spi_set_params(self, data: bytes) -> Outcome:
        _id, total, _block, sector, _page, _mask = self._words(data, 6)
        if total == 0 or sector == 0:
            raise CommandError(FAILED_TO_ACT, "flash size or sector size of 0")
        self.flash_limit = total
        return Outcome()

    # --- RAM downloads ---

    def _mem_begin(self, data: bytes) -> Outcome:
        size, blocks, block_size, offset = self._words(data, 4)
        if not self._in_ram(offset, size):
            raise CommandError(INVALID_RAM_ADDRESS, "not a RAM address")
        self._ram = _Download(offset, blocks, block_size, size)
        return Outcome()

    def _in_ram(self, offset: int, size: int) -> bool:
        ranges = [
            (region.start, region.end)
            for region in self.chip.memory_map
            if region.name != "PADDING" and not self.chip.is_flash_mapped(region.start)
        ]
        ranges += self.chip.extra_ram_load_ranges
        return any(start <= offset and offset + size <= end for start, end in ranges)

    def _mem_data(self, data: bytes) -> Outcome:
        session, block = self._next_block(self._ram, data)
        if session is None:
            return Outcome()
        if session.written + len(block) > session.size:
            raise CommandError(INVALID_MESSAGE, "more data than MEM_BEGIN announced")
        self.memory.write_bytes(session.offset + session.written, block)
        session.written += len(block)
        return Outcome()

    def _mem_end(self, data: bytes) -> Outcome:
        stay, entry = self._words(data, 2)
        self._ram = None
        return Outcome(action=None if stay else RunRamCode(entry))

    # --- flash downloads ---

    def _flash_begin(self, data: bytes) -> Outcome:
        erase_size, blocks, block_size, offset, encrypted = self._begin_words(data)
        encryptor = self._encryptor(offset, erase_size) if encrypted else None
        self._check_flash_range(offset, erase_size, FAILED_TO_ACT)
        # What the ESP8266's erase bug adds past the end of flash erases nothing.
        erased = min(self._erase_span(offset, erase_size), self._addressable_end() - offset)
        self._flash = _Download(offset, blocks, block_size, erase_size, encryptor=encryptor)
        self._compressed = None
        return Outcome(work_seconds=self._erase(offset, erased))

    def _defl_begin(self, data: bytes) -> Outcome:
        write_size, blocks, block_size, offset, encrypted = self._begin_words(data)
        encryptor = self._encryptor(offset, write_size) if encrypted else None
        self._compressed = _Download(offset, blocks, block_size, write_size, encryptor=encryptor)
        self._compressed.inflater = zlib.decompressobj()
        self._flash = None
        return Outcome(work_seconds=self._erase(offset, write_size))

    def _begin_words(self, data: bytes) -> tuple[int, int, int, int, bool]:
        """FLASH_BEGIN's words, the encrypt word (False where absent) last."""
        rom = self.chip.rom
        if rom.flash_begin_encrypted_word:
            erase, blocks, block_size, offset, *rest = self._words(data, 5, allowed_lengths=(16,))
        else:
            erase, blocks, block_size, offset = self._words(data, 4)
            rest = []
        if block_size == 0 and blocks:
            raise CommandError(INVALID_MESSAGE, "block size of 0")
        return erase, blocks, block_size, offset, bool(rest and rest[0])

    def _encryptor(self, offset: int, size: int) -> FlashEncryptor:
        try:
            return start_encryption(self.chip, self.memory, offset, size)
        except EncryptionRefused as refusal:
            raise CommandError(FAILED_TO_ACT, str(refusal)) from None

    def _erase_span(self, offset: int, size: int) -> int:
        """Bytes the ROM erases for FLASH_BEGIN(size): ESP8266's ROM adds its head sectors."""
        if not self.chip.rom.erase_size_quirk:
            return size
        sectors = -(-size // FLASH_SECTOR_SIZE)
        sectors_per_block = BLOCK_SIZE // FLASH_SECTOR_SIZE
        head = min(sectors_per_block - (offset // FLASH_SECTOR_SIZE) % sectors_per_block, sectors)
        return (sectors + head) * FLASH_SECTOR_SIZE

    def _erase(self, offset: int, size: int) -> float:
        if size == 0:
            return 0.0
        self._check_flash_range(offset, size, FAILED_TO_ACT)
        self.device.flash.erase(offset, size)
        timing = self.options.timing
        return timing.erase(offset - offset % FLASH_SECTOR_SIZE, size) if timing else 0.0

    def _addressable_end(self) -> int:
        """Where flash ends for this bootloader (a ROM may not have been told the full size)."""
        return min(self.flash_limit, self.device.flash.size)

    def _check_flash_range(self, offset: int, size: int, code: int) -> None:
        if offset + size > self._addressable_end():
            raise CommandError(code, "flash address out of range")

    def _flash_data(self, data: bytes) -> Outcome:
        session, block = self._next_block(self._flash, data)
        if session is None:
            return Outcome()
        seconds = self._program_session(session, block)
        return Outcome(work_seconds=seconds)

    def _defl_data(self, data: bytes) -> Outcome:
        session, block = self._next_block(self._compressed, data)
        if session is None or session.inflater is None:
            return Outcome()
        try:
            plain = session.inflater.decompress(block)
        except zlib.error as error:
            self._compressed = None
            code = INFLATE_CHECK_ERROR if "data check" in str(error) else INFLATE_ERROR
            raise CommandError(code, "inflate failed") from None
        seconds = self._program_session(session, plain)
        return Outcome(work_seconds=seconds)

    def _next_block(self, session: _Download | None, data: bytes) -> tuple[_Download | None, bytes]:
        """The session and block of a *_DATA request, after sequence checks.

        A repeat of the block just accepted (the host retrying after a lost response) is
        acknowledged without writing it again: returns (None, block).
        """
        if session is None:
            raise CommandError(FAILED_TO_ACT, "no download in progress")
        _length, seq, _zero1, _zero2 = DATA_HEADER.unpack_from(data)
        block = data[DATA_HEADER.size :]
        if seq == session.next_seq - 1 and block == session.last_block:
            return None, block
        if seq != session.next_seq or seq >= session.blocks:
            raise CommandError(FAILED_TO_ACT, "unexpected sequence number")
        if len(block) > session.block_size:
            raise CommandError(INVALID_MESSAGE, "block larger than announced")
        session.next_seq += 1
        session.last_block = block
        return session, block

    def _program_session(self, session: _Download, plain: bytes) -> float:
        """Program the next `plain` bytes of a write (as ciphertext, if it is encrypted)."""
        address, data = session.offset + session.written, plain
        if session.encryptor is not None:
            address, data = session.encryptor.encrypt(address, plain)
        seconds = self._program(address, data)
        session.written += len(plain)
        return seconds

    def _program(self, offset: int, data: bytes) -> float:
        if not data:
            return 0.0
        self._check_flash_range(offset, len(data), FLASH_WRITE_ERROR)
        self.device.flash.program(offset, data)
        timing = self.options.timing
        return timing.program(len(data)) if timing else 0.0

    def _flash_end(self, data: bytes) -> Outcome:
        (run_user_code,) = self._words(data, 1)
        self._flash = self._compressed = None
        return Outcome(action=LeaveBootloader(reboot=not run_user_code))

    # --- reading flash ---

    def _md5(self, data: bytes) -> Outcome:
        offset, size, _zero1, _zero2 = self._words(data, 4)
        self._check_flash_range(offset, size, FLASH_READ_ERROR)
        digest = hashlib.md5(self.device.flash.read(offset, size)).hexdigest().encode()
        timing = self.options.timing
        seconds = timing.md5_per_mb * size / 1e6 if timing else 0.0
        reply = self.reply(Opcode.SPI_FLASH_MD5, 0, digest)
        return Outcome(responses=[reply], work_seconds=seconds)

    def _read_slow(self, data: bytes) -> Outcome:
        offset, length = self._words(data, 2)
        block = self.chip.rom.read_slow_block
        if length > block:
            raise CommandError(READ_LENGTH_ERROR, "read longer than the ROM's buffer")
        self._check_flash_range(offset, length, FLASH_READ_ERROR)
        available = min(block, self.device.flash.size - offset)
        payload = self.device.flash.read(offset, available).ljust(block, b"\xff")
        return Outcome(responses=[self.reply(Opcode.READ_FLASH_SLOW, 0, payload)])
