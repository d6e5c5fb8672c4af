"""Flash encryption done on the host, bit for bit as the chips' flash controllers do it.

Two schemes exist:

* ESP32: AES-256 with its own key for every 32-byte block of flash. A block's key is the eFuse key
  with some of its bits flipped according to the block's flash offset (the "tweak"); the 4-bit
  FLASH_CRYPT_CONF eFuse chooses which quarters of the key take part. The controller feeds AES
  each 16-byte block byte-reversed and runs AES backwards: writing encrypted flash applies AES
  decryption, reading it back applies AES encryption.
* AES-XTS (the chips after the ESP32): XTS over 128-byte data units, each unit byte-reversed,
  its tweak being the unit's flash address.

Hardware keys: a 192-bit ESP32 key (3/4 coding scheme) is completed to 256 bits by repeating its
bytes 8 to 15; a 128-bit key is stretched to its SHA-256, as chips that derive their XTS key from
128 eFuse bits do.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import os
from collections.abc import Sequence

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from espforge.secure.errors import SecureError

GENERATED_KEY_BITS = (128, 192, 256, 512)  # what generate-flash-encryption-key may create
ESP32_KEY_BITS = (192, 256)
XTS_KEY_BITS = (128, 256, 512)

AES_BLOCK = 16  # flash addresses and encrypted data come in whole AES blocks
ESP32_KEY_SPAN = 32  # bytes of flash sharing one tweaked key
ESP32_FLASH_SPAN = 1 << 24  # the offset bits the ESP32 tweak draws on: 16 MB of flash
XTS_DATA_UNIT = 128
XTS_FLASH_SPAN = 1 << 32  # XTS tweaks hold a 32-bit flash address
CRYPT_CONF_MAX = 0xF

# The block index (flash offset >> 5) has 19 bits; its tweak is looked up in two halves.
_LOW_INDEX_BITS = 10
_LOW_INDEX_MASK = (1 << _LOW_INDEX_BITS) - 1
_FIRST_TWEAK_BIT = 5  # log2(ESP32_KEY_SPAN)
_LAST_TWEAK_BIT = 23  # log2(ESP32_FLASH_SPAN) - 1


def generate_flash_encryption_key(keylen: int) -> bytes:
    """`keylen` random bits for a development flash encryption key."""
    if keylen not in GENERATED_KEY_BITS:
        raise SecureError(
            f"--keylen {keylen} is not a flash encryption key length: use 128, 192 (3/4 coding "
            "scheme), 256 or 512 bits"
        )
    return os.urandom(keylen // 8)


def encrypt_flash_data(
    key: bytes,
    data: bytes,
    address: int,
    flash_crypt_conf: int = 0xF,
    aes_xts: bool = False,
    source: str = "data",
    key_source: str = "key file",
) -> bytes:
    """`data` as the chip stores it in encrypted flash at `address`.

    ESP32 scheme: data not a multiple of 16 bytes is padded with random bytes first, as the
    hardware only encrypts whole blocks (the result is that much longer).
    """
    return _crypt(key, data, address, flash_crypt_conf, aes_xts, source, key_source, True)


def decrypt_flash_data(
    key: bytes,
    data: bytes,
    address: int,
    flash_crypt_conf: int = 0xF,
    aes_xts: bool = False,
    source: str = "data",
    key_source: str = "key file",
) -> bytes:
    """The plaintext of `data` read from encrypted flash at `address`."""
    return _crypt(key, data, address, flash_crypt_conf, aes_xts, source, key_source, False)


def expand_hardware_key(
    key: bytes,
    accepted_bits: Sequence[int],
    scheme: str,
    key_source: str,
    advice: str = "give the key file made for it",
) -> bytes:
    """The 256- or 512-bit AES key the hardware derives from an eFuse key of `key`'s size."""
    bits = len(key) * 8
    if bits not in accepted_bits:
        *others, last = (str(size) for size in accepted_bits)
        sizes = f"{', '.join(others)} or {last}" if others else last
        raise SecureError(
            f"{key_source}: holds a {bits}-bit key ({len(key)} bytes), but {scheme} takes "
            f"{sizes}-bit keys: {advice}"
        )
    if bits == 128:
        return hashlib.sha256(key).digest()
    if bits == 192:
        return key + key[8:16]
    return key


