"""The flasher stub as the virtual chip serves it once a RAM image has been started.

Nothing uploaded is executed: whatever the host loads and jumps to, the chip greets with the
raw `OHAI` packet and from then on answers as esptool's and esp-flasher-stub's stubs do. It
differs from the ROM in these ways:
- two status bytes, and stub error codes (the code in the first byte, e.g. 0xC1 = bad checksum);
- flash writes erase as they go (nothing up front) and are acknowledged as soon as a block has
  arrived intact, the write itself happening while the next block is on its way;
- READ_FLASH streams packets of the agreed size, at most "max in flight" of them unacknowledged,
  the host acknowledging with the running byte count, and ends with the 16-byte MD5;
- ERASE_FLASH, ERASE_REGION and RUN_USER_CODE; SPI_FLASH_MD5 answers 16 raw bytes;
- CHANGE_BAUDRATE takes the new rate exactly (the old one beside it); SYNC answers value 0;
- every chip's stub takes the encrypt word of FLASH_BEGIN and FLASH_DEFL_BEGIN (the ESP32's too,
  whose ROM does not), and older stubs' FLASH_ENCRYPT_DATA: FLASH_DATA encrypted by the chip.
"""

from __future__ import annotations

import hashlib
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field

from espforge.chips.base import FLASH_SECTOR_SIZE, ChipSpec
from espforge.protocol.commands import (
    SYNC_PAYLOAD,
    Opcode,
    Request,
    decode_command,
    encode_response,
)
from espforge.virtual.memory import AddressSpace
from espforge.virtual.nor_flash import BLOCK_SIZE
from espforge.virtual.rom import (
    BAD_CHECKSUM,
    FAILED_TO_ACT,
    FLASH_READ_ERROR,
    FLASH_WRITE_ERROR,
    INFLATE_CHECK_ERROR,
    INFLATE_ERROR,
    INVALID_MESSAGE,
    INVALID_RAM_ADDRESS,
    READ_LENGTH_ERROR,
    BootloaderOptions,
    ChangeBaud,
    CommandError,
    LeaveBootloader,
    Outcome,
    RomBootloader,
    _Download,
)
from espforge.virtual.spi_flash import SpiFlashDevice

GREETING = b"OHAI"
SYNC_RESPONSES = 8  # as many as a ROM sends: esptool reads them all, whoever answers

# Stub error codes (first status byte; the second is 0).
BAD_DATA_LENGTH = 0xC0
BAD_DATA_CHECKSUM = 0xC1
BAD_BLOCK_SIZE = 0xC2
INVALID_COMMAND = 0xC3
SPI_FAILED = 0xC4
INFLATE_FAILED = 0xC7
NOT_ENOUGH_DATA = 0xC8
TOO_MUCH_DATA = 0xC9

# The ROM-style reasons the shared handlers raise, as a stub reports them.
_STUB_CODES = {
    INVALID_MESSAGE: BAD_DATA_LENGTH,
    FAILED_TO_ACT: BAD_BLOCK_SIZE,
    BAD_CHECKSUM: BAD_DATA_CHECKSUM,
    FLASH_WRITE_ERROR: SPI_FAILED,
    FLASH_READ_ERROR: SPI_FAILED,
    READ_LENGTH_ERROR: BAD_DATA_LENGTH,
    INFLATE_ERROR: INFLATE_FAILED,
    INFLATE_CHECK_ERROR: INFLATE_FAILED,
    INVALID_RAM_ADDRESS: BAD_DATA_LENGTH,
}


@dataclass
class _Read:
    """A READ_FLASH in progress: what is left to send and what the host has acknowledged."""

    offset: int
    length: int
    packet_size: int
    window: int
    sent: int = 0
    acknowledged: int = 0
    digest: hashlib._Hash = field(default_factory=hashlib.md5)


