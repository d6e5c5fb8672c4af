"""Secure Boot v2: signing images with up to three keys, verifying them, and reading their blocks.

Whoever holds the key (a key file, an HSM, or a signature made elsewhere) is a `Signer`;
every signature is checked against its public key before it goes into an image.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

from espforge.chips.base import FLASH_SECTOR_SIZE
from espforge.secure import signature_block as sb
from espforge.secure.errors import SecureError
from espforge.secure.keys import PrivateKey, PublicKey, SigningScheme, v2_scheme_of

# The ROM's RSA-PSS: MGF1 with SHA-256 and a 32-byte salt.
_PSS = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)


class Signer(Protocol):
    """Something that signs a digest with one key and names where that key came from."""

    source: str

    def public_key(self) -> PublicKey: ...

    def sign_digest(self, digest: bytes, scheme: SigningScheme) -> bytes:
        """A signature of `digest` as cryptography represents it (ECDSA in DER)."""
        ...


@dataclass(frozen=True)
class PrivateKeySigner:
    key: PrivateKey
    source: str

    def public_key(self) -> PublicKey:
        return self.key.public_key()

    def sign_digest(self, digest: bytes, scheme: SigningScheme) -> bytes:
        if isinstance(self.key, rsa.RSAPrivateKey):
            return self.key.sign(digest, _PSS, Prehashed(scheme.hash_algorithm()))
        return self.key.sign(digest, ec.ECDSA(Prehashed(scheme.hash_algorithm())))


@dataclass(frozen=True)
class PrecalculatedSignature:
    """A signature made elsewhere (an HSM, a signing server) with the key's public half."""

    key: PublicKey
    signature: bytes
    source: str  # the signature file

    def public_key(self) -> PublicKey:
        return self.key

    def sign_digest(self, digest: bytes, scheme: SigningScheme) -> bytes:
        return self.signature


def signature_is_valid(
    key: PublicKey, scheme: SigningScheme, digest: bytes, signature: bytes
) -> bool:
    """Whether `signature` (RSA-PSS, or ECDSA in DER) signs `digest` with `key`."""
    try:
        if isinstance(key, rsa.RSAPublicKey):
            key.verify(signature, digest, _PSS, Prehashed(scheme.hash_algorithm()))
        else:
            key.verify(signature, digest, ec.ECDSA(Prehashed(scheme.hash_algorithm())))
    except (InvalidSignature, ValueError):  # ValueError: not even DER
        return False
    return True


@dataclass(frozen=True)
class SignedImage:
    data: bytes
    signed_length: int  # bytes the signatures cover
    padded_by: int  # 0xFF bytes added to reach a sector boundary
    kept_blocks: int  # valid blocks kept from the image (--append-signatures)
    total_blocks: int


def sign_image(
    image: bytes,
    signers: Sequence[Signer],
    *,
    append: bool = False,
    skip_padding: bool = False,
    source: str = "image",
) -> SignedImage:
    """`image` with a signature sector holding one block per signer.

    `append` keeps the valid blocks of an already signed image; `skip_padding` signs an
    image that does not end on a 4 KB boundary as it is.
    """
    if not signers:
        raise SecureError(
            "no signing key given: use --keyfile, --pub-key with --signature, or --hsm"
        )
    contents, padded_by, kept = _contents_to_sign(image, signers, append, skip_padding, source)
    free_blocks = sb.MAX_BLOCKS - len(kept)
    if len(signers) > free_blocks:
        raise SecureError(
            f"{len(signers)} keys given but the signature sector of {source} has only "
            f"{free_blocks} free block(s) (it holds at most {sb.MAX_BLOCKS})"
        )
    new_blocks = [_signed_block(contents, signer) for signer in signers]
    sector = b"".join([*kept, *new_blocks]).ljust(FLASH_SECTOR_SIZE, b"\xff")
    return SignedImage(
        data=contents + sector,
        signed_length=len(contents),
        padded_by=padded_by,
        kept_blocks=len(kept),
        total_blocks=len(kept) + len(new_blocks),
    )


def _contents_to_sign(
    image: bytes, signers: Sequence[Signer], append: bool, skip_padding: bool, source: str
) -> tuple[bytes, int, list[bytes]]:
    """The bytes to sign, how much padding they got, and the blocks kept from `image`."""
    misalignment = len(image) % FLASH_SECTOR_SIZE
    if misalignment:
        if any(isinstance(signer, PrecalculatedSignature) for signer in signers):
            raise SecureError(
                f"{source}: {len(image)} bytes is not a multiple of 4 KB; a pre-calculated "
                "signature must sign the image already padded to a 4 KB boundary"
            )
        if skip_padding:
            return image, 0, []
        padded_by = FLASH_SECTOR_SIZE - misalignment
        return image + b"\xff" * padded_by, padded_by, []
    if not append:
        return image, 0, []
    sector = image[-FLASH_SECTOR_SIZE:]
    kept = _leading_blocks(sector)
    if not kept:
        return image, 0, []
    contents = image[:-FLASH_SECTOR_SIZE]
    for block in kept:
        if block.image_digest != block.scheme.digest(contents):
            raise SecureError(
                f"{source}: signature block {block.index} does not sign this image's contents; "
                "sign the image afresh without --append-signatures"
            )
    if len(kept) == sb.MAX_BLOCKS:
        raise SecureError(
            f"{source} already has {sb.MAX_BLOCKS} signature blocks, the most a sector holds"
        )
    return contents, 0, [_raw_block(sector, block.index) for block in kept]


