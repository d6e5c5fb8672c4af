"""Secure Debug Controller (SDC) certificates: signed permission to unlock debugging on one chip.

A certificate is a 20-byte header (magic "CAMR", version 1, USC length, header+body length,
CRC-32 of the body), a 416-byte body (256 bytes of Unlock Security Configuration, the
ECDSA P-256 public key X and Y, the signature's r and s, and SHA-256 over those four), and
the 32-byte nonce the chip info was derived with. Numbers are big-endian; the signature
covers the USC and the chip's 32-byte chip info, which binds the certificate to one chip.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
import zlib
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from espforge.secure.errors import SecureError
from espforge.secure.keys import ECDSA256, PublicKey
from espforge.secure.secure_boot_v2 import Signer, signature_is_valid

MAGIC = 0x524D4143
VERSION = 1
USC_SIZE = 256
NUMBER_SIZE = 32  # each coordinate, r, s, hash, chip info and nonce
MAC_SIZE = 6
HEADER_FORMAT = "<IBBHHHII"
HEADER_SIZE = struct.calcsize(HEADER_FORMAT)
CHIP_INFO_FILE_SIZE = 2 * NUMBER_SIZE  # chip info, then the nonce it was derived with
SESSION_COUNTERS = (0, 1, 3, 7)  # a 3-bit eFuse burnt one more bit per session
USC_JSON_VERSION = 1
UNLOCK_FLAGS = ("enable_jtag", "enable_download_reuse", "enable_force_spi_boot")
_FLAG_TITLES = {
    "enable_jtag": "JTAG",
    "enable_download_reuse": "Download Reuse",
    "enable_force_spi_boot": "Force SPI Boot",
}


@dataclass(frozen=True)
class Certificate:
    data: bytes
    public_key_hash: bytes
    certificate_hash: bytes


def usc_data(enabled: dict[str, bool]) -> bytes:
    """The Unlock Security Configuration: a big-endian word of flag bits, then zeros."""
    word = sum(1 << bit for bit, name in enumerate(UNLOCK_FLAGS) if enabled.get(name))
    return word.to_bytes(4, "big").ljust(USC_SIZE, b"\x00")


def enabled_features(enabled: dict[str, bool]) -> list[str]:
    return [_FLAG_TITLES[name] for name in UNLOCK_FLAGS if enabled.get(name)]


def read_usc_json(text: str, source: str) -> dict[str, bool]:
    """The unlock flags set in a USC JSON file (version 1: groups of key/value entries)."""
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        raise SecureError(f"{source}: not valid JSON ({error})") from None
    if not isinstance(document, dict) or document.get("version") != USC_JSON_VERSION:
        raise SecureError(f'{source}: a USC file is a JSON object with "version": 1')
    groups = document.get("groups", [])
    if not isinstance(groups, list) or not all(isinstance(group, dict) for group in groups):
        raise SecureError(f'{source}: "groups" must be a list of objects')
    flags: dict[str, bool] = {}
    for group in groups:
        if group.get("group") == "config_flags":  # other groups are for later tools
            flags.update(_flag_entries(group.get("entries", []), source))
    return flags


def _flag_entries(entries: Any, source: str) -> dict[str, bool]:
    if not isinstance(entries, list):
        raise SecureError(f'{source}: "entries" must be a list')
    flags = {}
    for entry in entries:
        if not isinstance(entry, dict) or "key" not in entry or "value" not in entry:
            raise SecureError(f'{source}: every entry needs "key" and "value"')
        key, value = entry["key"], entry["value"]
        if key not in UNLOCK_FLAGS:
            raise SecureError(f"{source}: unknown flag {key!r} (known: {', '.join(UNLOCK_FLAGS)})")
        if not isinstance(value, bool):
            raise SecureError(f"{source}: {key} must be true or false")
        flags[key] = value
    return flags


def parse_mac(text: str) -> bytes:
    """A MAC address written as hex (any of ':', '-', spaces) or named by a .bin/.hex file."""
    lowered = text.lower()
    names_file = os.sep in text or lowered.endswith((".bin", ".hex"))
    if names_file and os.path.isfile(text):
        with open(text, "rb") as handle:
            content = handle.read()
        if lowered.endswith(".bin"):
            if len(content) != MAC_SIZE:
                raise SecureError(f"{text}: {len(content)} bytes; a MAC address is {MAC_SIZE}")
            return content
        if lowered.endswith(".hex"):
            return _hex_bytes(content.decode(errors="replace"), text)
    return _hex_bytes(text, "--mac")


def _hex_bytes(text: str, source: str) -> bytes:
    digits = "".join(text.split()).replace(":", "").replace("-", "")
    try:
        value = bytes.fromhex(digits)
    except ValueError:
        value = b""
    if len(value) != MAC_SIZE:
        raise SecureError(
            f"{source}: '{text.strip()}' is not a {MAC_SIZE}-byte MAC address "
            "(write it like 30:ed:a0:ed:78:9c)"
        )
    return value


def chip_info_from_mac(mac: bytes, session_counter: int, nonce: bytes) -> bytes:
    """What the chip derives: SHA-256(SHA-256(MAC in eFuse order), nonce, counter << 4)."""
    if session_counter not in SESSION_COUNTERS:
        raise SecureError(
            f"SDC session counter {session_counter}: it can only be 0, 1, 3 or 7 "
            "(its eFuse bits are burnt one at a time)"
        )
    unique_id = hashlib.sha256(mac[::-1]).digest()
    return hashlib.sha256(unique_id + nonce + bytes([session_counter << 4])).digest()


def split_chip_info_file(data: bytes, source: str) -> tuple[bytes, bytes]:
    """The chip info and the nonce in a chip_info.bin read from the chip."""
    if len(data) != CHIP_INFO_FILE_SIZE:
        raise SecureError(
            f"{source}: {len(data)} bytes; a chip info file is {CHIP_INFO_FILE_SIZE} "
            "(32 bytes of chip info, then the 32-byte nonce)"
        )
    return data[:NUMBER_SIZE], data[NUMBER_SIZE:]


def public_key_bytes(key: PublicKey, source: str) -> bytes:
    """X then Y, big-endian: how a certificate holds its P-256 key."""
    if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(key.curve, ec.SECP256R1):
        raise SecureError(f"{source}: SDC certificates take ECDSA P-256 keys only")
    numbers = key.public_numbers()
    return numbers.x.to_bytes(NUMBER_SIZE, "big") + numbers.y.to_bytes(NUMBER_SIZE, "big")


def public_key_digest(key: PublicKey, source: str) -> bytes:
    """The SHA-256 of the key, byte-reversed as espefuse burns it (SDC_KEY_DIGEST)."""
    return hashlib.sha256(public_key_bytes(key, source)).digest()[::-1]


def build_certificate(
    unlock_data: bytes, chip_info: bytes, nonce: bytes, signer: Signer
) -> Certificate:
    """A certificate signed by `signer`, checked against its public key."""
    key = signer.public_key()
    key_bytes = public_key_bytes(key, signer.source)
    message_digest = ECDSA256.digest(unlock_data + chip_info)
    signature = signer.sign_digest(message_digest, ECDSA256)
    if not signature_is_valid(key, ECDSA256, message_digest, signature):
        raise SecureError(f"{signer.source}: the signature does not verify with its public key")
    r, s = decode_dss_signature(signature)
    signed_part = (
        unlock_data + key_bytes + r.to_bytes(NUMBER_SIZE, "big") + s.to_bytes(NUMBER_SIZE, "big")
    )
    certificate_hash = hashlib.sha256(signed_part).digest()
    body = signed_part + certificate_hash
    header = struct.pack(
        HEADER_FORMAT,
        MAGIC,
        VERSION,
        0,
        USC_SIZE,
        HEADER_SIZE + len(body),
        0,
        zlib.crc32(body, 0xFFFFFFFF),  # the ROM's crc32_le starts from all ones
        0,
    )
    return Certificate(
        data=header + body + nonce,
        public_key_hash=hashlib.sha256(key_bytes).digest(),
        certificate_hash=certificate_hash,
    )
