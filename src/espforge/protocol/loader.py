"""The bootloader client: every command a chip in download mode serves, in the dialect of the
code answering - its ROM bootloader, or a flasher stub once one greets.

`connect()` (protocol.connect) builds a `Loader` for the chip it identified; the loader sends
esptool 5.6's packets with its timeouts and retries. Per-chip facts come from the `ChipSpec`,
ROM-versus-stub differences from the loader's `Dialect`, which switches to the stub's when a
stub greets (`speak_stub`) and back to the ROM's when the chip is synced again (`resync`).

An intended difference from esptool 5.6 on the wire (tests in tests/protocol/ compare the rest
packet for packet; see protocol.connect for more): a lost reply is followed by a SYNC, whose
answer proves every older reply has arrived, before the command is sent again; read-only
commands (READ_REG, READ_FLASH_SLOW, SPI_FLASH_MD5, GET_SECURITY_INFO) are sent again once.
esptool resends only data blocks, without a SYNC.
"""

from __future__ import annotations

import contextlib
import struct
import time
from collections.abc import Callable

from espforge.chips import ChipSpec
from espforge.chips.base import (
    FLASH_BLOCK_SIZE,
    FLASH_PAGE_SIZE,
    FLASH_SECTOR_SIZE,
    ROM_RAM_BLOCK_SIZE,
    OtpMac,
)
from espforge.errors import (
    CommandFailed,
    EspforgeError,
    NotSupportedError,
    ProtocolError,
    SecureDownloadModeError,
)
from espforge.logs import library_logger
from espforge.protocol import baud as baud_rates
from espforge.protocol.commands import Opcode, checksum
from espforge.protocol.connection import Connection
from espforge.protocol.dialect import (
    STUB_DIALECT,
    Dialect,
    SpiAttachForm,
    esp8266_erase_size,
    rom_dialect,
)
from espforge.protocol.flash_read import read_flash_streamed
from espforge.protocol.security import SecurityInfo
from espforge.protocol.spiflash import SpiFlashCommands
from espforge.protocol.stub_image import StubImage
from espforge.protocol.sync import read_register, request_security_info, synchronise

log = library_logger(__name__)


