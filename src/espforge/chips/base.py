"""The shape of a chip's facts: each chip module fills one `ChipSpec`; no code branches on names."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Literal

# A way to read a 32-bit register of the chip (READ_REG, or a virtual chip's register file).
RegisterReader = Callable[[int], int]

# The ROM word at this address differs per chip model; ESP8266, ESP32 and ESP32-S2 are told
# apart by it (the later ROMs report a chip id through GET_SECURITY_INFO instead).
CHIP_DETECT_MAGIC_REG = 0x40001000

# ROM transfer block sizes: RAM (MEM_DATA) blocks, and the cap when the chip's own USB-OTG
# peripheral carries the link.
ROM_RAM_BLOCK_SIZE = 0x1800
USB_OTG_RAM_BLOCK_SIZE = 0x800

# NOR flash geometry every chip's flash shares: the smallest erase (a sector), the large erase
# (a block) and the program page. Writes erase whole sectors.
FLASH_SECTOR_SIZE = 0x1000
FLASH_BLOCK_SIZE = 0x10000
FLASH_PAGE_SIZE = 0x100

# The UART clock divider register holds the divider in its low 20 bits.
UART_CLKDIV_MASK = 0xFFFFF

# Bits of the SPI flash controller every chip shares (esptool's run_spiflash_command):
# writing SPI_CMD_USR to the CMD register starts a "user" transaction; the controller clears
# it when done. The USR register says which phases the transaction has.
SPI_CMD_USR = 1 << 18
SPI_USR_COMMAND = 1 << 31
SPI_USR_ADDR = 1 << 30
SPI_USR_DUMMY = 1 << 29
SPI_USR_MISO = 1 << 28
SPI_USR_MOSI = 1 << 27
# USR2: command bit-length minus one at bit 28 (7 for an 8-bit opcode), opcode in the low bits.
SPI_USR2_COMMAND_LEN_SHIFT = 28
# USR1: address bit-length minus one at bit 26, dummy cycles minus one in the low bits.
SPI_USR1_ADDR_LEN_SHIFT = 26
# ESP8266 only (no MOSI/MISO_DLEN registers): USR1 also holds the data bit-lengths minus one.
SPI_USR1_LEGACY_MOSI_BITLEN_SHIFT = 17
SPI_USR1_LEGACY_MISO_BITLEN_SHIFT = 8


@dataclass(frozen=True)
class MemoryRegion:
    """A named address range of the chip's memory map, [start, end)."""

    start: int
    end: int
    name: str

    def contains(self, address: int) -> bool:
        return self.start <= address < self.end


@dataclass(frozen=True)
class SpiRegisters:
    """The SPI flash controller registers the ROM protocol pokes for raw flash commands.

    Offsets are from `base`. The CMD register is at +0x0 and the address register at +0x4 on
    every chip; data goes out from and comes back into W0, W1, ... (16 words).
    """

    base: int
    usr_offs: int
    usr1_offs: int
    usr2_offs: int
    w0_offs: int
    # MOSI/MISO data bit-length (minus one) registers; None on ESP8266, which keeps the
    # lengths in USR1 (see SPI_USR1_LEGACY_*).
    mosi_dlen_offs: int | None = None
    miso_dlen_offs: int | None = None
    # True: an address of n bits is sent from the register's MSB (the host shifts it left by
    # 32 - n); False (ESP32-S2 and later): from the low n bits as written.
    addr_msb_aligned: bool = True
    cmd_offs: int = 0x0
    addr_offs: int = 0x4

    @property
    def cmd_reg(self) -> int:
        return self.base + self.cmd_offs

    @property
    def addr_reg(self) -> int:
        return self.base + self.addr_offs

    @property
    def usr_reg(self) -> int:
        return self.base + self.usr_offs

    @property
    def usr1_reg(self) -> int:
        return self.base + self.usr1_offs

    @property
    def usr2_reg(self) -> int:
        return self.base + self.usr2_offs

    @property
    def w0_reg(self) -> int:
        return self.base + self.w0_offs


@dataclass(frozen=True)
class RegisterField:
    """A bit field of a 32-bit register: `(word >> shift) & (2**width - 1)` at `address`."""

    address: int
    shift: int
    width: int

    @property
    def mask(self) -> int:
        return (1 << self.width) - 1

    def extract(self, word: int) -> int:
        return (word >> self.shift) & self.mask

    def insert(self, word: int, value: int) -> int:
        """`word` with this field replaced by `value` (truncated to the field's width)."""
        cleared = word & ~(self.mask << self.shift) & 0xFFFFFFFF
        return cleared | ((value & self.mask) << self.shift)