class FlasherStub(RomBootloader):
    """Answers host requests as a flasher stub running on `chip` does."""

    def __init__(
        self,
        chip: ChipSpec,
        memory: AddressSpace,
        flash: SpiFlashDevice,
        options: BootloaderOptions,
    ) -> None:
        super().__init__(chip, memory, flash, options)
        self.flash_limit = flash.flash.size  # the stub addresses the whole chip from the start
        self._read: _Read | None = None
        self._erased_end = 0  # how far the current write has erased
        self.idle_seconds = 0.0  # set by the chip: how long it waited for the current request
        self._erase_paid = 0.0  # idle seconds not yet spent on erasing ahead
        shared = {
            opcode: self._handlers[opcode]
            for opcode in (
                Opcode.READ_REG,
                Opcode.WRITE_REG,
                Opcode.MEM_BEGIN,
                Opcode.MEM_DATA,
                Opcode.MEM_END,
                Opcode.GET_SECURITY_INFO,
            )
            if opcode in self._handlers
        }
        own: dict[int, Callable[[bytes], Outcome]] = {
            Opcode.SYNC: self._stub_sync,
            Opcode.SPI_ATTACH: self._stub_attach,
            Opcode.SPI_SET_PARAMS: self._spi_set_params,
            Opcode.CHANGE_BAUDRATE: self._stub_change_baud,
            Opcode.FLASH_BEGIN: self._write_begin,
            Opcode.FLASH_DATA: self._write_data,
            Opcode.FLASH_ENCRYPT_DATA: self._write_data_encrypted,
            Opcode.FLASH_END: self._write_end,
            Opcode.FLASH_DEFL_BEGIN: self._write_begin_compressed,
            Opcode.FLASH_DEFL_DATA: self._write_data_compressed,
            Opcode.FLASH_DEFL_END: self._write_end,
            Opcode.SPI_FLASH_MD5: self._raw_md5,
            Opcode.ERASE_FLASH: self._erase_flash,
            Opcode.ERASE_REGION: self._erase_region,
            Opcode.READ_FLASH: self._read_flash,
            Opcode.RUN_USER_CODE: self._run_user_code,
        }
        self._handlers = shared | own
        self._checksummed.add(Opcode.FLASH_ENCRYPT_DATA)

    # --- frames and status ---

    def polled(self, frame: bytes) -> bool:
        """Whether `frame` is a read acknowledgement, which the stub polls for as it streams."""
        return self._read is not None and len(frame) == 4

    def handle_frame(self, frame: bytes) -> tuple[Request | None, Outcome | None]:
        """A frame from the host: a read acknowledgement, a request, or noise (None, None)."""
        if self.polled(frame):
            return None, self._acknowledged(int.from_bytes(frame, "little"))
        request = decode_command(frame)
        if request is None:
            return None, None
        self._read = None  # a new command abandons a read the host stopped acknowledging
        return request, self.handle(request)

    unknown_command_code = INVALID_COMMAND

    def failure_status(self, code: int) -> tuple[int, int]:
        # Stubs report their own error family in the first status byte (e.g. 0xC1 bad checksum).
        return (_STUB_CODES.get(code, code), 0)

    def reply(self, opcode: int, value: int = 0, payload: bytes = b"", status=(0, 0)) -> bytes:
        return encode_response(opcode, value, payload + bytes(status))

    # --- link ---

    def _stub_sync(self, data: bytes) -> Outcome:
        if data != SYNC_PAYLOAD:
            raise CommandError(BAD_DATA_LENGTH, "not a sync pattern")
        return Outcome(responses=[self.reply(Opcode.SYNC, 0)] * SYNC_RESPONSES)

    def _stub_attach(self, data: bytes) -> Outcome:
        self._words(data, 1, allowed_lengths=(8,))  # esptool sends the pin word alone
        return Outcome()

    def _stub_change_baud(self, data: bytes) -> Outcome:
        new_baud, old_baud = self._words(data, 2)
        if new_baud == 0 or old_baud == 0:
            raise CommandError(BAD_DATA_LENGTH, "baud rate 0 (a stub needs the old rate too)")
        return Outcome(action=ChangeBaud(new_baud, claimed_current=old_baud))

    # --- writes: erase as the data arrives, acknowledge before programming ---

    def _write_begin(self, data: bytes) -> Outcome:
        self._flash, self._compressed = self._open_write(data), None
        return Outcome()

    def _write_begin_compressed(self, data: bytes) -> Outcome:
        self._compressed, self._flash = self._open_write(data), None
        self._compressed.inflater = zlib.decompressobj()
        return Outcome()

    def _open_write(self, data: bytes) -> _Download:
        """A write session from the begin words; an encrypt word set makes the chip encrypt.
        Nothing is erased yet: stubs erase whole sectors from the one holding the offset."""
        size, blocks, block_size, offset, *encrypted = self._words(data, 5, (16,))
        if offset + size > self._addressable_end():
            raise CommandError(BAD_DATA_LENGTH, "write past the end of flash")
        encryptor = self._encryptor(offset, size) if encrypted and encrypted[0] else None
        self._erased_end = offset - offset % FLASH_SECTOR_SIZE
        self._erase_paid = 0.0
        return _Download(offset, blocks, block_size, size, encryptor=encryptor)

    def _write_data(self, data: bytes) -> Outcome:
        session, block = self._next_block(self._flash, data)
        if session is None:
            return Outcome()
        return self._store(session, block)

    def _write_data_encrypted(self, data: bytes) -> Outcome:
        session, block = self._next_block(self._flash, data)
        if session is None:
            return Outcome()
        if session.encryptor is None:
            session.encryptor = self._encryptor(session.offset, session.size)
        return self._store(session, block)

    def _write_data_compressed(self, data: bytes) -> Outcome:
        session, block = self._next_block(self._compressed, data)
        if session is None or session.inflater is None:
            return Outcome()
        try:
            plain = session.inflater.decompress(block)
        except zlib.error:
            self._compressed = None
            raise CommandError(INFLATE_FAILED, "inflate failed") from None
        return self._store(session, plain)

    def _store(self, session: _Download, plain: bytes) -> Outcome:
        """Erase the sectors `plain` reaches into, then program it; the host does not wait."""
        room = session.size - session.written
        if len(plain) > room and any(byte != 0xFF for byte in plain[room:]):
            raise CommandError(TOO_MUCH_DATA, "more data than announced")
        plain = plain[:room]  # the rest is the padding of a last uncompressed block
        position = session.offset + session.written
        write_end = session.offset + session.size
        self._erase_while_idle(write_end)
        seconds = self._erase_ahead(position + len(plain), write_end)
        if seconds:  # the erase under way when the block came must finish first
            seconds, self._erase_paid = max(0.0, seconds - self._erase_paid), 0.0
        seconds += self._program_session(session, plain)
        return Outcome(background_seconds=seconds)

    def _erase_while_idle(self, write_end: int) -> None:
        """Stubs start erasing ahead of the data while they wait for the next block, and the
        flash goes on erasing while the stub receives: idle time pays for erases in advance."""
        timing = self.options.timing
        self._erase_paid += self.idle_seconds
        self.idle_seconds = 0.0
        while timing and self._erased_end < write_end:
            start = self._erased_end
            if timing.erase(start, self._erase_step(start, write_end)) > self._erase_paid:
                break
            self._erase_paid -= self._erase_ahead(start + 1, write_end)

    def _erase_ahead(self, needed_end: int, write_end: int) -> float:
        """Erase up to `needed_end`; the seconds it takes."""
        seconds = 0.0
        while self._erased_end < needed_end:
            start = self._erased_end
            step = self._erase_step(start, write_end)
            seconds += self._erase(start, step)
            self._erased_end = start + step
        return seconds

    @staticmethod
    def _erase_step(start: int, write_end: int) -> int:
        """A whole 64 KB block where the write covers it (one block erase is much quicker than
        sixteen sector erases), else a sector."""
        whole_block = start % BLOCK_SIZE == 0 and write_end - start >= BLOCK_SIZE
        return BLOCK_SIZE if whole_block else FLASH_SECTOR_SIZE

    def _write_end(self, data: bytes) -> Outcome:
        (stay_in_stub,) = self._words(data, 1)
        session = self._flash or self._compressed
        self._flash = self._compressed = None
        if session is not None and session.written < session.size:
            raise CommandError(NOT_ENOUGH_DATA, "the write ended early")
        return Outcome(action=None if stay_in_stub else LeaveBootloader(reboot=True))

    # --- erase ---

    def _erase_flash(self, data: bytes) -> Outcome:
        if data:
            raise CommandError(BAD_DATA_LENGTH, "ERASE_FLASH takes no data")
        size = self._addressable_end()
        return Outcome(work_seconds=self._erase(0, size))

    def _erase_region(self, data: bytes) -> Outcome:
        offset, size = self._words(data, 2)
        if offset % FLASH_SECTOR_SIZE or size % FLASH_SECTOR_SIZE:
            raise CommandError(SPI_FAILED, "erase region not on sector boundaries")
        return Outcome(work_seconds=self._erase(offset, size))

    # --- reading ---

    def _raw_md5(self, data: bytes) -> Outcome:
        offset, size, _zero1, _zero2 = self._words(data, 4)
        self._check_flash_range(offset, size, FLASH_READ_ERROR)
        digest = hashlib.md5(self.device.flash.read(offset, size)).digest()
        timing = self.options.timing
        seconds = timing.md5_per_mb * size / 1e6 if timing else 0.0
        return Outcome(
            responses=[self.reply(Opcode.SPI_FLASH_MD5, 0, digest)], work_seconds=seconds
        )

    def _read_flash(self, data: bytes) -> Outcome:
        offset, length, packet_size, window = self._words(data, 4)
        if packet_size == 0 or window == 0:
            raise CommandError(BAD_DATA_LENGTH, "packet size and window must be non-zero")
        self._check_flash_range(offset, length, FLASH_READ_ERROR)
        self._read = _Read(offset, length, packet_size, window)
        outcome = Outcome(responses=[self.reply(Opcode.READ_FLASH)])
        outcome.responses += self._read_packets()
        return outcome

    def _acknowledged(self, total: int) -> Outcome:
        read = self._read
        assert read is not None
        read.acknowledged = max(read.acknowledged, min(total, read.sent))
        packets = self._read_packets()
        if read.acknowledged >= read.length:
            packets.append(read.digest.digest())
            self._read = None
        return Outcome(responses=packets)

    def _read_packets(self) -> list[bytes]:
        """The packets the window lets out now."""
        read = self._read
        assert read is not None
        packets = []
        while read.sent < read.length:
            in_flight = -(-(read.sent - read.acknowledged) // read.packet_size)
            if in_flight >= read.window:
                break
            size = min(read.packet_size, read.length - read.sent)
            packet = self.device.flash.read(read.offset + read.sent, size)
            read.digest.update(packet)
            read.sent += size
            packets.append(packet)
        if read.length == 0:
            packets.append(read.digest.digest())
            self._read = None
        return packets

    def _run_user_code(self, data: bytes) -> Outcome:
        return Outcome(action=LeaveBootloader(reboot=False))