class Loader(SpiFlashCommands):
    """A connected chip's bootloader (ROM or flasher stub). Build it with `connect()`."""

    def __init__(
        self,
        connection: Connection,
        chip: ChipSpec,
        secure_download_mode: bool = False,
        stub_detected: bool = False,
        security_info: SecurityInfo | None = None,
    ) -> None:
        self.connection = connection
        self.port = connection.port
        self.port_name = connection.port_name
        self.settings = connection.settings
        self.link = connection.link
        self.channel = connection.channel
        self.chip = chip
        self.dialect: Dialect = rom_dialect(chip)
        self.secure_download_mode = secure_download_mode
        self.stub_detected = stub_detected  # the sync came from a flasher stub left running
        self.stub_image: StubImage | None = None  # the stub started, to start again after a reset
        self.ram_block_size = ROM_RAM_BLOCK_SIZE
        self._security_info = security_info
        self._flash_id: int | None = None

    def __enter__(self) -> Loader:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.connection.close()

    @property
    def flash_block_size(self) -> int:
        return self.dialect.flash_block_size

    @property
    def usb_mode(self) -> str | None:
        """The chip's own USB peripheral carrying the link, or None (an external USB-UART)."""
        return self.connection.usb.mode(self.chip)

    # ------------------------------------------------------------- the request core

    def _request(self, opcode: int, data: bytes = b"", what: str = "", **options) -> bytes:
        _value, reply = self.channel.request(opcode, data, what, **options)
        return reply

    def _refuse_in_secure_mode(self, operation: str) -> None:
        if self.secure_download_mode:
            raise SecureDownloadModeError(
                f"{operation} is not available: the chip is in Secure Download Mode "
                "(only writing and erasing flash and get-security-info are)"
            )

    def _require(self, supported: bool, operation: str, advice: str = "") -> None:
        if not supported:
            raise NotSupportedError(
                f"the {self.chip.chip_name} ROM bootloader cannot {operation}"
                + (f": {advice}" if advice else "")
            )

    # ------------------------------------------------------------------ registers

    def read_reg(self, address: int, timeout: float | None = None) -> int:
        """The 32-bit word at `address` (READ_REG)."""
        self._refuse_in_secure_mode("reading registers or memory")
        return read_register(self.channel, address, timeout)

    def write_reg(
        self, address: int, value: int, mask: int = 0xFFFFFFFF, delay_us: int = 0
    ) -> None:
        """Write the bits of `value` under `mask` to `address`, then wait `delay_us` (WRITE_REG)."""
        self._refuse_in_secure_mode("writing registers or memory")
        self._request(
            Opcode.WRITE_REG,
            struct.pack("<IIII", address, value, mask, delay_us),
            f"write the register at 0x{address:08x}",
        )

    # ----------------------------------------------------------------- RAM download

    def mem_begin(self, size: int, blocks: int, block_size: int, offset: int) -> None:
        self._refuse_in_secure_mode("loading code into RAM")
        self._request(
            Opcode.MEM_BEGIN,
            struct.pack("<IIII", size, blocks, block_size, offset),
            "enter RAM download mode",
        )

    def mem_block(self, data: bytes, seq: int) -> None:
        self._refuse_in_secure_mode("loading code into RAM")
        self._send_data_block(Opcode.MEM_DATA, data, seq, f"write block {seq} to RAM")

    def mem_finish(self, entry: int = 0) -> None:
        """End the RAM download; with an entry point the ROM jumps there (and may never reply)."""
        self._refuse_in_secure_mode("loading code into RAM")
        # The code now running may reset the UART before the reply goes out.
        with contextlib.suppress(ProtocolError, CommandFailed):
            self._request(
                Opcode.MEM_END,
                struct.pack("<II", int(entry == 0), entry),
                "leave RAM download mode",
                timeout=self.settings.mem_end_rom_timeout,
            )

    # -------------------------------------------------------------------- flash writes

    def flash_begin(self, size: int, offset: int, encrypted: bool = False) -> int:
        """Start a flash write of `size` bytes at `offset` (where the dialect erases on begin,
        the region is erased now). Returns the number of `flash_block_size` blocks to send."""
        blocks = -(-size // self.flash_block_size)
        size_word = esp8266_erase_size(offset, size) if self.dialect.erase_size_quirk else size
        self._begin(
            Opcode.FLASH_BEGIN,
            size_word,
            size,
            blocks,
            offset,
            encrypted,
            "enter flash download mode",
        )
        return blocks

    def flash_defl_begin(
        self, size: int, compressed_size: int, offset: int, encrypted: bool = False
    ) -> int:
        """Start a compressed write: `size` bytes once inflated, `compressed_size` sent (where
        the dialect erases on begin, whole blocks' worth are erased now). Returns the number of
        blocks to send."""
        self._require(self.dialect.compressed_writes, "take compressed data", "use --no-compress")
        block = self.flash_block_size
        blocks = -(-compressed_size // block)
        erase_size = -(-size // block) * block
        size_word = erase_size if self.dialect.erases_on_begin else size
        self._begin(
            Opcode.FLASH_DEFL_BEGIN,
            size_word,
            erase_size,
            blocks,
            offset,
            encrypted,
            "enter compressed flash mode",
        )
        return blocks

    def _begin(
        self,
        opcode: Opcode,
        size_word: int,
        erased: int,
        blocks: int,
        offset: int,
        encrypted: bool,
        what: str,
    ) -> None:
        """FLASH_BEGIN / FLASH_DEFL_BEGIN: size, blocks, block size, offset (and the encrypt
        word); a begin that erases `erased` bytes first gets the time that takes."""
        words = struct.pack("<IIII", size_word, blocks, self.flash_block_size, offset)
        if self.dialect.begin_encrypt_word:
            words += struct.pack("<I", int(encrypted))
        elif encrypted:
            self._require(False, "write encrypted data", "use the flasher stub or espsecure")
        timeout = None
        if self.dialect.erases_on_begin:
            timeout = self.settings.timeout_for(self.settings.erase_region_timeout_per_mb, erased)
        self._request(opcode, words, what, timeout=timeout)

    def flash_block(self, data: bytes, seq: int, timeout: float | None = None) -> None:
        self._send_data_block(Opcode.FLASH_DATA, data, seq, f"write block {seq} to flash", timeout)

    def flash_defl_block(self, data: bytes, seq: int, timeout: float | None = None) -> None:
        self._send_data_block(
            Opcode.FLASH_DEFL_DATA, data, seq, f"write compressed block {seq} to flash", timeout
        )

    def _send_data_block(
        self, opcode: Opcode, data: bytes, seq: int, what: str, timeout: float | None = None
    ) -> None:
        """A *_DATA command: length, sequence number, two zero words, the block; checksummed,
        and retried as esptool retries a failed block."""
        self._request(
            opcode,
            struct.pack("<IIII", len(data), seq, 0, 0) + data,
            what,
            checksum=checksum(data),
            timeout=timeout,
            attempts=self.settings.write_block_attempts,
            retry_failures=True,
        )

    def finish_write(self, compressed: bool, timeout: float | None = None) -> None:
        """Wait until the last block of a write is in flash, where the dialect answers that
        (FLASH_END / FLASH_DEFL_END, `timeout` for the last compressed block to program). A ROM
        programs each block before it answers it, and would leave the bootloader on
        FLASH_DEFL_END: nothing to do."""
        if not self.dialect.ends_write_with_answer:
            return
        if not compressed:
            self.flash_finish(reboot=False)
            return
        self._request(
            Opcode.FLASH_DEFL_END,
            struct.pack("<I", 1),
            "leave compressed flash mode",
            timeout=timeout,
        )

    def flash_finish(self, reboot: bool = False) -> None:
        """Leave flash download mode; `reboot` restarts the chip (which may not reply)."""
        try:
            self._request(
                Opcode.FLASH_END, struct.pack("<I", int(not reboot)), "leave flash download mode"
            )
        except ProtocolError:
            if not reboot:
                raise

    # -------------------------------------------------------------------- erasing

    def erase_region(self, offset: int, size: int) -> None:
        """Erase `size` bytes at `offset`: ERASE_REGION, or a FLASH_BEGIN never followed by data
        (every ROM erases the region a FLASH_BEGIN announces, as esptool's erase-region does)."""
        if not self.dialect.erase_commands:
            self.flash_begin(size, offset)
            return
        self._request(
            Opcode.ERASE_REGION,
            struct.pack("<II", offset, size),
            "erase region",
            timeout=self.settings.timeout_for(self.settings.erase_region_timeout_per_mb, size),
        )

    def erase_flash(self, size: int) -> None:
        """Erase the whole flash: ERASE_FLASH, or the first `size` bytes by FLASH_BEGIN."""
        if not self.dialect.erase_commands:
            self.flash_begin(size, 0)
            return
        self._request(
            Opcode.ERASE_FLASH, b"", "erase flash", timeout=self.settings.chip_erase_timeout
        )

    # -------------------------------------------------------------------- reading

    def flash_md5(self, offset: int, size: int) -> bytes:
        """The MD5 digest (16 bytes) of `size` flash bytes at `offset`, computed by the chip."""
        self._refuse_in_secure_mode("computing a flash MD5")
        self._require(self.dialect.flash_md5, "compute an MD5 of flash")
        response = self.channel.request_response(
            Opcode.SPI_FLASH_MD5,
            struct.pack("<IIII", offset, size, 0, 0),
            timeout=self.settings.timeout_for(self.settings.md5_timeout_per_mb, size),
            attempts=2,
        )
        # A ROM answers in hex text; a stub (also one left running under a ROM dialect) in 16
        # raw bytes.
        hex_length = self.dialect.md5_hex_length
        hex_reply = hex_length is not None and len(response.data) >= hex_length + 2
        length = hex_length if hex_reply and hex_length is not None else 16
        _value, digest = self.channel.check(response, "compute the flash MD5", length)
        if not hex_reply:
            return digest
        try:
            return bytes.fromhex(digest.decode("ascii"))
        except ValueError:
            raise ProtocolError(
                f"the chip's MD5 reply is garbled ({digest!r}): the link is unreliable"
            ) from None

    def read_flash(
        self,
        offset: int,
        size: int,
        progress: Callable[[int, int], None] | None = None,
    ) -> bytes:
        """`size` flash bytes from `offset`: streamed and checked by MD5 (a stub), or 64 bytes
        per READ_FLASH_SLOW (the ROM's only read)."""
        block = self.dialect.read_slow_block
        if block is None:
            return read_flash_streamed(self.connection, offset, size, progress)
        self._refuse_in_secure_mode("reading flash")
        self._require(
            self.dialect.can_read, "read flash", "reading flash needs the flasher stub on this chip"
        )
        data = bytearray()
        while len(data) < size:
            length = min(block, size - len(data))
            reply = self._request(
                Opcode.READ_FLASH_SLOW,
                struct.pack("<II", offset + len(data), length),
                f"read flash at 0x{offset + len(data):x}",
                reply_length=block,
                attempts=2,
            )
            data += reply[:length]
            if progress:
                progress(len(data), size)
        return bytes(data)

    # --------------------------------------------------------------- SPI flash setup

    def spi_attach(self, pins: int = 0) -> None:
        """Connect the SPI flash (0: the chip's default pins)."""
        form = self.dialect.spi_attach
        if form is SpiAttachForm.BY_FLASH_BEGIN:
            self.flash_begin(0, 0)
            return
        words = struct.pack("<I", pins)
        if form is SpiAttachForm.PINS_AND_LEGACY_FLAG:
            words += struct.pack("<BBBB", 0, 0, 0, 0)
        self._request(Opcode.SPI_ATTACH, words, "configure SPI flash pins")

    def spi_set_params(self, flash_size: int) -> None:
        """Tell the chip the flash geometry (size in bytes; 64 KB blocks, 4 KB sectors)."""
        if not self.dialect.spi_set_params:
            return  # the ESP8266 ROM has no such command and needs none
        self._request(
            Opcode.SPI_SET_PARAMS,
            struct.pack(
                "<IIIIII",
                0,
                flash_size,
                FLASH_BLOCK_SIZE,
                FLASH_SECTOR_SIZE,
                FLASH_PAGE_SIZE,
                0xFFFF,
            ),
            "set SPI flash parameters",
        )

    # ------------------------------------------------------------- chip facts

    def security_info(self) -> SecurityInfo:
        """GET_SECURITY_INFO (ESP32-S2 and later ROMs; works in Secure Download Mode too)."""
        if self._security_info is None:
            self._security_info = request_security_info(self.channel)
        return self._security_info

    def read_mac(self) -> bytes:
        """The factory MAC address (6 bytes)."""
        self._refuse_in_secure_mode("reading the MAC address")
        mac_facts = self.chip.mac
        self._require(mac_facts is not None, "report a MAC address")
        assert mac_facts is not None
        mac = mac_facts.read(self.read_reg)
        if mac is None:
            raise EspforgeError("the MAC address in OTP has an unknown OUI: cannot tell it")
        return mac

    def read_mac_extension(self) -> bytes | None:
        """The two MAC_EXT bytes chips with an EUI-64 keep beside the MAC; None elsewhere."""
        mac_facts = self.chip.mac
        if mac_facts is None or isinstance(mac_facts, OtpMac) or not mac_facts.has_eui64:
            return None
        self._refuse_in_secure_mode("reading the MAC address")
        return mac_facts.read_extension(self.read_reg)

    def chip_revision(self) -> tuple[int, int]:
        """(major, minor) chip revision from eFuses."""
        self._refuse_in_secure_mode("reading the chip revision")
        fields = self.chip.revision
        self._require(fields is not None, "report its revision")
        assert fields is not None
        return fields.read(self.read_reg)

    def crystal_mhz(self) -> int:
        """The crystal frequency, fixed per chip or estimated from the UART divider."""
        fixed = self.chip.crystal.fixed_mhz
        if fixed is not None:
            return fixed
        self._refuse_in_secure_mode("estimating the crystal frequency")
        return baud_rates.estimate_crystal_mhz(self.chip, self.port.baudrate, self.read_reg)

    # ------------------------------------------------------------------ baud rate

    def change_baud(self, baud: int) -> None:
        """Switch the link to `baud` (CHANGE_BAUDRATE, then the port)."""
        self._require(self.dialect.change_baudrate, "change its baud rate")
        if self.dialect.baud_with_old_rate:
            words = struct.pack("<II", baud, self.port.baudrate)
        else:
            rom_baud = baud_rates.rom_baud_word(
                self.chip, baud, self.read_reg, self.crystal_mhz, self.secure_download_mode
            )
            if rom_baud is None:
                log.warning(
                    "baud rate change is not supported in Secure Download Mode on %s: keeping %d",
                    self.chip.chip_name,
                    self.port.baudrate,
                )
                return
            words = struct.pack("<II", rom_baud, 0)
        self._switch_baud(baud, words)

    def _switch_baud(self, baud: int, words: bytes) -> None:
        """Send CHANGE_BAUDRATE with `words`, then move the port to `baud`."""
        log.info("Changing baud rate to %d...", baud)
        # No status check, as esptool: the reply may already come at the new rate.
        self.channel.send(Opcode.CHANGE_BAUDRATE, words)
        with contextlib.suppress(ProtocolError):
            self.channel.await_response(Opcode.CHANGE_BAUDRATE, self.settings.timeout)
        log.info("Changed.")
        self.link.set_baudrate(baud)
        time.sleep(0.05)  # let the bytes sent around the switch arrive, then drop them
        self.link.discard_input()

    # ------------------------------------------------------------------ flasher stub

    def speak_stub(self, image: StubImage | None) -> None:
        """A flasher stub answers from now on (`image`: the one started, None: one left
        running by an earlier session)."""
        self.dialect = STUB_DIALECT
        self.stub_image = image
        self.link.discard_input()

    def resync(self, before: str, attempts: int) -> None:
        """Reset into download mode and sync again (as `connect()` did); the ROM answers."""
        self.stub_detected = synchronise(self.connection, before, attempts)
        self.dialect = rom_dialect(self.chip)
        self.stub_image = None

    # ------------------------------------------------------------------ leaving

    def soft_reset(self, stay_in_bootloader: bool) -> None:
        """Stay in (or get back to) the ROM bootloader, or run the application in flash.

        The ROM is the bootloader already: running the application is an empty write ended
        without reboot. A stub returns to the ROM by an empty write ended with a reboot, and
        runs the application on RUN_USER_CODE (which it does not answer)."""
        if not self.dialect.replaces_rom:
            if not stay_in_bootloader:
                self.flash_begin(0, 0)
                self.flash_finish(reboot=False)
            return
        if stay_in_bootloader:
            self.flash_begin(0, 0)
            with contextlib.suppress(ProtocolError, CommandFailed):
                self.flash_finish(reboot=True)
            return
        self.channel.send(Opcode.RUN_USER_CODE)
