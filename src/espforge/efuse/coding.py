"""eFuse coding schemes: what the controller programs besides the data, and how it checks it.

Reed-Solomon (every chip after the ESP32): a 32-byte block carries 12 check bytes, so a block
can be programmed only once. ESP32 3/4: every 6 data bytes carry an XOR byte and a weighted
popcount byte, so 24 data bytes fill a 32-byte block. ESP32 "none" and "repeat" add nothing
the host writes.
"""

from __future__ import annotations

import struct

RS_DATA_BYTES = 32
RS_CHECK_BYTES = 12
CHUNK_34 = 6  # data bytes per 3/4 chunk

CODING_NONE, CODING_34, CODING_RS = 0, 1, 4
NONE_WITH_RECOVERY = 3  # ESP32: no coding; the controller merely recovers from errors


def esp32_scheme(block0_word: int, mask: int) -> int:
    """The coding scheme an ESP32 BLOCK0 word names (2, REPEAT, stays 2: unsupported)."""
    scheme = block0_word & mask
    return CODING_NONE if scheme == NONE_WITH_RECOVERY else scheme


def _words(data: bytes) -> list[int]:
    return list(struct.unpack(f"<{len(data) // 4}I", data))


def rs_encode(data: bytes) -> list[int]:
    """The 11 words (8 data + 3 check) programmed for up to 32 bytes of block data."""
    import reedsolo  # only burning and checking need it

    padded = data.ljust(RS_DATA_BYTES, b"\0")
    return _words(bytes(reedsolo.RSCodec(RS_CHECK_BYTES).encode(padded)))


def rs_is_consistent(words: list[int]) -> bool:
    """True when 8 data words and 3 check words agree."""
    data = struct.pack(f"<{len(words)}I", *words)
    return rs_encode(data[:RS_DATA_BYTES]) == list(words)


def encode_34(data: bytes) -> list[int]:
    """The 8 words programmed for 24 bytes of ESP32 3/4-coded block data."""
    out = bytearray()
    for start in range(0, len(data), CHUNK_34):
        chunk = data[start : start + CHUNK_34]
        xor = 0
        weighted = 0
        for index, byte in enumerate(chunk, start=1):
            xor ^= byte
            weighted += index * bin(byte).count("1")
        out += chunk + bytes((xor, weighted & 0xFF))
    return _words(bytes(out))


def is_consistent_34(words: list[int]) -> bool:
    raw = struct.pack(f"<{len(words)}I", *words)
    data = b"".join(raw[i : i + CHUNK_34] for i in range(0, len(raw), CHUNK_34 + 2))
    return encode_34(data) == list(words)


def decode_34(words: list[int]) -> bytes:
    raw = struct.pack(f"<{len(words)}I", *words)
    return b"".join(raw[i : i + CHUNK_34] for i in range(0, len(raw), CHUNK_34 + 2))