def read_joined(fields: tuple[RegisterField, ...], read_reg: RegisterReader) -> int:
    """The value made of `fields` put side by side, the first one most significant."""
    value = 0
    for field in fields:
        value = (value << field.width) | field.extract(read_reg(field.address))
    return value


@dataclass(frozen=True)
class RomProtocol:
    """How the chip's ROM bootloader speaks the serial protocol (ROM only, not a stub)."""

    # Status bytes ending every response: 2 on the ESP8266 ROM, 4 on later ROMs (last 2
    # reserved). Only the first two (failed flag, error code) carry meaning.
    status_length: int
    # FLASH_BEGIN / FLASH_DEFL_BEGIN take a 5th word (1 = encrypted write); the ESP8266 and
    # ESP32 ROMs take the 4-word form only.
    flash_begin_encrypted_word: bool
    # Which optional commands the ROM serves; the others answer status 1, error 0x05.
    compressed_writes: bool  # FLASH_DEFL_BEGIN/DATA/END
    flash_md5: bool  # SPI_FLASH_MD5, answered as 32 ASCII hex digits by ROMs
    read_flash_slow: bool  # READ_FLASH_SLOW, 64 bytes per command
    change_baudrate: bool  # CHANGE_BAUDRATE (new baud, 0)
    spi_attach: bool  # SPI_ATTACH (pin word, then 4 bytes: is-legacy flag 0 and 3 zeros)
    spi_set_params: bool  # SPI_SET_PARAMS
    # Bytes of GET_SECURITY_INFO's answer before the status: 20 (flags u32, flash_crypt_cnt u8,
    # 7 key purposes u8, chip id u32, API version u32) or 12 on ESP32-S2 (no chip id/API
    # version); None when the ROM lacks the command.
    security_info_length: int | None
    # The ESP8266 ROM's FLASH_BEGIN erases more than asked (it counts the sectors up to the
    # next 64 KB boundary twice); hosts send a smaller erase size to compensate.
    erase_size_quirk: bool = False
    # SPI_FLASH_MD5 answer length from a ROM (hex text); a stub sends 16 raw bytes instead.
    md5_hex_length: int = 32
    # READ_FLASH_SLOW answers this many bytes whatever length was asked.
    read_slow_block: int = 64
    # SYNC is answered with this many identical responses (value field non-zero).
    sync_responses: int = 8


@dataclass(frozen=True)
class EfuseMac:
    """The factory MAC in two eFuse words.

    MAC bytes 0-1 are bits 15..0 of the high word, bytes 2-5 the low word, both big-endian
    (the high word's upper 16 bits hold a CRC on ESP32, the EUI-64 extension on some chips).
    """

    low_word: int  # register address
    high_word: int  # register address
    # read-mac also shows the EUI-64 (base MAC with ext bytes, high word bits 31..16,
    # inserted after the OUI) and MAC_EXT.
    has_eui64: bool = False

    def read(self, read_reg: RegisterReader) -> bytes:
        low = read_reg(self.low_word) & 0xFFFFFFFF
        high = read_reg(self.high_word) & 0xFFFF
        return high.to_bytes(2, "big") + low.to_bytes(4, "big")

    def read_extension(self, read_reg: RegisterReader) -> bytes:
        """The two MAC_EXT bytes (meaningful when `has_eui64`)."""
        return ((read_reg(self.high_word) >> 16) & 0xFFFF).to_bytes(2, "big")


@dataclass(frozen=True)
class OtpMac:
    """The ESP8266's MAC in its OTP words.

    MAC = OUI + byte 1 and byte 0 of MAC1 + byte 3 of MAC0. The OUI is MAC3's low 3 bytes
    when MAC3 is not zero, else chosen by byte 2 of MAC1 from `oui_by_code`.
    """

    mac0: int
    mac1: int
    mac3: int
    oui_by_code: Mapping[int, bytes]

    def read(self, read_reg: RegisterReader) -> bytes | None:
        """The MAC, or None when the OUI code is not a known one."""
        mac0, mac1, mac3 = (read_reg(address) for address in (self.mac0, self.mac1, self.mac3))
        if mac3:
            oui: bytes | None = (mac3 & 0xFFFFFF).to_bytes(3, "big")
        else:
            oui = self.oui_by_code.get((mac1 >> 16) & 0xFF)
        if oui is None:
            return None
        return oui + (mac1 & 0xFFFF).to_bytes(2, "big") + bytes([(mac0 >> 24) & 0xFF])


