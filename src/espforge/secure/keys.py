"""Secure Boot signing keys: the schemes the ROMs accept; reading, writing and checking keys.

Every message names the key file but never shows key material.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from espforge.secure.errors import SecureError

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
PublicKey = rsa.RSAPublicKey | ec.EllipticCurvePublicKey


@dataclass(frozen=True)
class SigningScheme:
    """One way of signing that a ROM verifies: the key's algorithm and size, and the hash."""

    name: str  # espsecure's --scheme value
    title: str  # how messages name it
    key_bits: int
    hash_algorithm: type[hashes.SHA256] | type[hashes.SHA384]
    curve: type[ec.EllipticCurve] | None = None  # None: RSA
    curve_id: int = 0  # the curve's number in a Secure Boot v2 signature block

    @property
    def is_rsa(self) -> bool:
        return self.curve is None

    @property
    def digest_size(self) -> int:
        return self.hash_algorithm.digest_size

    def digest(self, data: bytes) -> bytes:
        """The digest of `data` that this scheme signs."""
        return hashlib.new(self.hash_algorithm.name, data).digest()


RSA3072 = SigningScheme("rsa3072", "RSA-3072", 3072, hashes.SHA256)
ECDSA192 = SigningScheme("ecdsa192", "ECDSA P-192", 192, hashes.SHA256, ec.SECP192R1, 1)
ECDSA256 = SigningScheme("ecdsa256", "ECDSA P-256", 256, hashes.SHA256, ec.SECP256R1, 2)
ECDSA384 = SigningScheme("ecdsa384", "ECDSA P-384", 384, hashes.SHA384, ec.SECP384R1, 3)

V2_SCHEMES = {scheme.name: scheme for scheme in (RSA3072, ECDSA192, ECDSA256, ECDSA384)}
V1_SCHEME = ECDSA256  # Secure Boot v1 (ESP32) signs application images with P-256 only

_V2_SUPPORTED = "Secure Boot v2 takes RSA-3072 or ECDSA P-192, P-256 or P-384 keys"


def generate_private_key(scheme: SigningScheme) -> bytes:
    """A new private key for `scheme`, as an unencrypted PEM file's bytes."""
    if scheme.curve is None:
        key: PrivateKey = rsa.generate_private_key(public_exponent=65537, key_size=scheme.key_bits)
    else:
        key = ec.generate_private_key(scheme.curve())
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )


def load_private_key(pem: bytes, source: str) -> PrivateKey:
    """The RSA or ECDSA private key in the PEM text `pem` read from `source`."""
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except TypeError:
        raise SecureError(
            f"{source}: the private key is password-protected; give an unencrypted PEM key"
        ) from None
    except (ValueError, UnsupportedAlgorithm):
        raise SecureError(
            f"{source}: not a PEM private key (corrupt or another format); "
            "give a key written by generate-signing-key or openssl"
        ) from None
    if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        raise SecureError(f"{source}: holds a {_kind(key)} key; {_V2_SUPPORTED}")
    return key


def load_public_key(data: bytes, source: str) -> PublicKey:
    """The public key in `data`: a PEM public key, or the public half of a PEM private key."""
    if b"PRIVATE KEY-----" in data:
        return load_private_key(data, source).public_key()
    if b"-----BEGIN PUBLIC KEY-----" not in data:
        raise SecureError(
            f"{source}: not a PEM public or private key; give the PEM key file "
            "(extract-public-key --version 2 writes the public one)"
        )
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, UnsupportedAlgorithm):
        raise SecureError(f"{source}: the PEM public key is corrupt; extract it again") from None
    if not isinstance(key, rsa.RSAPublicKey | ec.EllipticCurvePublicKey):
        raise SecureError(f"{source}: holds a {_kind(key)} key; {_V2_SUPPORTED}")
    return key


def v2_scheme_of(key: PrivateKey | PublicKey, source: str) -> SigningScheme:
    """The Secure Boot v2 scheme `key` signs with, or an error for a key the ROM cannot use."""
    if isinstance(key, rsa.RSAPrivateKey | rsa.RSAPublicKey):
        if key.key_size != RSA3072.key_bits:
            raise SecureError(f"{source}: the RSA key has {key.key_size} bits; {_V2_SUPPORTED}")
        return RSA3072
    for scheme in V2_SCHEMES.values():
        if scheme.curve is not None and isinstance(key.curve, scheme.curve):
            return scheme
    raise SecureError(f"{source}: the ECDSA key is on curve {key.curve.name}; {_V2_SUPPORTED}")


def require_v1_key(key: PrivateKey | PublicKey, source: str) -> None:
    """Reject any key but ECDSA P-256 (prime256v1), the only one Secure Boot v1 verifies."""
    is_ecdsa = isinstance(key, ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey)
    if not (is_ecdsa and isinstance(key.curve, ec.SECP256R1)):
        raise SecureError(
            f"{source}: {_describe(key)}; Secure Boot v1 takes ECDSA P-256 keys only "
            "(openssl calls the curve prime256v1)"
        )


def public_key_pem(key: PublicKey) -> bytes:
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def raw_public_point(key: ec.EllipticCurvePublicKey) -> bytes:
    """X then Y, each big-endian at the curve's size: Secure Boot v1's public key file."""
    numbers = key.public_numbers()
    size = _coordinate_size(key.curve)
    return numbers.x.to_bytes(size, "big") + numbers.y.to_bytes(size, "big")


def public_key_from_raw_point(data: bytes, source: str) -> ec.EllipticCurvePublicKey:
    """A P-256 public key from the 64 bytes that raw_public_point() writes."""
    try:
        return ec.EllipticCurvePublicNumbers(
            int.from_bytes(data[:32], "big"), int.from_bytes(data[32:], "big"), ec.SECP256R1()
        ).public_key()
    except ValueError:
        raise SecureError(f"{source}: the 64 bytes are not a point on curve P-256") from None


def private_key_digest(key: ec.EllipticCurvePrivateKey, bits: int) -> bytes:
    """SHA-256 of the private scalar (big-endian), cut to `bits`: a key to burn in eFuse."""
    scalar = key.private_numbers().private_value.to_bytes(_coordinate_size(key.curve), "big")
    return hashlib.sha256(scalar).digest()[: bits // 8]


def _coordinate_size(curve: ec.EllipticCurve) -> int:
    return (curve.key_size + 7) // 8


def _kind(key: object) -> str:
    return type(key).__name__.removeprefix("_").replace("PrivateKey", "").replace("PublicKey", "")


def _describe(key: PrivateKey | PublicKey) -> str:
    if isinstance(key, rsa.RSAPrivateKey | rsa.RSAPublicKey):
        return f"this is an RSA-{key.key_size} key"
    return f"this ECDSA key is on curve {key.curve.name}"
