"""What makes one virtual chip distinct: MAC, revision and crystal, written where hosts read them.

The chip's facts say which registers and bit fields hold each value; this module does the
reverse of reading them, so that READ_REG answers what a real chip with that identity answers.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from espforge.chips.base import (
    CHIP_DETECT_MAGIC_REG,
    ChipRevisionFields,
    ChipSpec,
    EfuseMac,
    OtpMac,
    RegisterField,
)
from espforge.errors import EspforgeError
from espforge.virtual.memory import AddressSpace

ESPRESSIF_OUI = bytes.fromhex("246F28")
EUI64_EXTENSION = 0xFFFE  # the bytes an EUI-64 inserts after the OUI
UART_DATE_VALUE = 0x15122500  # a UART peripheral version stamp; only read, never interpreted


@dataclass(frozen=True)
class ChipIdentity:
    mac: bytes
    revision: tuple[int, int]  # (major, minor)
    crystal_mhz: int

    @staticmethod
    def default_for(chip: ChipSpec) -> ChipIdentity:
        """An Espressif MAC derived from the chip's name, revision v1.0, its usual crystal."""
        tail = hashlib.sha256(chip.name.encode()).digest()[:3]
        crystal = chip.crystal.fixed_mhz or chip.crystal.usual_mhz
        return ChipIdentity(ESPRESSIF_OUI + tail, (1, 0), crystal)


def parse_mac(text: str) -> bytes:
    """A MAC from "aa:bb:cc:dd:ee:ff" (dashes or nothing between bytes work too)."""
    digits = text.replace(":", "").replace("-", "")
    try:
        mac = bytes.fromhex(digits)
    except ValueError:
        mac = b""
    if len(mac) != 6:
        raise EspforgeError(f"MAC '{text}' is not 6 hex bytes: write it as aa:bb:cc:dd:ee:ff")
    return mac


def parse_revision(text: str) -> tuple[int, int]:
    """A revision from "v1.2", "1.2" or esptool's "102"."""
    cleaned = text.lower().lstrip("v")
    try:
        if "." in cleaned:
            major, minor = (int(part) for part in cleaned.split(".", 1))
        else:
            major, minor = divmod(int(cleaned), 100)
    except ValueError:
        raise EspforgeError(f"revision '{text}' is not like v1.2: write major.minor") from None
    return major, minor


def seed_registers(memory: AddressSpace, chip: ChipSpec, identity: ChipIdentity) -> None:
    """Write the identity and the chip's fixed ROM words into a fresh address space."""
    if chip.uses_magic_value and chip.magic_value is not None:
        memory.seed_word(CHIP_DETECT_MAGIC_REG, chip.magic_value)
    memory.seed_word(chip.uart_date_reg, UART_DATE_VALUE)
    _seed_mac(memory, chip, identity.mac)
    if chip.revision is not None:
        _seed_revision(memory, chip.revision, identity.revision)
    _seed_crystal(memory, chip, identity.crystal_mhz)
    for field, value in chip.factory_efuses:
        _set_field(memory, field, value)


def _set_field(memory: AddressSpace, field: RegisterField, value: int) -> None:
    memory.seed_word(field.address, field.insert(memory.read_word(field.address), value))


def _seed_mac(memory: AddressSpace, chip: ChipSpec, mac: bytes) -> None:
    if isinstance(chip.mac, EfuseMac):
        extension = EUI64_EXTENSION if chip.mac.has_eui64 else 0
        memory.seed_word(chip.mac.low_word, int.from_bytes(mac[2:], "big"))
        memory.seed_word(chip.mac.high_word, extension << 16 | int.from_bytes(mac[:2], "big"))
    elif isinstance(chip.mac, OtpMac):
        # A non-zero MAC3 carries the OUI itself, so any OUI can be represented.
        memory.seed_word(chip.mac.mac3, int.from_bytes(mac[:3], "big"))
        memory.seed_word(chip.mac.mac1, int.from_bytes(mac[3:5], "big"))
        memory.seed_word(chip.mac.mac0, mac[5] << 24)


def _seed_revision(
    memory: AddressSpace, fields: ChipRevisionFields, revision: tuple[int, int]
) -> None:
    major, minor = revision
    if fields.major_by_code is not None:
        codes = [code for code, value in fields.major_by_code.items() if value == major]
        major = codes[0] if codes else -1
    for parts, value in ((fields.major, major), (fields.minor, minor)):
        if value < 0 or value >> sum(part.width for part in parts):
            continue  # not representable: the chip keeps reading what its fields give
        for part in reversed(parts):
            _set_field(memory, part, value)
            value >>= part.width


def _seed_crystal(memory: AddressSpace, chip: ChipSpec, crystal_mhz: int) -> None:
    crystal = chip.crystal
    if crystal.rom_calibration is not None:
        # cali * 15625 * ck8m / 40 = crystal in Hz, with cali = 1024.
        calibration = crystal.rom_calibration
        _set_field(memory, calibration.cali_field, 1024)
        _set_field(memory, calibration.ck8m_field, round(crystal_mhz * 1e6 * 40 / 15625 / 1024))
    if crystal.rom_assumed_field is not None:
        _set_field(memory, crystal.rom_assumed_field, crystal_mhz)


def rom_crystal_mhz(chip: ChipSpec, memory: AddressSpace, crystal_mhz: int) -> float:
    """The crystal the ROM believes in when it programs a baud rate."""
    crystal = chip.crystal
    if crystal.rom_calibration is not None:
        # Blank calibration eFuses (an eFuse file from espefuse --virt) measure nothing: the
        # true crystal then.
        return crystal.rom_calibration.rom_crystal_hz(memory.read_word) / 1e6 or crystal_mhz
    if crystal.rom_assumed_field is not None:
        field = crystal.rom_assumed_field
        return field.extract(memory.read_word(field.address)) or crystal_mhz
    return crystal.rom_assumed_mhz or crystal_mhz


def uart_divider(chip: ChipSpec, crystal_mhz: int, baud: int) -> int:
    """The UART clock divider for `baud`, as the ROM leaves it in UART_CLKDIV."""
    return round(crystal_mhz * 1e6 * chip.crystal.uart_clock_per_crystal / baud)