@dataclass(frozen=True)
class ChipRevisionFields:
    """Where the chip revision (major, minor) lives in eFuses/registers.

    Each number joins its fields, the first most significant (empty: always 0).
    """

    major: tuple[RegisterField, ...]
    minor: tuple[RegisterField, ...]
    # ESP32: the joined major bits are a code mapped to the major revision (unknown codes: 0).
    major_by_code: Mapping[int, int] | None = None
    # ESP32-S3: when every field here holds its value, the chip is v0.0 whatever the fields
    # above say (early eFuse layout).
    v0_when: tuple[tuple[RegisterField, int], ...] = ()

    def read(self, read_reg: RegisterReader) -> tuple[int, int]:
        """(major, minor)."""
        if self.v0_when and all(
            field.extract(read_reg(field.address)) == value for field, value in self.v0_when
        ):
            return 0, 0
        major = read_joined(self.major, read_reg)
        if self.major_by_code is not None:
            major = self.major_by_code.get(major, 0)
        return major, read_joined(self.minor, read_reg)


@dataclass(frozen=True)
class RtcCalibration:
    """ESP32: the ROM times its UART from a calibrated 8 MHz clock, not from the crystal.

    ROM's idea of the crystal in Hz = cali * 15625 * ck8m / 40, where cali is `cali_field`
    and ck8m is `ck8m_field`. The host scales CHANGE_BAUDRATE's baud by that over the real
    crystal (40 MHz when the ROM's value is above 33 MHz, else 26 MHz).
    """

    cali_field: RegisterField
    ck8m_field: RegisterField

    def rom_crystal_hz(self, read_reg: RegisterReader) -> float:
        cali = self.cali_field.extract(read_reg(self.cali_field.address))
        ck8m = self.ck8m_field.extract(read_reg(self.ck8m_field.address))
        return cali * 15625 * ck8m / 40


@dataclass(frozen=True)
class CrystalFacts:
    """How the host learns the crystal frequency and how that affects CHANGE_BAUDRATE."""

    # The crystal every such chip has (MHz); None: estimate it from the UART divider:
    # baud * (clkdiv & UART_CLKDIV_MASK) / 1e6 / uart_clock_per_crystal, then normalised to
    # 48 (above 45), 40 (above 33) or 26.
    fixed_mhz: int | None
    # The UART clock as a multiple of the crystal (2 on ESP8266, whose APB runs at 2x).
    uart_clock_per_crystal: int = 1
    # ESP32's ROM baud timing (see RtcCalibration); None elsewhere.
    rom_calibration: RtcCalibration | None = None
    # The crystal the ROM times its UART by (ESP8266, ESP32-C2: 40), whatever is fitted: with
    # 26 MHz its boot messages come at 115200 * 26 / 40 = 74880, and esptool sends a new baud
    # as baud * assumed // 26. None: the actual crystal.
    rom_assumed_mhz: int | None = None
    # The crystal most boards carry (a virtual chip's default).
    usual_mhz: int = 40
    # ESP32-C5: a register field holding the crystal (MHz) the ROM assumes; the host scales
    # the baud by it over the detected crystal when they are 40 and 48 or 48 and 40.
    rom_assumed_field: RegisterField | None = None

    def estimate_mhz(self, baud: int, clkdiv_register: int) -> float:
        """The crystal implied by the UART divider at the link's current baud."""
        divider = clkdiv_register & UART_CLKDIV_MASK
        return baud * divider / 1e6 / self.uart_clock_per_crystal

    def normalised_mhz(self, baud: int, clkdiv_register: int) -> int:
        """The chip's crystal: the fixed one, else the estimate rounded to 48, 40 or 26 MHz."""
        if self.fixed_mhz is not None:
            return self.fixed_mhz
        estimate = self.estimate_mhz(baud, clkdiv_register)
        return 48 if estimate > 45 else 40 if estimate > 33 else 26


