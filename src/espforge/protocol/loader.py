"""The ROM bootloader client: connect to a chip in download mode and drive its commands.

`connect()` opens the port, resets the chip into download mode, syncs, identifies the chip and
switches to the requested baud rate; the `RomLoader` it returns offers every command the ROM
serves (registers, RAM download, flash writes, MD5, slow reads, raw SPI flash commands) with
esptool 5.6's packets, timeouts and retries. Per-chip differences come from the `ChipSpec`.

Intended differences from esptool 5.6 on the wire (tests/test_protocol_*.py compare the rest
packet for packet):
- GET_SECURITY_INFO is sent once per connection; esptool sends it again after a failure or a
  short (ESP32-S2) reply, and once more for the chip class it settles on.
- A lost reply is followed by a SYNC, whose answer proves every older reply has arrived, before
  the command is sent again; read-only commands (READ_REG, READ_FLASH_SLOW, SPI_FLASH_MD5,
  GET_SECURITY_INFO) are sent again once. esptool resends only data blocks, without a SYNC.
- esptool reads an ESP32-C2's chip revision while connecting (to decide about its flasher
  stub); espforge reads it only when asked. The eFuse words of a chip revision may be read in
  another order or number of times than esptool reads them.
- A hard reset over the chip's own USB port holds and waits with the USB timings on every chip
  (esptool: only on ESP32-C5 over USB-Serial/JTAG and on USB-OTG).
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import struct
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from espforge.chips import CHIP_NAMES, ChipSpec, all_chips, get_chip
from espforge.chips.base import (
    CHIP_DETECT_MAGIC_REG,
    FLASH_BLOCK_SIZE,
    FLASH_PAGE_SIZE,
    FLASH_SECTOR_SIZE,
    ROM_RAM_BLOCK_SIZE,
    USB_OTG_RAM_BLOCK_SIZE,
    FlashPowerOn,
    OtpMac,
    RegisterUpdate,
)
from espforge.config import Settings, load_settings
from espforge.errors import (
    CommandFailed,
    ConnectError,
    EspforgeError,
    NotSupportedError,
    PortError,
    ProtocolError,
    SecureDownloadModeError,
    UnsupportedCommandError,
    WrongChipError,
)
from espforge.link import reset as resets
from espforge.link.port import (
    ESPRESSIF_VID,
    FLOW_CONTROL_BRIDGES,
    ROM_BAUD,
    USB_JTAG_SERIAL_PID,
    candidate_ports,
    open_port,
    parse_port_filter,
    usb_ids,
)
from espforge.link.reader import FrameLink
from espforge.logs import library_logger
from espforge.protocol.channel import CommandChannel
from espforge.protocol.commands import Opcode, checksum
from espforge.protocol.diagnose import diagnose_no_sync
from espforge.protocol.spiflash import SpiFlashCommands

log = library_logger(__name__)
trace_log = logging.getLogger("espforge.trace")

SYNC_TRIES_PER_ATTEMPT = 5

# GET_SECURITY_INFO flag bits, the same on every ROM.
SECURITY_FLAGS = {
    "SECURE_BOOT_EN": 1 << 0,
    "SECURE_BOOT_AGGRESSIVE_REVOKE": 1 << 1,
    "SECURE_DOWNLOAD_ENABLE": 1 << 2,
    "SECURE_BOOT_KEY_REVOKE0": 1 << 3,
    "SECURE_BOOT_KEY_REVOKE1": 1 << 4,
    "SECURE_BOOT_KEY_REVOKE2": 1 << 5,
    "SOFT_DIS_JTAG": 1 << 6,
    "HARD_DIS_JTAG": 1 << 7,
    "DIS_USB": 1 << 8,
    "DIS_DOWNLOAD_DCACHE": 1 << 9,
    "DIS_DOWNLOAD_ICACHE": 1 << 10,
}
_FULL_SECURITY_INFO = struct.Struct("<IB7BII")  # flags, crypt count, key purposes, id, API
_SHORT_SECURITY_INFO = struct.Struct("<IB7B")  # ESP32-S2: no chip id / API version

# The global option commands that stay available in Secure Download Mode (esptool's list).
SECURE_DOWNLOAD_MODE_COMMANDS = ("get-security-info", "write-flash", "erase-region")

WATCHDOG_TIMEOUT_TICKS = 2000
WATCHDOG_ENABLE = (1 << 31) | (5 << 28) | (1 << 8) | 2  # on, system reset stage, 2-cycle pulse


@dataclass(frozen=True)
class SecurityInfo:
    """GET_SECURITY_INFO's answer."""

    flags: int
    flash_crypt_cnt: int
    key_purposes: tuple[int, ...]
    chip_id: int | None  # None on ESP32-S2, whose ROM sends the short form
    api_version: int | None

    @classmethod
    def parse(cls, data: bytes) -> SecurityInfo:
        if len(data) >= _FULL_SECURITY_INFO.size:
            flags, count, *rest = _FULL_SECURITY_INFO.unpack_from(data)
            return cls(flags, count, tuple(rest[:7]), rest[7], rest[8])
        flags, count, *purposes = _SHORT_SECURITY_INFO.unpack_from(data)
        return cls(flags, count, tuple(purposes), None, None)

    def flag(self, name: str) -> bool:
        return bool(self.flags & SECURITY_FLAGS[name])

    @property
    def flag_states(self) -> dict[str, bool]:
        return {name: self.flag(name) for name in SECURITY_FLAGS}

    @property
    def secure_download_mode(self) -> bool:
        return self.flag("SECURE_DOWNLOAD_ENABLE")

    @property
    def flash_encryption_enabled(self) -> bool:
        return bin(self.flash_crypt_cnt).count("1") % 2 == 1


