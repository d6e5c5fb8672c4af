"""The ESP32 secure boot v1 bootloader digest, as the ROM's secure boot engine computes it.

The engine reads an IV and the bootloader in 128-byte (SHA-512 block) steps, runs every 16-byte
block byte-reversed through AES-256 encryption under the secure boot key, and hashes each output
block with its four 32-bit words in reverse order. The flashable result starts with the IV and the
SHA-512 digest (each 32-bit word byte-swapped), 0xFF up to 0x1000, then the bootloader as the
engine read it.
"""

from __future__ import annotations

import hashlib
import os
from array import array

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from espforge.chips import get_chip
from espforge.errors import ImageError
from espforge.image.firmware import load_image
from espforge.secure.errors import SecureError
from espforge.secure.flash_encryption import AES_BLOCK, expand_hardware_key

IV_SIZE = 128
ENGINE_BLOCK = 128  # the engine reads whole SHA-512 blocks
DIGEST_AREA = 0x1000  # IV and digest, padded with 0xFF: the flash sector before the bootloader
SHA256_SIZE = 32
ERASED = b"\xff"
SECURE_BOOT_KEY_BITS = (128, 192, 256)
_WORD = "I"  # array typecode of an unsigned 32-bit word


def digest_secure_bootloader(
    key: bytes,
    image: bytes,
    iv: bytes | None = None,
    source: str = "image",
    key_source: str = "key file",
    iv_source: str = "IV file",
) -> bytes:
    """The digest file for flashing at 0x0: IV, digest, padding, then the bootloader `image`.

    `iv` is random unless given (for tests only). Like espsecure's --iv file, only its first
    128 bytes are used, and a shorter one (whole 16-byte blocks) is used as it is.
    """
    aes_key = expand_hardware_key(
        key, SECURE_BOOT_KEY_BITS, "the secure boot v1 digest", key_source
    )
    if iv is None:
        iv = os.urandom(IV_SIZE)
    iv = iv[:IV_SIZE]
    if not iv or len(iv) % AES_BLOCK:
        raise SecureError(
            f"{iv_source}: holds {len(iv)} bytes, but the IV is read in whole 16-byte blocks: "
            "give a file of 128 random bytes to --iv"
        )
    bootloader = _as_engine_reads(image, source)
    digest = _engine_digest(aes_key, iv + bootloader)
    return (iv + _swap_word_bytes(digest)).ljust(DIGEST_AREA, ERASED) + bootloader


def _as_engine_reads(image: bytes, source: str) -> bytes:
    """The bootloader as the engine reads it, in whole 128-byte blocks.

    The engine reads to the end of the block holding the checksum byte, so an appended SHA-256
    that spills at most 32 bytes into a further block is left out; a last partial block is
    padded with erased flash.
    """
    try:
        parsed = load_image(image, get_chip("esp32"), source, check_chip_id=False)
    except ImageError as exc:
        raise SecureError(str(exc)) from None
    spill = len(image) % ENGINE_BLOCK
    if parsed.hash_appended and spill <= SHA256_SIZE:
        image = image[: len(image) - spill]
    return image + ERASED * (-len(image) % ENGINE_BLOCK)


def _engine_digest(aes_key: bytes, plaintext: bytes) -> bytes:
    """SHA-512 of the engine's AES output over `plaintext`.

    Mirroring the whole buffer reverses each 16-byte block (and their order), so one ECB pass
    encrypts every block as the engine does. Reversing the order of all 32-bit words of the
    result then restores the block order while reversing the words inside each block.
    """
    encrypted = Cipher(algorithms.AES(aes_key), modes.ECB()).encryptor().update(plaintext[::-1])
    words = array(_WORD, encrypted)
    words.reverse()
    return hashlib.sha512(words.tobytes()).digest()


def _swap_word_bytes(data: bytes) -> bytes:
    words = array(_WORD, data)
    words.byteswap()
    return words.tobytes()