@dataclass(frozen=True)
class WatchdogRegisters:
    """The RTC watchdog used for --after watchdog-reset and the super watchdog (SWD) that a
    USB-Serial/JTAG link must feed; each needs its write-protect key first."""

    wdt_config0: int
    wdt_config1: int
    wdt_protect: int
    wdt_key: int = 0x50D83AA1
    swd_config: int | None = None
    swd_auto_feed: int | None = None  # bit in swd_config
    swd_protect: int | None = None
    swd_key: int | None = None


@dataclass(frozen=True)
class DownloadStrap:
    """Registers telling whether the chip was strapped or forced into download mode.

    esptool reads them before a hard reset over USB-OTG: with GPIO0 low (strap bit clear)
    and no forced download, a watchdog reset is used instead of RTS.
    """

    gpio_strap_reg: int
    spi_boot_mask: int  # strap bit set: boot from flash (GPIO0 high)
    option1_reg: int
    force_download_mask: int
    # ESP32-S3: esptool clears the force-download bit (WRITE_REG option1_reg, 0, mask
    # force_download_mask; errors ignored) before any hard reset, so the app boots again.
    clear_force_download_on_hard_reset: bool = False


def frozen_map(values: Mapping[str, int]) -> Mapping[str, int]:
    return MappingProxyType(dict(values))


@dataclass(frozen=True)
class RegisterUpdate:
    """One register update: value = (read & ~clear_bits) | set_bits (or `value` without a
    read), done only when the read holds all of `when_all_set`; then wait `delay` seconds."""

    address: int
    set_bits: int = 0
    clear_bits: int = 0
    value: int | None = None
    when_all_set: int = 0
    delay: float = 0.0


@dataclass(frozen=True)
class FlashPowerOn:
    """Register steps esptool runs after connecting (not in Secure Download Mode) to power the
    flash on revisions whose flash supply starts off (ESP32-P4 v3.1 and v3.2).

    On `rom_powered_revisions` with `rom_powered_field` set, the ROM already powered the flash
    and only `rom_powered_steps` run instead.
    """

    revisions: tuple[int, ...]  # major * 100 + minor
    steps: tuple[RegisterUpdate, ...]
    rom_powered_revisions: tuple[int, ...] = ()
    rom_powered_field: RegisterField | None = None
    rom_powered_steps: tuple[RegisterUpdate, ...] = ()


@dataclass(frozen=True)
class BootMessages:
    """What the ROM prints on its UART after a reset, as a virtual chip reproduces it.

    After a reset the ROM prints `header`, then `reset_cause` + `separator` + the boot mode
    (`download_mode` or `flash_mode`) and a line end. In download mode `download_tail` follows
    (esptool looks for `boot:0x..` and `waiting for download`); booting from flash, it prints
    `flash_preamble`, then `load_line` per loaded segment and `entry_line`, or `no_image` when
    the flash holds no image. Line formats take `address`, `length` and `entry`.
    """

    header: str
    reset_cause: str
    download_mode: str
    flash_mode: str
    flash_preamble: str
    no_image: str
    separator: str = ","
    download_tail: str = "waiting for download\r\n"
    load_line: str = "load:{address:#010x},len:{length:#x}\r\n"
    entry_line: str = "entry {entry:#010x}\r\n"

    def download_banner(self) -> str:
        return self._reset_lines(self.download_mode) + self.download_tail

    def flash_boot_banner(self, segments: list[tuple[int, int]] | None, entry: int) -> str:
        """Booting from flash: the (address, length) of each loaded segment, or None for none."""
        text = self._reset_lines(self.flash_mode) + self.flash_preamble
        if segments is None:
            return text + self.no_image
        for address, length in segments:
            text += self.load_line.format(address=address, length=length)
        return text + self.entry_line.format(entry=entry)

    def _reset_lines(self, boot_mode: str) -> str:
        return f"{self.header}{self.reset_cause}{self.separator}{boot_mode}\r\n"


def rom_boot_messages(
    rom_build: str, build_date: str, download_mode: str, flash_mode: str
) -> BootMessages:
    """Boot messages in the style of the ESP-ROM builds (ESP32-S2 and later)."""
    return BootMessages(
        header=f"ESP-ROM:{rom_build}\r\nBuild:{build_date}\r\n",
        reset_cause="rst:0x1 (POWERON)",
        download_mode=download_mode,
        flash_mode=flash_mode,
        flash_preamble="SPIWP:0xee\r\nmode:DIO, clock div:1\r\n",
        no_image="invalid header: 0xffffffff\r\n",
    )


