"""Secure Boot v1 (ESP32) application signatures: ECDSA P-256 over the whole image.

A signed image is the image, a little-endian word 0 (the signature format's version) and the
signature's r and s, each 32 bytes big-endian.
"""

from __future__ import annotations

import struct
from typing import cast

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)

from espforge.secure.errors import SecureError
from espforge.secure.keys import (
    load_private_key,
    load_public_key,
    public_key_from_raw_point,
    require_v1_key,
)

SIGNATURE_VERSION = 0
SIGNATURE_SIZE = 64  # r then s
TRAILER_SIZE = 4 + SIGNATURE_SIZE
_ECDSA_SHA256 = ec.ECDSA(hashes.SHA256())


def load_signing_key(pem: bytes, source: str) -> ec.EllipticCurvePrivateKey:
    try:
        key = load_private_key(pem, source)
    except SecureError as problem:
        raise SecureError(
            "Incorrect ECDSA private key specified. Please check algorithm and/or format. "
            f"{problem}"
        ) from None
    require_v1_key(key, source)
    return cast(ec.EllipticCurvePrivateKey, key)


def load_verifying_key(data: bytes, source: str) -> ec.EllipticCurvePublicKey:
    """A P-256 public key from a PEM private or public key, or 64 raw bytes (X, Y)."""
    if len(data) == SIGNATURE_SIZE and b"-----BEGIN" not in data:
        return public_key_from_raw_point(data, source)
    try:
        key = load_public_key(data, source)
    except SecureError as problem:
        raise SecureError(
            "Verification key does not appear to be an EC key in PEM format or binary EC "
            f"public key data. Unsupported. {problem}"
        ) from None
    require_v1_key(key, source)
    return cast(ec.EllipticCurvePublicKey, key)


def sign_image(image: bytes, key: ec.EllipticCurvePrivateKey) -> bytes:
    """`image` followed by its signature; deterministic (RFC 6979), as espsecure signs."""
    der = key.sign(image, ec.ECDSA(hashes.SHA256(), deterministic_signing=True))
    return image + _trailer(der)


def attach_signature(
    image: bytes, key: ec.EllipticCurvePublicKey, raw_signature: bytes, source: str
) -> bytes:
    """`image` followed by a signature made elsewhere (64 bytes r, s), once it verifies."""
    if len(raw_signature) != SIGNATURE_SIZE:
        raise SecureError(
            f"{source}: {len(raw_signature)} bytes; a Secure Boot v1 signature is "
            f"{SIGNATURE_SIZE} bytes (r then s, big-endian)"
        )
    der = _der(raw_signature)
    if not _verifies(key, der, image):
        raise SecureError(
            f"{source}: the pre-calculated signature does not verify with the given public key "
            "over this image"
        )
    return image + _trailer(der)


def verify_image(image: bytes, key: ec.EllipticCurvePublicKey, source: str) -> int:
    """Check the signature at the end of `image`; returns how many bytes it covers."""
    if len(image) < TRAILER_SIZE:
        raise SecureError(f"{source}: {len(image)} bytes is too short to hold a signature")
    data, trailer = image[:-TRAILER_SIZE], image[-TRAILER_SIZE:]
    (version,) = struct.unpack_from("<I", trailer)
    if version != SIGNATURE_VERSION:
        raise SecureError(
            f"{source}: Signature block has version {version}. Only version 0 exists: the image "
            "is not signed for Secure Boot v1."
        )
    if not _verifies(key, _der(trailer[4:]), data):
        raise SecureError(
            f"{source}: Signature is not valid. It was made with another key, or the image "
            "changed after signing."
        )
    return len(data)


def _trailer(der: bytes) -> bytes:
    r, s = decode_dss_signature(der)
    return struct.pack("<I", SIGNATURE_VERSION) + r.to_bytes(32, "big") + s.to_bytes(32, "big")


def _der(raw_signature: bytes) -> bytes:
    return encode_dss_signature(
        int.from_bytes(raw_signature[:32], "big"), int.from_bytes(raw_signature[32:], "big")
    )


def _verifies(key: ec.EllipticCurvePublicKey, der: bytes, data: bytes) -> bool:
    try:
        key.verify(der, data, _ECDSA_SHA256)
    except InvalidSignature:
        return False
    return True