def _leading_blocks(sector: bytes) -> list[sb.SignatureBlock]:
    """The valid blocks at the start of `sector`, up to the first that is not."""
    blocks = []
    for index in range(sb.MAX_BLOCKS):
        try:
            blocks.append(sb.parse_block(_raw_block(sector, index), index))
        except SecureError:
            break
    return blocks


def _signed_block(contents: bytes, signer: Signer) -> bytes:
    key = signer.public_key()
    scheme = v2_scheme_of(key, signer.source)
    digest = scheme.digest(contents)
    signature = signer.sign_digest(digest, scheme)
    if not signature_is_valid(key, scheme, digest, signature):
        raise SecureError(
            f"{signer.source}: the signature does not verify with its public key over this "
            "image; it was made with another key or over other data"
        )
    return sb.build_block(scheme, digest, key, signature)


def _raw_block(sector: bytes, index: int) -> bytes:
    return sector[index * sb.BLOCK_SIZE : (index + 1) * sb.BLOCK_SIZE]


_CHANGED_AFTER_SIGNING = "holds a digest that does not match the image (changed after signing)"


@dataclass(frozen=True)
class BlockCheck:
    index: int
    verified: bool
    reason: str  # why the block did not verify, or the algorithm that did
    algorithm: str = ""


def verify_image(
    image: bytes,
    key: PublicKey,
    *,
    skip_padding: bool = False,
    source: str = "image",
    key_source: str = "key",
) -> list[BlockCheck]:
    """Check each of the image's signature blocks against `key`; at least one must verify.

    Raises a SecureError saying, for every block, why none did.
    """
    contents, sector = _split_signed_image(image, skip_padding, source)
    scheme = v2_scheme_of(key, key_source)
    checks = [_check_block(sector, index, contents, key, scheme) for index in range(sb.MAX_BLOCKS)]
    if not any(check.verified for check in checks):
        reasons = "; ".join(f"block {check.index} {check.reason}" for check in checks)
        if any(check.reason == _CHANGED_AFTER_SIGNING for check in checks):
            raise SecureError(
                f"{source}: Signature block image digest does not match the actual image digest: "
                f"{reasons}"
            )
        verdict = "Checked all blocks. Signature could not be verified with the provided key."
        if not any(check.algorithm for check in checks):
            raise SecureError(
                f"{source}: {verdict} The image is not signed (no valid signature block): {reasons}"
            )
        raise SecureError(
            f"{source}: {verdict} No signature block verifies with {key_source}: {reasons}"
        )
    return checks


def _check_block(
    sector: bytes, index: int, contents: bytes, key: PublicKey, scheme: SigningScheme
) -> BlockCheck:
    try:
        block = sb.parse_block(_raw_block(sector, index), index)
    except SecureError as problem:
        return BlockCheck(index, False, str(problem))
    if block.scheme != scheme:
        reason = f"is signed with {block.scheme.title} but the key is {scheme.title}"
    elif block.image_digest != scheme.digest(contents):
        reason = _CHANGED_AFTER_SIGNING
    elif signature_is_valid(key, scheme, block.image_digest, block.signature):
        return BlockCheck(index, True, "", block.algorithm)
    elif block.key_fields != sb.encode_public_key(key, scheme):
        reason = "is signed by another key"
    else:
        reason = "has a signature that does not verify (damaged)"
    return BlockCheck(index, False, reason, block.algorithm)


def signature_blocks(image: bytes, source: str = "image") -> list[sb.SignatureBlock]:
    """The valid blocks of a signed image, in order, stopping at the first absent one (none
    for an image that is not signed)."""
    contents, sector = _split_signed_image(image, False, source)
    blocks = _leading_blocks(sector)
    for block in blocks:
        if block.image_digest != block.scheme.digest(contents):
            raise SecureError(
                f"{source}: Digest in signature block {block.index} doesn't match the image "
                "digest. The image changed after signing."
            )
    return blocks


def _split_signed_image(image: bytes, skip_padding: bool, source: str) -> tuple[bytes, bytes]:
    """The signed contents and the signature sector of `image`."""
    if skip_padding and len(image) < FLASH_SECTOR_SIZE:
        raise SecureError(
            f"{source}: Invalid datafile. File too small (must be at least 4096 bytes). "
            f"{len(image)} bytes cannot hold the signature sector."
        )
    if len(image) < FLASH_SECTOR_SIZE or len(image) % FLASH_SECTOR_SIZE and not skip_padding:
        raise SecureError(
            f"{source}: Invalid datafile. Data size should be non-zero & a multiple of 4096. "
            f"{len(image)} bytes has no signature sector at its end (use --skip-padding if it "
            "was signed with --skip-padding)."
        )
    return image[:-FLASH_SECTOR_SIZE], image[-FLASH_SECTOR_SIZE:]