def _crypt(
    key: bytes,
    data: bytes,
    address: int,
    flash_crypt_conf: int,
    aes_xts: bool,
    source: str,
    key_source: str,
    encrypt: bool,
) -> bytes:
    if address < 0 or address % AES_BLOCK:
        raise SecureError(
            f"{source}: Starting flash address {address:#x} must be a multiple of 16. "
            "Encrypted flash starts on a 16-byte boundary: give an aligned --address."
        )
    if aes_xts:
        xts_key = expand_hardware_key(key, XTS_KEY_BITS, "AES-XTS flash encryption", key_source)
        return _xts_crypt(xts_key, data, address, source, key_source, encrypt)
    esp32_key = expand_hardware_key(
        key,
        ESP32_KEY_BITS,
        "ESP32 flash encryption",
        key_source,
        "give the key file made for it, or --aes-xts for the chips after the ESP32",
    )
    if not 0 <= flash_crypt_conf <= CRYPT_CONF_MAX:
        raise SecureError(
            f"--flash-crypt-conf {flash_crypt_conf:#x} is out of range: FLASH_CRYPT_CONF is a "
            "4-bit eFuse, 0x0 to 0xF"
        )
    if len(data) % AES_BLOCK:
        if not encrypt:
            _refuse_partial_block(data, source)
        data = data + os.urandom(-len(data) % AES_BLOCK)
    if address + len(data) > ESP32_FLASH_SPAN:
        raise SecureError(
            f"{source}: {len(data)} bytes at {address:#x} run past 16 MB, the end of the ESP32's "
            "encrypted flash range: check --address"
        )
    return _esp32_crypt(esp32_key, data, address, flash_crypt_conf, encrypt)


def _refuse_partial_block(data: bytes, source: str) -> None:
    raise SecureError(
        f"{source}: is {len(data)} bytes long, not a multiple of 16; encrypted flash holds whole "
        "16-byte blocks: give the data as read from flash"
    )


def _esp32_crypt(
    key: bytes, data: bytes, address: int, flash_crypt_conf: int, encrypt: bool
) -> bytes:
    """The ESP32 scheme over whole 16-byte blocks.

    Mirroring the whole buffer reverses every 16-byte block in place (and the order of the
    blocks), so each key span is one slice of the mirror; mirroring the joined results puts the
    blocks back in order, each reversed again as the hardware does.
    """
    if not data:
        return b""
    size = len(data)
    mirror = memoryview(data[::-1])
    aes = algorithms.AES(key)
    # Encrypting flash runs AES backwards, so encryption decrypts and decryption encrypts.
    cipher = Cipher(aes, modes.ECB())
    start_aes = cipher.decryptor if encrypt else cipher.encryptor
    if not flash_crypt_conf:  # no key bit is tweaked: one key for the whole range
        return start_aes().update(mirror)[::-1]
    # Span boundaries in data order (the first span ends at a 32-byte flash boundary), then the
    # same boundaries in the mirror, where the spans come last to first.
    bounds = [0, *range(ESP32_KEY_SPAN - address % ESP32_KEY_SPAN, size, ESP32_KEY_SPAN), size]
    mirror_bounds = [size - bound for bound in reversed(bounds)]
    first_span = address // ESP32_KEY_SPAN
    mirror_spans = range(first_span + len(bounds) - 2, first_span - 1, -1)
    span_keys = _span_keys(key, flash_crypt_conf, mirror_spans)
    pieces = []
    for span_key, (start, end) in zip(span_keys, itertools.pairwise(mirror_bounds), strict=True):
        # Re-keying the one AES object costs far less than building new AES and Cipher objects
        # for every 32 bytes; each context copies the key it is started with.
        aes.key = span_key
        pieces.append(start_aes().update(mirror[start:end]))
    return b"".join(pieces)[::-1]


