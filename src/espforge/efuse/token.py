"""espefuse's EFSxx tokens: a whole eFuse memory in one line, to share or to emulate.

"EFSR:<chip>:<revision, 3 digits>:<block>:...:<block>:<error registers>:<CRC-32>", each part
unpadded base64url; a blank block or error set is an empty part, the CRC covers everything
before it (its colon included).
"""

from __future__ import annotations

import base64
import binascii
import zlib

from espforge.efuse.report import block_dump_bytes
from espforge.efuse.state import EfuseState
from espforge.efuse.table import EfuseError, EfuseTable

KINDS = ("EFSR", "EFSW", "EFSRW")  # read contents, write contents, both


def _encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def _decode(text: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise EfuseError(
            f"eFuse token part '{text}' is not base64url: copy the whole token"
        ) from None


def _crc(prefix: str) -> str:
    return _encode((zlib.crc32(prefix.encode("ascii")) & 0xFFFFFFFF).to_bytes(4, "little"))


def build(state: EfuseState, kind: str = "EFSR") -> str:
    """The token of what `state` read, with the controller's error registers."""
    return _assemble(state, kind, block_dump_bytes(state), state.error_words)


def build_queued(state: EfuseState) -> str:
    """espefuse's EFSW token of the bits queued for burning (no error registers)."""
    blocks = [block.pending.to_bytes(block.width // 8, "little") for block in state.blocks]
    return _assemble(state, "EFSW", blocks, [])


def _assemble(state: EfuseState, kind: str, blocks: list[bytes], error_words: list[int]) -> str:
    block_text = ":".join(_encode(data) if data.strip(b"\0") else "" for data in blocks)
    errors = b"".join(word.to_bytes(4, "little") for word in error_words)
    error_text = _encode(errors) if any(error_words) else ""
    prefix = f"{kind}:{state.table.chip}:{state.chip_revision():03d}:{block_text}:{error_text}:"
    return prefix + _crc(prefix)


def chip_of(token: str) -> str:
    parts = token.strip().split(":")
    if len(parts) < 6 or parts[0] not in KINDS:
        raise EfuseError("not an eFuse token: it starts EFSR:<chip>: and has 6+ parts")
    return parts[1]


def parse(table: EfuseTable, token: str) -> tuple[list[bytes], list[int]]:
    """Each block's bytes and the error register words a token holds, its CRC checked."""
    parts = token.strip().split(":")
    chip_of(token)
    prefix = ":".join(parts[:-1]) + ":"
    if _crc(prefix) != parts[-1]:
        raise EfuseError("the eFuse token's CRC does not match: copy the whole token")
    pieces = parts[3:-2]
    if len(pieces) != len(table.blocks):
        raise EfuseError(
            f"the eFuse token has {len(pieces)} blocks; {table.chip} has {len(table.blocks)}"
        )
    blocks = []
    for block, piece in zip(table.blocks, pieces, strict=True):
        data = _decode(piece) if piece else bytes(4 * block.words)
        if len(data) != 4 * block.words:
            raise EfuseError(
                f"the eFuse token's {block.name} is {len(data)} bytes, not {4 * block.words}"
            )
        blocks.append(data)
    errors = _decode(parts[-2])
    words = [int.from_bytes(errors[i : i + 4], "little") for i in range(0, len(errors), 4)]
    return blocks, words
