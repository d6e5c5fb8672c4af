"""The UF2 encoder: block layout invariants, payload round trip and esptool 5.6's writer."""

from __future__ import annotations

import hashlib
import struct
import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from espforge.errors import ImageError
from espforge.image import uf2
from espforge.image.uf2 import check_chunk_size, encode_uf2, max_chunk_size

FAMILY_ID = 0xD42BA06C

regions_strategy = st.lists(
    st.tuples(st.integers(0, 0x3FFFFF).map(lambda a: a * 4), st.binary(max_size=2000)),
    max_size=4,
)
chunk_sizes = st.one_of(st.none(), st.integers(1, 113).map(lambda n: n * 4))


def decode_blocks(encoded: bytes) -> list[dict[str, int | bytes]]:
    """Parse UF2 blocks, checking the fixed parts of each one."""
    assert len(encoded) % uf2.BLOCK_SIZE == 0
    blocks = []
    for start in range(0, len(encoded), uf2.BLOCK_SIZE):
        block = encoded[start : start + uf2.BLOCK_SIZE]
        magic0, magic1, flags, address, size, number, count, family = struct.unpack_from(
            "<8I", block
        )
        assert (magic0, magic1) == (uf2.FIRST_MAGIC, uf2.SECOND_MAGIC)
        assert struct.unpack_from("<I", block, 508)[0] == uf2.FINAL_MAGIC
        payload = block[32 : 32 + size]
        tail = block[32 + size : 508]
        if flags & uf2.FLAG_MD5_PRESENT:
            assert struct.unpack_from("<II", tail) == (address, size)
            assert tail[8:24] == hashlib.md5(payload).digest()
            tail = tail[24:]
        assert tail == bytes(len(tail))
        fields = {"flags": flags, "address": address, "number": number, "count": count}
        blocks.append({**fields, "family": family, "payload": payload})
    return blocks


@settings(max_examples=80, deadline=None)
@given(regions=regions_strategy, chunk_size=chunk_sizes, md5=st.booleans())
def test_blocks_are_well_formed_and_carry_the_payload(regions, chunk_size, md5) -> None:
    if chunk_size is not None and chunk_size > max_chunk_size(md5):
        chunk_size = max_chunk_size(md5)
    blocks = decode_blocks(encode_uf2(regions, FAMILY_ID, chunk_size, md5))
    limit = chunk_size or max_chunk_size(md5)
    expected_flags = uf2.FLAG_FAMILY_ID_PRESENT | (uf2.FLAG_MD5_PRESENT if md5 else 0)
    position = 0
    for address, data in regions:
        count = -(-len(data) // limit)
        mine = blocks[position : position + count]
        position += count
        assert b"".join(block["payload"] for block in mine) == data
        for number, block in enumerate(mine):
            assert block["number"] == number and block["count"] == count
            assert block["address"] == address + number * limit
            assert 0 < len(block["payload"]) <= limit
            assert block["flags"] == expected_flags and block["family"] == FAMILY_ID
    assert position == len(blocks)


@pytest.mark.oracle
@settings(max_examples=60, deadline=None)
@given(regions=regions_strategy, chunk_size=chunk_sizes, md5=st.booleans())
def test_matches_esptool_writer(regions, chunk_size, md5) -> None:
    uf2_writer = pytest.importorskip("esptool.uf2_writer")
    if chunk_size is not None and chunk_size > max_chunk_size(md5):
        chunk_size = None
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "out.uf2"
        with uf2_writer.UF2Writer(FAMILY_ID, str(path), chunk_size, md5_enabled=md5) as writer:
            for address, data in regions:
                writer.add_file(address, data)
        expected = path.read_bytes()
    assert encode_uf2(regions, FAMILY_ID, chunk_size, md5) == expected


def test_default_chunk_fills_the_data_area() -> None:
    assert max_chunk_size(True) == 452
    assert max_chunk_size(False) == 476
    blocks = decode_blocks(encode_uf2([(0x1000, bytes(range(256)) * 4)], FAMILY_ID))
    assert [len(block["payload"]) for block in blocks] == [452, 452, 120]
    assert [block["address"] for block in blocks] == [0x1000, 0x1000 + 452, 0x1000 + 904]


@pytest.mark.parametrize(("chunk_size", "md5"), [(0, True), (6, True), (456, True), (480, False)])
def test_bad_chunk_sizes_are_refused(chunk_size: int, md5: bool) -> None:
    with pytest.raises(ImageError, match=f"UF2 chunk size {chunk_size} is invalid"):
        check_chunk_size(chunk_size, md5)


def test_largest_chunk_without_md5_is_accepted() -> None:
    check_chunk_size(476, md5_enabled=False)
    assert len(encode_uf2([(0, bytes(476))], FAMILY_ID, 476, md5_enabled=False)) == 512
