"""GET_SECURITY_INFO's answer: the chip's security flags, flash encryption count and identity."""

from __future__ import annotations

import struct
from dataclasses import dataclass

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
FULL_SECURITY_INFO = struct.Struct("<IB7BII")  # flags, crypt count, key purposes, id, API
SHORT_SECURITY_INFO = struct.Struct("<IB7B")  # ESP32-S2: no chip id / API version

# The global option commands that stay available in Secure Download Mode (esptool's list).
SECURE_DOWNLOAD_MODE_COMMANDS = ("get-security-info", "write-flash", "erase-region")


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
        if len(data) >= FULL_SECURITY_INFO.size:
            flags, count, *rest = FULL_SECURITY_INFO.unpack_from(data)
            return cls(flags, count, tuple(rest[:7]), rest[7], rest[8])
        flags, count, *purposes = SHORT_SECURITY_INFO.unpack_from(data)
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
