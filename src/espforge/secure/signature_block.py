"""The Secure Boot v2 signature block and signature sector, as the ROM reads them.

A signed image ends with a 4 KB signature sector holding up to three 1216-byte blocks, then
0xFF. A block is: magic 0xE7, version (2 RSA, 3 ECDSA), for ECDSA the hash (0 SHA-256,
1 SHA-384), a pad byte, the image digest, the public key, the signature, zeros up to byte
1196, a CRC-32 of those 1196 bytes and 16 zero bytes. The RSA peripheral and micro-ecc take
little-endian numbers, so every big number is stored byte-reversed.
"""

from __future__ import annotations

import hashlib
import struct
import zlib
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)

from espforge.secure.errors import SecureError
from espforge.secure.keys import RSA3072, V2_SCHEMES, PublicKey, SigningScheme

BLOCK_SIZE = 1216
MAX_BLOCKS = 3
MAGIC = 0xE7
VERSION_RSA = 2
VERSION_ECDSA = 3
SIGNED_LENGTH = 1196  # the bytes the CRC covers; the CRC and 16 zero bytes follow
HEADER_SIZE = 4

_SHA_IDS = {"sha256": 0, "sha384": 1}  # the ECDSA block's hash byte
_RSA_KEY_FIELDS_SIZE = 384 + 4 + 384 + 4  # modulus, exponent, R^-1, M'
_ECDSA_SCHEMES = {scheme.curve_id: scheme for scheme in V2_SCHEMES.values() if not scheme.is_rsa}


@dataclass(frozen=True)
class SignatureBlock:
    """One valid block of a signature sector."""

    index: int
    scheme: SigningScheme
    image_digest: bytes
    key_fields: bytes  # the public key as the block stores it
    signature: bytes  # as cryptography takes it: RSA big-endian, ECDSA DER

    @property
    def key_digest(self) -> bytes:
        """SHA-256 of the public key as stored: the digest burned into eFuse."""
        return hashlib.sha256(self.key_fields).digest()

    @property
    def algorithm(self) -> str:
        return "RSA" if self.scheme.is_rsa else "ECDSA"


def encode_public_key(key: PublicKey, scheme: SigningScheme) -> bytes:
    """The public key as a signature block stores it (also what its eFuse digest covers)."""
    if isinstance(key, rsa.RSAPublicKey):
        return _rsa_key_fields(key)
    numbers = key.public_numbers()
    return bytes([scheme.curve_id]) + _little_endian_pair(numbers.x, numbers.y, scheme)


def public_key_digest(key: PublicKey, scheme: SigningScheme) -> bytes:
    """The SHA-256 digest of the public key that Secure Boot v2 keeps in eFuse."""
    return hashlib.sha256(encode_public_key(key, scheme)).digest()


def build_block(
    scheme: SigningScheme, image_digest: bytes, key: PublicKey, signature: bytes
) -> bytes:
    """A complete 1216-byte block; `signature` as cryptography makes it (ECDSA in DER)."""
    if scheme.is_rsa:
        header = struct.pack("<BBxx", MAGIC, VERSION_RSA)
        stored_signature = signature[::-1]
    else:
        header = struct.pack("<BBBx", MAGIC, VERSION_ECDSA, _SHA_IDS[scheme.hash_algorithm.name])
        stored_signature = _little_endian_pair(*decode_dss_signature(signature), scheme)
    body = header + image_digest + encode_public_key(key, scheme) + stored_signature
    body = body.ljust(SIGNED_LENGTH, b"\x00")
    return body + struct.pack("<I", zlib.crc32(body)) + bytes(BLOCK_SIZE - SIGNED_LENGTH - 4)


def parse_block(raw: bytes, index: int) -> SignatureBlock:
    """The block `raw`, or a SecureError whose message says why the ROM would skip it."""
    if raw == b"\xff" * len(raw):
        raise SecureError("is absent (erased)")
    magic, version, sha_id = struct.unpack_from("<BBB", raw)
    if magic != MAGIC:
        raise SecureError(f"is not a signature block (first byte {magic:#04x}, not {MAGIC:#04x})")
    if version not in (VERSION_RSA, VERSION_ECDSA):
        raise SecureError(f"has an unknown signature block version {version}")
    (stored_crc,) = struct.unpack_from("<I", raw, SIGNED_LENGTH)
    if zlib.crc32(raw[:SIGNED_LENGTH]) != stored_crc:
        raise SecureError("is damaged (its CRC-32 does not match its contents)")
    scheme = RSA3072 if version == VERSION_RSA else _ecdsa_scheme(raw, sha_id)
    return _split_fields(raw, index, scheme)


def _ecdsa_scheme(raw: bytes, sha_id: int) -> SigningScheme:
    digest_size = 48 if sha_id == _SHA_IDS["sha384"] else 32
    curve_id = raw[HEADER_SIZE + digest_size]
    scheme = _ECDSA_SCHEMES.get(curve_id)
    if scheme is None or _SHA_IDS[scheme.hash_algorithm.name] != sha_id:
        raise SecureError(f"has an unknown ECDSA curve {curve_id} with hash type {sha_id}")
    return scheme


def _split_fields(raw: bytes, index: int, scheme: SigningScheme) -> SignatureBlock:
    key_start = HEADER_SIZE + scheme.digest_size
    if scheme.is_rsa:
        key_length = _RSA_KEY_FIELDS_SIZE
        signature_start = key_start + key_length
        signature = raw[signature_start : signature_start + RSA3072.key_bits // 8][::-1]
    else:
        size = _component_size(scheme)
        key_length = 1 + _ecdsa_field_size(scheme)
        stored = raw[key_start + key_length : key_start + key_length + 2 * size]
        signature = encode_dss_signature(
            int.from_bytes(stored[:size], "little"), int.from_bytes(stored[size:], "little")
        )
    return SignatureBlock(
        index=index,
        scheme=scheme,
        image_digest=raw[HEADER_SIZE:key_start],
        key_fields=raw[key_start : key_start + key_length],
        signature=signature,
    )


def _rsa_key_fields(key: rsa.RSAPublicKey) -> bytes:
    """Modulus, exponent, R^-1 mod n (R = 2^(2*bits)) and -n^-1 mod 2^32 for the peripheral."""
    numbers = key.public_numbers()
    size = key.key_size // 8
    r_inverse = (1 << (2 * key.key_size)) % numbers.n
    m_prime = -pow(numbers.n, -1, 1 << 32) & 0xFFFFFFFF
    return (
        numbers.n.to_bytes(size, "little")
        + struct.pack("<I", numbers.e)
        + r_inverse.to_bytes(size, "little")
        + struct.pack("<I", m_prime)
    )


def _component_size(scheme: SigningScheme) -> int:
    return scheme.key_bits // 8


def _ecdsa_field_size(scheme: SigningScheme) -> int:
    """Point and signature fields are 64 bytes with SHA-256 (so P-192's are zero-padded), 96
    with SHA-384."""
    return 2 * scheme.digest_size


def _little_endian_pair(first: int, second: int, scheme: SigningScheme) -> bytes:
    """Two numbers (a point, or r and s) in micro-ecc's little-endian form, in their field."""
    size = _component_size(scheme)
    pair = first.to_bytes(size, "little") + second.to_bytes(size, "little")
    return pair.ljust(_ecdsa_field_size(scheme), b"\x00")