# Header size codes every ESP32-family chip shares (byte 3, high nibble).
STANDARD_FLASH_SIZES = frozen_map(
    {"1MB": 0x00, "2MB": 0x10, "4MB": 0x20, "8MB": 0x30}
    | {"16MB": 0x40, "32MB": 0x50, "64MB": 0x60, "128MB": 0x70}
)


@dataclass(frozen=True)
class ChipSpec:
    """Facts about one chip, as data."""

    name: str  # the --chip name, e.g. "esp32c3"
    chip_name: str  # the name esptool prints, e.g. "ESP32-C3"
    image_format: Literal["esp8266", "esp32"]
    image_chip_id: int | None  # extended-header chip id; None for ESP8266
    uses_magic_value: bool  # detected by READ_REG of the magic register
    magic_value: int | None
    bootloader_flash_offset: int
    uf2_family_id: int
    flash_sizes: Mapping[str, int]  # header byte 3 high nibble per size name
    flash_frequencies: Mapping[str, int]  # header byte 3 low nibble per frequency name
    memory_map: tuple[MemoryRegion, ...]
    irom_map: tuple[int, int]  # flash-mapped instruction range [start, end)
    drom_map: tuple[int, int] | None  # flash-mapped data range; None on ESP8266
    spi: SpiRegisters
    uart_date_reg: int
    uart_clkdiv_reg: int
    efuse_base: int | None
    mac_efuse_reg: int | None
    security_info_supported: bool
    usb_otg_supported: bool
    usb_serial_jtag_supported: bool
    watchdog_reset_supported: bool
    flash_encrypted_write_align: int
    rom_flash_write_size: int = 0x400
    # RAM the ROM loads code into beyond the memory map's regions (the ESP8266's IRAM runs to
    # 0x40110000, where flasher stubs are loaded, though image-info names only its first 32 KB).
    extra_ram_load_ranges: tuple[tuple[int, int], ...] = ()
    # Image facts: the MMU page sizes the chip's cache supports (empty: only 64 KB).
    mmu_page_sizes: tuple[int, ...] = ()
    irom_align: int = 0x10000
    # ESP32's second-stage bootloader leaves the last MMU page of a flash segment unmapped when
    # the segment ends fewer than this many bytes into it, so elf2image pads to at least this.
    flash_segment_min_page_tail: int = 0
    # Secure Boot v1 (and so elf2image's --secure-pad) exists only on the original ESP32.
    secure_boot_v1: bool = False
    # Whether the chip has flash encryption and secure boot at all (the ESP8266 has neither):
    # they decide which safety checks precede an erase or a plaintext write, and whether the
    # chip can encrypt what it is sent.
    flash_encryption: bool = True
    secure_boot: bool = True
    # ESP-IDF's flash layout applies: a second-stage bootloader, then a partition table.
    esp_idf_layout: bool = True
    # Wire facts: how the ROM bootloader talks, and where the chip keeps what hosts read.
    rom: RomProtocol = RomProtocol(
        status_length=4,
        flash_begin_encrypted_word=True,
        compressed_writes=True,
        flash_md5=True,
        read_flash_slow=True,
        change_baudrate=True,
        spi_attach=True,
        spi_set_params=True,
        security_info_length=20,
    )
    mac: EfuseMac | OtpMac | None = None
    revision: ChipRevisionFields | None = None  # None: the ROM offers no revision (ESP8266)
    crystal: CrystalFacts = CrystalFacts(fixed_mhz=40)
    # eFuse bits the factory burns on a typical chip (a virtual chip starts with them).
    factory_efuses: tuple[tuple[RegisterField, int], ...] = ()
    watchdog: WatchdogRegisters | None = None
    download_strap: DownloadStrap | None = None
    flash_power_on: FlashPowerOn | None = None
    boot_messages: BootMessages = rom_boot_messages(
        "unknown", "unknown", "boot:0x0 (DOWNLOAD)", "boot:0x8 (SPI_FAST_FLASH_BOOT)"
    )

    def region_names(self, address: int) -> list[str]:
        """Names of every memory-map region that holds `address` (image-info's segment column)."""
        return [region.name for region in self.memory_map if region.contains(address)]

    def is_irom(self, address: int) -> bool:
        return self.irom_map[0] <= address < self.irom_map[1]

    def is_flash_mapped(self, address: int) -> bool:
        in_drom = self.drom_map is not None and self.drom_map[0] <= address < self.drom_map[1]
        return self.is_irom(address) or in_drom
