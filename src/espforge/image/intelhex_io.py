"""Intel HEX input (parsed by the `intelhex` package) and output (encoded here, in bulk).

Reading accepts exactly what esptool accepts as a HEX input: a file starting with ':' that the
`intelhex` package parses. Anything else is not HEX and is treated as raw binary by the caller.
Writing produces the same records as `intelhex`'s writer (16 data bytes per record, never
crossing a 64 KB page, an extended linear address record before each new page when any data
lies above 64 KB), without building its per-byte address dictionary.
"""

from __future__ import annotations

import io
from collections.abc import Iterable

from intelhex import HexRecordError, IntelHex, IntelHexError

from espforge.errors import ImageError

RECORD_DATA_LEN = 16
PAGE_SIZE = 0x10000
ADDRESS_LIMIT = 1 << 32
DATA_RECORD = 0
EXTENDED_LINEAR_ADDRESS_RECORD = 4
END_OF_FILE_LINE = b":00000001FF\n"


def read_intel_hex(data: bytes, source: str) -> list[tuple[int, bytes]] | None:
    """The contiguous (address, bytes) regions of an Intel HEX file, or None if `data` is not HEX.

    A file that starts like HEX but has a malformed record is not HEX (esptool then writes it as
    raw binary); well-formed records that contradict each other are an error.
    """
    if not data.startswith(b":"):
        return None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    parsed = IntelHex()
    try:
        parsed.loadhex(io.StringIO(text, newline=None))
    except HexRecordError:
        return None
    except IntelHexError as exc:
        raise ImageError(f"{source}: inconsistent Intel HEX file ({exc}); regenerate it") from None
    return [
        (start, parsed.tobinstr(start=start, size=end - start)) for start, end in parsed.segments()
    ]


def encode_intel_hex(regions: Iterable[tuple[int, bytes]]) -> bytes:
    """Intel HEX text (LF line ends) for non-overlapping (address, bytes) regions."""
    runs = _contiguous_runs(regions)
    if runs and runs[-1][0] + len(runs[-1][1]) > ADDRESS_LIMIT:
        raise ImageError("Intel HEX cannot hold data above the 4 GB address limit")
    needs_pages = bool(runs) and runs[-1][0] + len(runs[-1][1]) - 1 >= PAGE_SIZE
    lines: list[bytes] = []
    current_page = -1
    for address, data in runs:
        offset = 0
        while offset < len(data):
            record_address = address + offset
            page, low_address = divmod(record_address, PAGE_SIZE)
            if needs_pages and page != current_page:
                lines.append(_record(0, EXTENDED_LINEAR_ADDRESS_RECORD, page.to_bytes(2, "big")))
                current_page = page
            length = min(RECORD_DATA_LEN, PAGE_SIZE - low_address, len(data) - offset)
            lines.append(_record(low_address, DATA_RECORD, data[offset : offset + length]))
            offset += length
    lines.append(END_OF_FILE_LINE)
    return b"".join(lines)


def _contiguous_runs(regions: Iterable[tuple[int, bytes]]) -> list[tuple[int, bytes]]:
    """Regions sorted by address, empty ones dropped and touching ones joined."""
    runs: list[tuple[int, bytearray]] = []
    for address, data in sorted(regions, key=lambda region: region[0]):
        if not data:
            continue
        if runs and runs[-1][0] + len(runs[-1][1]) == address:
            runs[-1][1].extend(data)
        else:
            runs.append((address, bytearray(data)))
    return [(address, bytes(data)) for address, data in runs]


def _record(address: int, record_type: int, payload: bytes) -> bytes:
    body = bytes((len(payload), address >> 8, address & 0xFF, record_type)) + payload
    checksum = -sum(body) & 0xFF
    return b":" + (body + bytes((checksum,))).hex().upper().encode() + b"\n"
