"""The Secure Boot signing library: block layout facts, keys, and signatures that both espforge and
espsecure accept, for random images."""

from __future__ import annotations

import functools
import hashlib
import io
import struct
import zlib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_secure_cli import secure_fixture

from espforge.secure import keys as k
from espforge.secure import secure_boot_v1 as v1
from espforge.secure import secure_boot_v2 as v2
from espforge.secure import signature_block as sb
from espforge.secure.errors import SecureError

KEY_FILES = {
    "rsa3072": "rsa_secure_boot_signing_key.pem",
    "ecdsa192": "ecdsa192_secure_boot_signing_key.pem",
    "ecdsa256": "ecdsa256_secure_boot_signing_key.pem",
    "ecdsa384": "ecdsa384_secure_boot_signing_key.pem",
}


@functools.cache
def private_key(scheme: str) -> k.PrivateKey:
    path = secure_fixture(KEY_FILES[scheme])
    return k.load_private_key(path.read_bytes(), str(path))


def signer(scheme: str) -> v2.PrivateKeySigner:
    return v2.PrivateKeySigner(private_key(scheme), KEY_FILES[scheme])


# ------------------------------------------------------------------ layout facts


@pytest.mark.parametrize("scheme", list(KEY_FILES))
def test_a_block_is_1216_bytes_with_its_crc_and_parses_back(scheme):
    key = private_key(scheme)
    chosen = k.v2_scheme_of(key, "key")
    digest = chosen.digest(b"image")
    block = sb.build_block(
        chosen, digest, key.public_key(), signer(scheme).sign_digest(digest, chosen)
    )
    assert len(block) == sb.BLOCK_SIZE
    assert block[0] == 0xE7 and block[1] == (2 if chosen.is_rsa else 3)
    assert struct.unpack_from("<I", block, 1196)[0] == zlib.crc32(block[:1196])
    assert block[1200:] == bytes(16)
    parsed = sb.parse_block(block, 0)
    assert parsed.scheme == chosen and parsed.image_digest == digest
    assert v2.signature_is_valid(key.public_key(), chosen, digest, parsed.signature)


def test_rsa_key_fields_are_the_montgomery_values_espsecure_computes():
    oracle = pytest.importorskip("espsecure")
    public = private_key("rsa3072").public_key()
    theirs = oracle._get_sbv2_rsa_primitives(public)
    fields = sb.encode_public_key(public, k.RSA3072)
    n, e, r_inverse, m_prime = struct.unpack("<384sI384sI", fields)
    assert int.from_bytes(n, "little") == theirs.n and e == theirs.e
    assert int.from_bytes(r_inverse, "little") == theirs.rinv
    assert m_prime == theirs.m & 0xFFFFFFFF


def test_p192_points_sit_zero_padded_in_64_byte_fields():
    public = private_key("ecdsa192").public_key()
    fields = sb.encode_public_key(public, k.ECDSA192)
    numbers = public.public_numbers()
    assert fields[0] == 1 and len(fields) == 65
    assert fields[1:25] == numbers.x.to_bytes(24, "little")
    assert fields[25:49] == numbers.y.to_bytes(24, "little")
    assert fields[49:] == bytes(16)


def test_parse_block_says_why_a_block_is_unusable():
    good = secure_fixture("bootloader_signed_v2_rsa.bin").read_bytes()[0x8000 : 0x8000 + 1216]
    cases = {
        b"\xff" * 1216: "absent",
        b"\x00" + good[1:]: "not a signature block",
        good[:1] + b"\x07" + good[2:]: "unknown signature block version 7",
        good[:500] + bytes([good[500] ^ 1]) + good[501:]: "damaged",
    }
    for raw, reason in cases.items():
        with pytest.raises(SecureError, match=reason):
            sb.parse_block(raw, 0)


# ------------------------------------------------------------------ keys


