"""The virtual chip's flash encryption engine: plaintext in, ciphertext programmed.

An encrypted write (FLASH_BEGIN/FLASH_DEFL_BEGIN with the encrypt word, or the flasher stub's
FLASH_ENCRYPT_DATA) sends plaintext; the chip encrypts it with the key its eFuses hold, read
through its eFuse registers as its ROM would, and programs the ciphertext. The cipher is
espforge's own flash encryption (byte-identical to espsecure's encrypt-flash-data).

With no key programmed the ESP32's engine still reads BLOCK1, so a blank chip encrypts with the
all-zero key and FLASH_CRYPT_CONFIG 0 (what esptool's hardware tests expect of
--ignore-flash-enc-efuse on blank eFuses). The AES-XTS chips take their key from the block whose
purpose names it; with no such block there is no key to use, so the chip refuses the write
rather than invent ciphertext. So does a chip whose key is read-protected: the eFuse memory
keeps espefuse's file format, in which read protection erases what it hides.
"""

from __future__ import annotations

from dataclasses import dataclass

from espforge.chips.base import ChipSpec
from espforge.efuse.flash_key import FlashKey, read_flash_key
from espforge.efuse.state import EfuseState
from espforge.efuse.table import load_table
from espforge.secure.errors import SecureError
from espforge.secure.flash_encryption import AES_BLOCK, encrypt_flash_data
from espforge.virtual.memory import AddressSpace


class EncryptionRefused(Exception):
    """The chip cannot encrypt this write; the message says why (for the command log)."""


@dataclass
class FlashEncryptor:
    """Encrypts a write's data as it arrives, whole AES blocks at a time."""

    key: bytes
    aes_xts: bool
    crypt_config: int
    held: bytes = b""  # the tail of the data so far that does not fill an AES block

    def encrypt(self, position: int, plain: bytes) -> tuple[int, bytes]:
        """(flash address, ciphertext) for `plain` arriving for `position`; a partial AES
        block waits for the data after it."""
        data = self.held + plain
        start = position - len(self.held)
        whole = len(data) - len(data) % AES_BLOCK
        self.held = data[whole:]
        if not whole:
            return start, b""
        cipher = encrypt_flash_data(self.key, data[:whole], start, self.crypt_config, self.aes_xts)
        return start, cipher


class _MemoryRegisters:
    """The eFuse read registers as the CPU sees them in the chip's address space."""

    def __init__(self, memory: AddressSpace) -> None:
        self.read_reg = memory.read_word

    def write_reg(self, address: int, value: int) -> None:
        raise AssertionError("reading the flash key writes nothing")


def start_encryption(
    chip: ChipSpec, memory: AddressSpace, offset: int, size: int
) -> FlashEncryptor:
    """The encryptor for a write of `size` bytes at `offset`, or EncryptionRefused."""
    align = chip.flash_encrypted_write_align
    if offset % align or size % align:
        raise EncryptionRefused(f"encrypted writes need {align}-byte aligned offset and size")
    if not chip.flash_encryption:
        raise EncryptionRefused("this chip has no flash encryption")
    key = read_flash_key(EfuseState.read(load_table(chip.name), _MemoryRegisters(memory)))
    return FlashEncryptor(*_usable_key(key))


def _usable_key(key: FlashKey) -> tuple[bytes, bool, int]:
    if key.download_encryption_disabled:
        raise EncryptionRefused("encrypted writes in download mode are disabled by eFuse")
    if key.key is None or (not key.aes_xts and key.crypt_config is None):
        raise EncryptionRefused("no readable flash encryption key in the eFuses")
    try:  # a key the cipher refuses (equal AES-XTS halves) is refused here, not mid-write
        encrypt_flash_data(key.key, bytes(AES_BLOCK), 0, key.crypt_config or 0, key.aes_xts)
    except SecureError as error:
        raise EncryptionRefused(str(error)) from None
    return key.key, key.aes_xts, key.crypt_config or 0