def esp8266_erase_size(offset: int, size: int) -> int:
    """The erase size to send so the ESP8266 ROM's FLASH_BEGIN erases `size` bytes.

    Its ROM erases the sectors up to the next 64 KB boundary twice over, so asking for
    roughly half of those (esptool's adjustment) gets the intended region erased.
    """
    sectors_per_block = 16
    sectors = (size + FLASH_SECTOR_SIZE - 1) // FLASH_SECTOR_SIZE
    head = min(sectors, sectors_per_block - (offset // FLASH_SECTOR_SIZE) % sectors_per_block)
    if sectors < 2 * head:
        return (sectors + 1) // 2 * FLASH_SECTOR_SIZE
    return (sectors - head) * FLASH_SECTOR_SIZE


class RomLoader(SpiFlashCommands):
    """A connected chip's ROM bootloader. Build it with `connect()`."""

    def __init__(
        self,
        port,
        chip: ChipSpec,
        settings: Settings | None = None,
        trace: bool = False,
        port_name: str | None = None,
    ) -> None:
        self.port = port
        self.port_name = port_name or str(getattr(port, "port", "") or "")
        self.chip = chip
        self.settings = settings or Settings()
        self.link = FrameLink(port, trace_log.info if trace else None)
        self.channel = CommandChannel(self.link, self.settings, self.link.trace)
        self.secure_download_mode = False
        self.stub_detected = False  # the sync came from a flasher stub left running
        self.flash_block_size = chip.rom_flash_write_size
        self.ram_block_size = ROM_RAM_BLOCK_SIZE
        self._usb_ids: tuple[int | None, int | None] | None = None
        self._security_info: SecurityInfo | None = None
        self._flash_id: int | None = None

    def __enter__(self) -> RomLoader:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.port.close()

    # ------------------------------------------------------------- port identity

    @property
    def usb_ids(self) -> tuple[int | None, int | None]:
        """The port's USB (VID, PID); (None, None) for URLs and ports without USB identity."""
        if self._usb_ids is None:
            self._usb_ids = usb_ids(self.port_name)
        return self._usb_ids

    def uses_usb_jtag_serial(self) -> bool:
        return self.usb_ids == (ESPRESSIF_VID, USB_JTAG_SERIAL_PID)

    def uses_usb_otg(self) -> bool:
        return self.usb_ids == (ESPRESSIF_VID, self.chip.image_chip_id)

    @property
    def usb_mode(self) -> str | None:
        """The chip's own USB peripheral carrying the link, or None (an external USB-UART)."""
        if self.uses_usb_jtag_serial():
            return "USB-Serial/JTAG"
        return "USB-OTG" if self.uses_usb_otg() else None

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
        return self._read_reg(address, timeout)

    def _read_reg(self, address: int, timeout: float | None = None) -> int:
        value, _ = self.channel.request(
            Opcode.READ_REG,
            struct.pack("<I", address),
            f"read the register at 0x{address:08x}",
            timeout=timeout,
            attempts=2,  # a read can be repeated safely when its reply is lost
        )
        return value

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

    # -------------------------------------------------------------------- flash

    def _begin_words(self, erase_size: int, blocks: int, offset: int, encrypted: bool) -> bytes:
        words = struct.pack("<IIII", erase_size, blocks, self.flash_block_size, offset)
        if self.chip.rom.flash_begin_encrypted_word:
            words += struct.pack("<I", int(encrypted))
        elif encrypted:
            self._require(False, "write encrypted data", "use the flasher stub or espsecure")
        return words

    def flash_begin(self, size: int, offset: int, encrypted: bool = False) -> int:
        """Start a flash write of `size` bytes at `offset`; the ROM erases the region now.
        Returns the number of `flash_block_size` blocks to send."""
        blocks = (size + self.flash_block_size - 1) // self.flash_block_size
        erase_size = esp8266_erase_size(offset, size) if self.chip.rom.erase_size_quirk else size
        self._request(
            Opcode.FLASH_BEGIN,
            self._begin_words(erase_size, blocks, offset, encrypted),
            "enter flash download mode",
            timeout=self.settings.timeout_for(self.settings.erase_region_timeout_per_mb, size),
        )
        return blocks

    def flash_block(self, data: bytes, seq: int, timeout: float | None = None) -> None:
        self._send_data_block(Opcode.FLASH_DATA, data, seq, f"write block {seq} to flash", timeout)

    def flash_finish(self, reboot: bool = False) -> None:
        """Leave flash download mode; `reboot` restarts the chip (which may not reply)."""
        try:
            self._request(
                Opcode.FLASH_END, struct.pack("<I", int(not reboot)), "leave flash download mode"
            )
        except ProtocolError:
            if not reboot:
                raise

    def flash_defl_begin(
        self, size: int, compressed_size: int, offset: int, encrypted: bool = False
    ) -> int:
        """Start a compressed write: `size` bytes once inflated, `compressed_size` sent.
        The ROM erases whole blocks' worth now. Returns the number of blocks to send."""
        self._require(self.chip.rom.compressed_writes, "take compressed data", "use --no-compress")
        block = self.flash_block_size
        blocks = (compressed_size + block - 1) // block
        erase_size = (size + block - 1) // block * block
        self._request(
            Opcode.FLASH_DEFL_BEGIN,
            self._begin_words(erase_size, blocks, offset, encrypted),
            "enter compressed flash mode",
            timeout=self.settings.timeout_for(
                self.settings.erase_region_timeout_per_mb, erase_size
            ),
        )
        return blocks

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

    def flash_defl_finish(self, reboot: bool = False) -> None:
        # A ROM leaves the bootloader on FLASH_DEFL_END, so it is only sent to reboot.
        if not reboot:
            return
        with contextlib.suppress(ProtocolError):  # the chip restarts and may not reply
            self._request(
                Opcode.FLASH_DEFL_END, struct.pack("<I", 0), "leave compressed flash mode"
            )

    def flash_md5(self, offset: int, size: int) -> bytes:
        """The MD5 digest (16 bytes) of `size` flash bytes at `offset`, computed by the chip."""
        self._refuse_in_secure_mode("computing a flash MD5")
        self._require(self.chip.rom.flash_md5, "compute an MD5 of flash")
        response = self.channel.request_response(
            Opcode.SPI_FLASH_MD5,
            struct.pack("<IIII", offset, size, 0, 0),
            timeout=self.settings.timeout_for(self.settings.md5_timeout_per_mb, size),
            attempts=2,
        )
        # A ROM answers in hex text; a flasher stub left running answers 16 raw bytes.
        hex_length = self.chip.rom.md5_hex_length
        length = hex_length if len(response.data) >= hex_length + 2 else 16
        _value, digest = self.channel.check(response, "compute the flash MD5", length)
        if length == 16:
            return digest
        try:
            return bytes.fromhex(digest.decode("ascii"))
        except ValueError:
            raise ProtocolError(
                f"the chip's MD5 reply is garbled ({digest!r}): the link is unreliable"
            ) from None

    def read_flash_slow(
        self,
        offset: int,
        size: int,
        progress: Callable[[int, int], None] | None = None,
    ) -> bytes:
        """`size` flash bytes from `offset`, 64 bytes per READ_FLASH_SLOW (the ROM's only read)."""
        self._refuse_in_secure_mode("reading flash")
        self._require(
            self.chip.rom.read_flash_slow,
            "read flash",
            "reading flash needs the flasher stub on this chip",
        )
        block = self.chip.rom.read_slow_block
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

    def spi_attach(self, pins: int = 0) -> None:
        """Connect the SPI flash (0: the chip's default pins)."""
        if not self.chip.rom.spi_attach:
            self.flash_begin(0, 0)  # the ESP8266 ROM attaches the flash on FLASH_BEGIN
            return
        # The ROM takes a second word whose first byte is an "is legacy" flag, left 0.
        self._request(
            Opcode.SPI_ATTACH, struct.pack("<IBBBB", pins, 0, 0, 0, 0), "configure SPI flash pins"
        )

    def spi_set_params(self, flash_size: int) -> None:
        """Tell the ROM the flash geometry (size in bytes; 64 KB blocks, 4 KB sectors)."""
        if not self.chip.rom.spi_set_params:
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
            response = self.channel.request_response(Opcode.GET_SECURITY_INFO, attempts=2)
            # The reply's length tells the full form from ESP32-S2's short one.
            full = len(response.data) >= _FULL_SECURITY_INFO.size + 2
            length = (_FULL_SECURITY_INFO if full else _SHORT_SECURITY_INFO).size
            _value, data = self.channel.check(response, "get security info", length)
            self._security_info = SecurityInfo.parse(data)
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
        crystal = self.chip.crystal
        if crystal.fixed_mhz is not None:
            return crystal.fixed_mhz
        self._refuse_in_secure_mode("estimating the crystal frequency")
        divider = self.read_reg(self.chip.uart_clkdiv_reg)
        estimate = crystal.estimate_mhz(self.port.baudrate, divider)
        normalised = crystal.normalised_mhz(self.port.baudrate, divider)
        if abs(normalised - estimate) > 1:
            log.warning(
                "detected crystal frequency %.2f MHz is far from %d MHz: unsupported crystal?",
                estimate,
                normalised,
            )
        return normalised

    # ------------------------------------------------------------------ baud rate

    def change_baud(self, baud: int) -> None:
        """Switch the link to `baud` (CHANGE_BAUDRATE, then the port)."""
        self._require(self.chip.rom.change_baudrate, "change its baud rate")
        rom_baud = self._baud_as_rom_counts(baud)
        if rom_baud is None:
            log.warning(
                "baud rate change is not supported in Secure Download Mode on %s: keeping %d",
                self.chip.chip_name,
                self.port.baudrate,
            )
            return
        self._switch_baud(baud, struct.pack("<II", rom_baud, 0))

    def _switch_baud(self, baud: int, request: bytes) -> None:
        """Send CHANGE_BAUDRATE with `request`, then move the port to `baud`."""
        log.info("Changing baud rate to %d...", baud)
        # No status check, as esptool: the reply may already come at the new rate.
        self.channel.send(Opcode.CHANGE_BAUDRATE, request)
        with contextlib.suppress(ProtocolError):
            self.channel.await_response(Opcode.CHANGE_BAUDRATE, self.settings.timeout)
        log.info("Changed.")
        self.port.baudrate = baud
        time.sleep(0.05)  # let the bytes sent around the switch arrive, then drop them
        self.link.discard_input()

    def _baud_as_rom_counts(self, baud: int) -> int | None:
        """The baud word to send: ROMs that time their UART from an assumed clock need the
        request scaled by assumed/actual. None: the change cannot be made (see caller)."""
        crystal = self.chip.crystal
        if crystal.rom_calibration is not None:
            rom_hz = crystal.rom_calibration.rom_crystal_hz(self.read_reg)
            real_hz = 40e6 if rom_hz > 33e6 else 26e6
            return int(baud * rom_hz // real_hz)
        if crystal.rom_assumed_mhz is not None:
            if self.secure_download_mode:
                return None
            actual = self.crystal_mhz()
            return baud * crystal.rom_assumed_mhz // actual if actual == 26 else baud
        if crystal.rom_assumed_field is not None and not self.secure_download_mode:
            field = crystal.rom_assumed_field
            assumed = field.extract(self.read_reg(field.address))
            actual = self.crystal_mhz()
            log.info("ROM expects crystal freq: %d MHz, detected %d MHz.", assumed, actual)
            if {assumed, actual} == {40, 48}:
                return baud * assumed // actual
        return baud

    # ---------------------------------------------------------------------- resets

    def hard_reset(self) -> None:
        """Restart the chip into its application (EN pulse, or a watchdog over USB-OTG)."""
        strap = self.chip.download_strap
        if strap is not None and strap.clear_force_download_on_hard_reset:
            # An application may have forced the next boot into download mode; undo that so
            # the reset boots it again. Best effort: the chip may be busy resetting already.
            with contextlib.suppress(EspforgeError):
                self.write_reg(strap.option1_reg, 0, strap.force_download_mask)
        if self.uses_usb_otg() and self._watchdog_restarts_into_app():
            self.watchdog_reset()
            return
        custom = self.settings.custom_hard_reset_sequence
        if custom is not None:
            resets.run_reset_sequence(self.port, resets.parse_reset_sequence(custom))
            log.info("Custom reset sequence executed: %s", custom)
            return
        log.info("Hard resetting via RTS pin...")
        strategy = resets.ResetStrategy(
            "hard",
            lambda port: resets.hard_reset(
                port,
                uses_usb=self.uses_usb_otg() or self.uses_usb_jtag_serial(),
                flow_control=self.usb_ids in FLOW_CONTROL_BRIDGES,
            ),
        )
        resets.perform_reset(self.port, strategy)

    def _watchdog_restarts_into_app(self) -> bool:
        # Over the chip's own USB-OTG port RTS cannot reset it; a watchdog can, but it boots
        # the application only if the boot strap is not holding it in download mode.
        if not (self.chip.watchdog_reset_supported and self.chip.watchdog):
            return False
        strap = self.chip.download_strap
        if strap is None or self.secure_download_mode:
            return not self.secure_download_mode
        strapped_for_flash = self._read_reg(strap.gpio_strap_reg) & strap.spi_boot_mask
        forced = self._read_reg(strap.option1_reg) & strap.force_download_mask
        return not strapped_for_flash and not forced

    def watchdog_reset(self) -> None:
        """Restart through the RTC watchdog (chips whose USB port cannot be reset by RTS)."""
        watchdog = self.chip.watchdog
        if self.secure_download_mode or not (self.chip.watchdog_reset_supported and watchdog):
            log.warning(
                "watchdog reset is not available on %s%s: hard resetting instead",
                self.chip.chip_name,
                " in Secure Download Mode" if self.secure_download_mode else "",
            )
            self.hard_reset()
            return
        log.info("Hard resetting with a watchdog...")
        self.write_reg(watchdog.wdt_protect, watchdog.wdt_key)
        self.write_reg(watchdog.wdt_config1, WATCHDOG_TIMEOUT_TICKS)
        self.write_reg(watchdog.wdt_config0, WATCHDOG_ENABLE)
        self.write_reg(watchdog.wdt_protect, 0)
        time.sleep(0.5)

    def soft_reset(self, stay_in_bootloader: bool) -> None:
        """The ROM is the bootloader already; leaving it means "run the user code"."""
        if stay_in_bootloader:
            return
        self.flash_begin(0, 0)
        self.flash_finish(reboot=False)

    def run_reset(self, after: str) -> None:
        """What `--after` asks for once the work is done."""
        if after == "hard-reset":
            self.hard_reset()
        elif after == "soft-reset":
            log.info("Soft resetting...")
            self.soft_reset(stay_in_bootloader=False)
        elif after == "watchdog-reset":
            self.watchdog_reset()
        elif after == "no-reset":
            log.info("Staying in bootloader.")
        elif after == "no-reset-stub":
            log.info("Staying in flasher stub.")
        else:
            raise EspforgeError(
                f"unknown --after '{after}': choose one of {', '.join(resets.AFTER_CHOICES)}"
            )

    # ------------------------------------------------------------- connecting

    def synchronise(self, before: str = "default-reset", attempts: int = 7) -> None:
        """Reset into download mode (as `before` says) and sync, `attempts` times over
        (0 or less: until it works); a ConnectError says what the chip printed meanwhile."""
        if before not in resets.BEFORE_CHOICES:
            raise EspforgeError(
                f"unknown --before '{before}': choose one of {', '.join(resets.BEFORE_CHOICES)}"
            )
        if before == "no-reset-no-sync":
            return
        if self.port_name.startswith("socket:") and before != "no-reset":
            log.info("A TCP socket cannot reset the chip: put it into download mode by hand.")
            before = "no-reset"
        log.info("Connecting...")
        strategies = self._bootloader_resets(before)
        tries = range(attempts) if attempts > 0 else iter(int, 1)
        for number, _ in enumerate(tries):
            if self._connect_attempt(before, strategies[number % len(strategies)]):
                return
        output = self.link.take_chip_output()
        raise ConnectError(
            f"could not connect to the chip on {self.port_name}: "
            + diagnose_no_sync(output, self.port_name),
            output,
        )

    def _bootloader_resets(self, before: str) -> list[resets.ResetStrategy]:
        if before == "no-reset":
            return [resets.ResetStrategy("none", lambda port: None)]
        return resets.bootloader_resets(
            before,
            usb_jtag_serial=self.usb_ids[1] == USB_JTAG_SERIAL_PID,
            flow_control=self.usb_ids in FLOW_CONTROL_BRIDGES,
            reset_delay=self.settings.reset_delay,
            custom_sequence=self.settings.custom_reset_sequence,
            tight_possible=not self.port_name.startswith("rfc2217:"),
        )

    def _connect_attempt(self, before: str, strategy: resets.ResetStrategy) -> bool:
        if before != "no-reset":
            if not self.port_name.startswith("rfc2217:"):  # may block on RFC 2217 ports
                self.link.discard_input()
            resets.perform_reset(self.port, strategy)
            self.link.read_waiting()  # the boot message, kept for the diagnosis
        for _ in range(SYNC_TRIES_PER_ATTEMPT):
            self.link.discard_input()
            self.port.reset_output_buffer()
            try:
                self.stub_detected = self.channel.sync()
                return True
            except ProtocolError:
                time.sleep(0.05)
        return False

    def identify(self) -> tuple[ChipSpec | None, str]:
        """The chip as its ROM reports it: by GET_SECURITY_INFO's chip id where the ROM has
        it, else by the magic word in ROM (esptool's order). Also notes Secure Download Mode.
        Returns the chip (None when unknown) and what was read, for messages."""
        try:
            info: SecurityInfo | None = self.security_info()
        except (CommandFailed, ProtocolError):
            info = None  # ESP8266 and ESP32 ROMs have no GET_SECURITY_INFO
        if info is not None:
            self.secure_download_mode = info.secure_download_mode
            if info.chip_id is not None:
                chip = _first(
                    c
                    for c in all_chips()
                    if not c.uses_magic_value and c.image_chip_id == info.chip_id
                )
                return chip, f"chip id {info.chip_id}"
        try:
            magic = self._read_reg(CHIP_DETECT_MAGIC_REG)
        except UnsupportedCommandError:
            # Only a ROM with the short security info refuses READ_REG: in Secure Download Mode.
            self.secure_download_mode = True
            chip = _first(
                c for c in all_chips() if c.uses_magic_value and c.security_info_supported
            )
            return chip, "no magic value (registers are locked in Secure Download Mode)"
        chip = _first(c for c in all_chips() if c.uses_magic_value and c.magic_value == magic)
        return chip, f"magic value 0x{magic:08x}"

    def after_connect(self) -> None:
        """esptool's post-connect setup: smaller RAM blocks when the link may be the chip's
        own USB-OTG port, the watchdogs tamed on a USB-Serial/JTAG link, and the flash
        powered on chip revisions that start with it off."""
        if self.chip.usb_otg_supported and (self.uses_usb_otg() or self.usb_ids == (None, None)):
            self.ram_block_size = USB_OTG_RAM_BLOCK_SIZE
        watchdog = self.chip.watchdog
        if (
            watchdog is not None
            and watchdog.swd_config is not None
            and self.uses_usb_jtag_serial()
            and not self.secure_download_mode
            and not self.stub_detected
        ):
            # These watchdogs keep running on a USB-Serial/JTAG link and would reset the chip.
            self.write_reg(watchdog.wdt_protect, watchdog.wdt_key)
            self.write_reg(watchdog.wdt_config0, 0)
            self.write_reg(watchdog.wdt_protect, 0)
            assert watchdog.swd_protect is not None and watchdog.swd_key is not None
            self.write_reg(watchdog.swd_protect, watchdog.swd_key)
            auto_feed = self.read_reg(watchdog.swd_config) | (watchdog.swd_auto_feed or 0)
            self.write_reg(watchdog.swd_config, auto_feed)
            self.write_reg(watchdog.swd_protect, 0)
        if self.chip.flash_power_on is not None and not self.secure_download_mode:
            self._power_on_flash(self.chip.flash_power_on)

    def _power_on_flash(self, power: FlashPowerOn) -> None:
        """Switch on the flash supply of chip revisions that start with it off."""
        major, minor = self.chip_revision()
        revision = major * 100 + minor
        if revision not in power.revisions:
            return
        field = power.rom_powered_field
        rom_powered = (
            revision in power.rom_powered_revisions
            and field is not None
            and field.extract(self.read_reg(field.address))
        )
        # When the ROM powered the flash already, only its leftovers are tidied up.
        for step in power.rom_powered_steps if rom_powered else power.steps:
            self._update_register(step)

    def _update_register(self, step: RegisterUpdate) -> None:
        if step.value is not None:
            self.write_reg(step.address, step.value)
        else:
            current = self.read_reg(step.address)
            if current & step.when_all_set == step.when_all_set:
                self.write_reg(step.address, (current & ~step.clear_bits) | step.set_bits)
        if step.delay:
            time.sleep(step.delay)


def _first(chips: Iterable[ChipSpec]) -> ChipSpec | None:
    return next(iter(chips), None)


# ---------------------------------------------------------------------- connect()


def connect(
    port: str | None,
    chip: str = "auto",
    baud: int = ROM_BAUD,
    before: str = "default-reset",
    connect_attempts: int = 7,
    trace: bool = False,
    port_filter: Iterable[str] = (),
    settings: Settings | None = None,
) -> RomLoader:
    """Connect to a chip in download mode and return its loader, at `baud` where the ROM can.

    With `port` None, every candidate port (esptool's order, narrowed by `port_filter` terms
    such as "vid=0x303A") is tried in turn until one connects.
    """
    settings = settings or load_settings()
    if chip != "auto":
        get_chip(chip)  # an unknown name fails before any port is opened
    if port is not None:
        return _connect_retrying(port, chip, baud, before, connect_attempts, trace, settings)
    ports = candidate_ports(parse_port_filter(port_filter))
    failures: list[str] = []
    for candidate in ports:
        try:
            return _connect_port(candidate, chip, baud, before, connect_attempts, trace, settings)
        except (ConnectError, PortError, ProtocolError) as error:
            log.warning("%s failed to connect: %s", candidate, error)
            failures.append(candidate)
    if not ports:
        raise PortError(
            "no serial ports found: connect the board (check the cable carries data) or name "
            "the port with --port",
            "none-found",
        )
    raise ConnectError(
        f"could not connect to an Espressif chip on any of the {len(ports)} serial ports "
        f"found ({', '.join(failures)}): name one with --port to see why"
    )


def _connect_retrying(
    port_name: str,
    chip: str,
    baud: int,
    before: str,
    connect_attempts: int,
    trace: bool,
    settings: Settings,
) -> RomLoader:
    """esptool's `open_port_attempts`: keep opening a port that is not there yet (a board
    being plugged in, a USB port re-enumerating); 0 or less tries forever."""
    tries = settings.open_port_attempts
    if tries != 1 and chip == "auto":
        log.warning("open_port_attempts only applies when both the port and the chip are given")
        tries = 1
    for number in itertools.count():
        try:
            return _connect_port(port_name, chip, baud, before, connect_attempts, trace, settings)
        except (ConnectError, PortError, ProtocolError) as error:
            if 0 < tries <= number + 1:
                raise
            if number == 0:
                log.info("%s; retrying...", error)
            time.sleep(0.1)
    raise AssertionError("unreachable: the loop returns or raises")


def _connect_port(
    port_name: str,
    chip: str,
    baud: int,
    before: str,
    connect_attempts: int,
    trace: bool,
    settings: Settings,
) -> RomLoader:
    serial_port = open_port(port_name, sync_baud(baud, before), settings.serial_write_timeout)
    try:
        return connect_over(
            serial_port, chip, baud, before, connect_attempts, trace, settings, port_name
        )
    except BaseException:
        serial_port.close()
        raise


def sync_baud(baud: int, before: str = "default-reset") -> int:
    """The rate to open the port at: the ROM detects the rate of the sync, which esptool keeps
    at 115200 or below; faster rates come afterwards, through CHANGE_BAUDRATE."""
    return baud if before == "no-reset-no-sync" else min(baud, ROM_BAUD)


def connect_over(
    serial_port,
    chip: str = "auto",
    baud: int = ROM_BAUD,
    before: str = "default-reset",
    connect_attempts: int = 7,
    trace: bool = False,
    settings: Settings | None = None,
    port_name: str | None = None,
) -> RomLoader:
    """`connect()` over a pyserial port the caller opened (at `sync_baud(baud, before)`);
    the caller keeps ownership of the port when this fails."""
    requested = None if chip == "auto" else get_chip(chip)
    # Syncing and identifying need no chip facts; the loader learns its chip right after.
    placeholder = requested or get_chip(CHIP_NAMES[1])
    loader = RomLoader(serial_port, placeholder, settings, trace, port_name)
    loader.synchronise(before, connect_attempts)
    loader.chip = _settle_chip(loader, requested)
    loader.flash_block_size = loader.chip.rom_flash_write_size
    loader.after_connect()
    if baud > serial_port.baudrate:
        try:
            loader.change_baud(baud)
        except NotSupportedError:
            log.warning(
                "ROM doesn't support changing baud rate. Keeping initial baud rate %d.",
                serial_port.baudrate,
            )
    return loader


def _settle_chip(loader: RomLoader, requested: ChipSpec | None) -> ChipSpec:
    detected, evidence = loader.identify()
    if requested is None:
        if detected is None:
            raise ConnectError(
                f"unexpected {evidence}: the chip is not one espforge knows "
                f"({', '.join(CHIP_NAMES)}); is a newer esptool needed?"
            )
        return detected
    if detected is None:
        log.warning(
            "this chip doesn't appear to be an %s (%s); continuing anyway",
            requested.chip_name,
            evidence,
        )
        return requested
    if detected != requested:
        raise WrongChipError(
            f"this chip is {detected.chip_name}, not {requested.chip_name}: "
            f"give --chip {detected.name} (or --chip auto)"
        )
    return detected
