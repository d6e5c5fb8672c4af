"""Which flash encryption key a chip's eFuses hold, read the same way by the host and the chip.

The host asks before an encrypted write whether a key is programmed (the checks esptool 5.6
makes); the virtual chip asks for the key itself, to encrypt what it is sent. Where the key is
comes from the eFuse table, never from the chip's name:

* a table with FLASH_CRYPT_CONFIG (ESP32): the block aliased `flash_encryption`, used with that
  4-bit tweak setting, whatever the block holds (a blank block is an all-zero key);
* a table whose key block takes its purpose from a flag (ESP32-C2): the whole block when the
  256-bit flag is burnt, else its low 128 bits, which the chip stretches with SHA-256;
* otherwise the key block whose purpose is XTS_AES_128_KEY, or the pair of blocks holding
  XTS_AES_256_KEY_1 and _2 (a 512-bit key); with neither there is no key at all.

espefuse burns these keys byte-reversed, so a key reads back as its block's bytes reversed: the
key file espsecure takes. A read-protected key reads as zeros; it then counts as programmed (as
esptool assumes) but its bytes are unknown.
"""

from __future__ import annotations

from dataclasses import dataclass

from espforge.efuse.state import BlockState, EfuseState, RegisterAccess
from espforge.efuse.table import EfuseTable, FieldSpec

CRYPT_CONFIG_FIELD = "FLASH_CRYPT_CONFIG"
ESP32_KEY_BLOCK = "flash_encryption"
# eFuses that stop the chip encrypting what download mode writes (first one the chip has).
DOWNLOAD_ENCRYPT_DISABLE_FIELDS = ("DISABLE_DL_ENCRYPT", "DIS_DOWNLOAD_MANUAL_ENCRYPT")
# The count whose odd number of set bits means flash encryption is on (first one the chip has).
CRYPT_COUNT_FIELDS = ("FLASH_CRYPT_CNT", "SPI_BOOT_CRYPT_CNT")
XTS_128 = "XTS_AES_128_KEY"
XTS_256_HALVES = ("XTS_AES_256_KEY_1", "XTS_AES_256_KEY_2")
XTS_DERIVED = "XTS_AES_128_KEY_DERIVED_FROM_128_EFUSE_BITS"


@dataclass(frozen=True)
class FlashKey:
    """A chip's flash encryption key as its eFuses show it."""

    programmed: bool  # esptool's "is the flash encryption key valid"
    key: bytes | None  # as espsecure's key files hold it; None when hidden or absent
    aes_xts: bool
    crypt_config: int | None  # ESP32 FLASH_CRYPT_CONFIG; None on AES-XTS chips or when hidden
    download_encryption_disabled: bool  # encrypted writes in download mode are off


def read_flash_key(state: EfuseState) -> FlashKey:
    """The flash encryption key of the chip whose eFuses `state` holds."""
    table = state.table
    disabled = any(
        state.raw(state.field(name))
        for name in DOWNLOAD_ENCRYPT_DISABLE_FIELDS
        if _has(state, name)
    )
    if _has(state, CRYPT_CONFIG_FIELD):
        return _tweaked_key(state, disabled)
    if table.key_targets:
        return _flagged_key(state, disabled)
    return _purpose_key(state, disabled)


def _has(state: EfuseState, name: str) -> bool:
    return state.table.has_field(name)


def _tweaked_key(state: EfuseState, disabled: bool) -> FlashKey:
    block = state.block_for_name(ESP32_KEY_BLOCK)
    key = _block_key(state, block)
    config = state.field(CRYPT_CONFIG_FIELD)
    crypt_config = state.raw(config) if state.readable(config.rd_dis) else None
    return FlashKey(_programmed(key), key, False, crypt_config, disabled)


def _flagged_key(state: EfuseState, disabled: bool) -> FlashKey:
    derived = state.field(state.table.key_targets[XTS_DERIVED])
    flag = state.table.key_flags.get(XTS_128)
    whole_block = flag is not None and bool(state.raw(state.field(flag)))
    spec = state.field(state.block_of(derived).spec.name) if whole_block else derived
    key = _field_key(state, spec)
    return FlashKey(_programmed(key), key, True, None, disabled)


def _purpose_key(state: EfuseState, disabled: bool) -> FlashKey:
    by_purpose: dict[str, BlockState] = {}
    values = {purpose.value: purpose.name for purpose in state.table.key_purposes}
    for block in state.blocks:
        if block.spec.key_purpose is not None:
            name = values.get(state.raw(state.field(block.spec.key_purpose)))
            by_purpose.setdefault(name or "", block)
    if XTS_128 in by_purpose:
        blocks = [by_purpose[XTS_128]]
    elif all(half in by_purpose for half in XTS_256_HALVES):
        blocks = [by_purpose[half] for half in XTS_256_HALVES]
    else:
        return FlashKey(False, None, True, None, disabled)
    parts = [_block_key(state, block) for block in blocks]
    key = None if None in parts else b"".join(part for part in parts if part is not None)
    return FlashKey(True, key, True, None, disabled)


def _programmed(key: bytes | None) -> bool:
    """Hidden by read protection (esptool then assumes a key), or not all zeros."""
    return key is None or any(key)


def _block_key(state: EfuseState, block: BlockState) -> bytes | None:
    if not state.readable(block.spec.rd_dis):
        return None
    return block.bits.to_bytes(block.width // 8, "little")[::-1]


def _field_key(state: EfuseState, spec: FieldSpec) -> bytes | None:
    if not state.readable(spec.rd_dis):
        return None
    return state.raw(spec).to_bytes(spec.bits // 8, "little")[::-1]


def plaintext_writes_refused(table: EfuseTable, regs: RegisterAccess) -> bool:
    """esptool's guard before writing plaintext outside Secure Download Mode: flash encryption
    is on and download mode may not encrypt, so the chip would read what is written now as
    ciphertext. Reads only the eFuse words holding the two fields (before every write)."""
    count = _read_first_field(table, regs, CRYPT_COUNT_FIELDS)
    if count is None or bin(count).count("1") % 2 == 0:
        return False
    return bool(_read_first_field(table, regs, DOWNLOAD_ENCRYPT_DISABLE_FIELDS))


def _read_first_field(table: EfuseTable, regs: RegisterAccess, names: tuple[str, ...]):
    """The value of the first of `names` that `table` has, from the registers holding it."""
    for name in names:
        if table.has_field(name):
            spec = table.field(name)
            base = table.blocks[spec.block].read_address
            first, last = spec.start // 32, (spec.start + spec.bits - 1) // 32
            words = (regs.read_reg(base + 4 * word) for word in range(first, last + 1))
            value = sum(word << (32 * i) for i, word in enumerate(words))
            return value >> (spec.start - 32 * first) & ((1 << spec.bits) - 1)
    return None