def test_key_loading_rejects_and_never_echoes_key_material():
    pem = secure_fixture("ecdsa256_secure_boot_signing_key.pem").read_bytes()
    with pytest.raises(SecureError) as caught:
        k.load_private_key(pem.replace(b"M", b"!"), "broken.pem")
    assert "broken.pem" in str(caught.value) and "\n" not in str(caught.value)
    assert pem.decode().splitlines()[1][:20] not in str(caught.value)
    with pytest.raises(SecureError, match="not a PEM public or private key"):
        k.load_public_key(b"hello", "hello.txt")


def test_private_key_digest_is_the_sha256_of_the_scalar():
    key = private_key("ecdsa256")
    scalar = key.private_numbers().private_value.to_bytes(32, "big")
    assert k.private_key_digest(key, 256) == hashlib.sha256(scalar).digest()
    assert k.private_key_digest(key, 192) == hashlib.sha256(scalar).digest()[:24]


# ------------------------------------------------------------------ both tools agree

_images = st.binary(min_size=0, max_size=9000)
_settings = settings(
    max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@pytest.mark.oracle
@pytest.mark.parametrize("scheme", list(KEY_FILES))
@_settings
@given(image=_images)
def test_espforge_signatures_verify_with_espsecure(scheme, image):
    oracle = pytest.importorskip("espsecure")
    signed = v2.sign_image(image, [signer(scheme)]).data
    assert len(signed) % 0x1000 == 0 and signed[: len(image)] == image
    public_pem = k.public_key_pem(private_key(scheme).public_key())
    oracle.verify_signature_v2(False, None, io.BytesIO(public_pem), io.BytesIO(signed))


@pytest.mark.oracle
@pytest.mark.parametrize("scheme", list(KEY_FILES))
@_settings
@given(image=_images)
def test_espsecure_signatures_verify_with_espforge(tmp_path_factory, scheme, image):
    oracle = pytest.importorskip("espsecure")
    folder = tmp_path_factory.mktemp("sign")
    source, output = folder / "image.bin", folder / "signed.bin"
    source.write_bytes(image)
    with open(secure_fixture(KEY_FILES[scheme]), "rb") as key, open(source, "rb") as data:
        oracle.sign_secure_boot_v2([key], str(output), False, False, None, [], [], data)
    checks = v2.verify_image(output.read_bytes(), private_key(scheme).public_key())
    assert [check.verified for check in checks] == [True, False, False]


@pytest.mark.oracle
@_settings
@given(image=_images)
def test_v1_signatures_are_deterministic_and_identical_to_espsecures(tmp_path_factory, image):
    oracle = pytest.importorskip("espsecure")
    key = private_key("ecdsa256")
    ours = v1.sign_image(image, key)
    assert v1.verify_image(ours, key.public_key(), "image") == len(image)
    folder = tmp_path_factory.mktemp("v1")
    source, output = folder / "image.bin", folder / "signed.bin"
    source.write_bytes(image)
    with open(secure_fixture(KEY_FILES["ecdsa256"]), "rb") as key_file, open(source, "rb") as data:
        oracle.sign_secure_boot_v1([key_file], str(output), False, [], [], data)
    assert ours == output.read_bytes()


@settings(max_examples=40, deadline=None)
@given(offset=st.integers(0, 1195), flip=st.integers(1, 255))
def test_any_damaged_byte_of_a_block_fails_verification_naming_block_0(offset, flip):
    signed = bytearray(secure_fixture("bootloader_signed_v2_ecdsa256.bin").read_bytes())
    signed[0x8000 + offset] ^= flip
    public = private_key("ecdsa256").public_key()
    with pytest.raises(SecureError, match="block 0 "):
        v2.verify_image(bytes(signed), public, source="damaged.bin")


@settings(max_examples=25, deadline=None)
@given(image=st.binary(max_size=5000), count=st.integers(1, 3))
def test_signature_sector_holds_one_block_per_key(image, count):
    signers = [signer("ecdsa256")] * count
    signed = v2.sign_image(image, signers)
    blocks = v2.signature_blocks(signed.data)
    assert [block.index for block in blocks] == list(range(count))
    assert signed.data[-0x1000 + count * sb.BLOCK_SIZE :] == b"\xff" * (0x1000 - count * 1216)
    assert signed.padded_by == (-len(image)) % 0x1000
