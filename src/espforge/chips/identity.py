"""Where a chip keeps what identifies it to a host: its factory MAC (eFuse or OTP words) and its
revision (major, minor) in eFuse fields."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from espforge.chips.registers import RegisterField, RegisterReader, read_joined


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