def _span_keys(key: bytes, flash_crypt_conf: int, spans: range) -> list[bytes]:
    """The tweaked keys of the given 32-byte spans of flash (numbered from flash offset 0)."""
    low, high = _tweak_tables(flash_crypt_conf)
    base = int.from_bytes(key, "big")
    return [
        (base ^ low[span & _LOW_INDEX_MASK] ^ high[span >> _LOW_INDEX_BITS]).to_bytes(32, "big")
        for span in spans
    ]


def _tweak_sources() -> list[tuple[int, int]]:
    """For each bit of the 256-bit key, from its most significant: its quarter and the flash
    offset bit that flips it.

    The quarters (67, 65, 63 and 61 bits) belong to the four FLASH_CRYPT_CONF bits. Each runs
    three times through offset bits 23 down to 5, then once from bit 14, 12, 10 or 8 down to 5.
    """
    sources = []
    for quarter in range(4):
        first_bits = [_LAST_TWEAK_BIT] * 3 + [14 - 2 * quarter]
        for first in first_bits:
            sources += [(quarter, bit) for bit in range(first, _FIRST_TWEAK_BIT - 1, -1)]
    return sources


@functools.lru_cache(maxsize=CRYPT_CONF_MAX + 1)
def _tweak_tables(flash_crypt_conf: int) -> tuple[list[int], list[int]]:
    """XOR masks for the low 10 and the high 9 bits of a 32-byte block's index."""
    offset_bit_masks = [0] * (_LAST_TWEAK_BIT + 1)
    for position, (quarter, offset_bit) in enumerate(_tweak_sources()):
        if flash_crypt_conf >> quarter & 1:
            offset_bit_masks[offset_bit] |= 1 << (255 - position)
    index_masks = offset_bit_masks[_FIRST_TWEAK_BIT:]
    return _xor_table(index_masks[:_LOW_INDEX_BITS]), _xor_table(index_masks[_LOW_INDEX_BITS:])


def _xor_table(masks: list[int]) -> list[int]:
    """Entry i is the XOR of the masks whose bit is set in i."""
    table = [0]
    for mask in masks:
        table += [entry ^ mask for entry in table]
    return table


def _xts_crypt(
    key: bytes, data: bytes, address: int, source: str, key_source: str, encrypt: bool
) -> bytes:
    """The AES-XTS scheme: data units byte-reversed, as in `_esp32_crypt`, tweaked by address."""
    if not data:
        raise SecureError(f"{source}: is empty; there is nothing to encrypt or decrypt")
    if len(data) % AES_BLOCK:
        _refuse_partial_block(data, source)
    if address + len(data) > XTS_FLASH_SPAN:
        raise SecureError(
            f"{source}: {len(data)} bytes at {address:#x} run past 4 GB, the end of the flash "
            "address range: check --address"
        )
    half = len(key) // 2
    if key[:half] == key[half:]:
        raise SecureError(
            f"{key_source}: the two halves of the AES-XTS key are equal, which XTS forbids: "
            "generate a new key"
        )
    # Zero padding fills the first and last data units; XTS encrypts each 16-byte block on its
    # own, so the padding never changes the bytes that are kept.
    lead = address % XTS_DATA_UNIT
    trail = -(lead + len(data)) % XTS_DATA_UNIT
    mirror = memoryview(bytes(trail) + data[::-1] + bytes(lead))
    aes = algorithms.AES(key)
    last_unit = address - lead + len(mirror) - XTS_DATA_UNIT
    pieces = []
    for position in range(0, len(mirror), XTS_DATA_UNIT):
        tweak = (last_unit - position).to_bytes(16, "little")
        cipher = Cipher(aes, modes.XTS(tweak))
        context = cipher.encryptor() if encrypt else cipher.decryptor()
        pieces.append(context.update(mirror[position : position + XTS_DATA_UNIT]))
    return b"".join(pieces)[::-1][lead : lead + len(data)]
