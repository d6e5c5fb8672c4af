"""Secure Debug Controller certificates and key digests, against espsecure 5.6's."""

from __future__ import annotations

import hashlib
import json
import struct
import zlib

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from hypothesis import given, settings
from hypothesis import strategies as st
from test_secure_cli import assert_fails, espsecure, secure, secure_fixture

from espforge.secure import sdc
from espforge.secure.errors import SecureError

P256_KEY = "ecdsa256_secure_boot_signing_key.pem"
MAC = "30:ed:a0:ed:78:9c"


@pytest.mark.oracle
@pytest.mark.parametrize(
    "source",
    [
        ("-k", "ecdsa256_secure_boot_signing_key.pem"),
        ("--pub-key", "ecdsa256_secure_boot_signing_pubkey2.pem"),
    ],
    ids=["private", "public"],
)
def test_public_key_digest_matches_espsecure(tmp_path, source):
    option, name = source
    espsecure("digest-sdc-public-key", option, secure_fixture(name), "-o", tmp_path / "theirs.bin")
    result = secure(
        "digest-sdc-public-key", option, secure_fixture(name), "-o", tmp_path / "ours.bin"
    )
    assert result.exit_code == 0, result.output
    assert (tmp_path / "ours.bin").read_bytes() == (tmp_path / "theirs.bin").read_bytes()


def _fields(certificate: bytes) -> dict[str, bytes | tuple]:
    header = struct.unpack_from(sdc.HEADER_FORMAT, certificate)
    body = certificate[20:436]
    return {
        "header_without_crc": header[:6] + header[7:],
        "crc": header[6],
        "body": body,
        "usc": body[:256],
        "public_key": body[256:320],
        "signature": body[320:384],
        "hash": body[384:416],
        "nonce": certificate[436:],
    }


@pytest.mark.oracle
def test_certificate_from_chip_info_has_espsecures_layout(tmp_path):
    chip_info = tmp_path / "chip_info.bin"
    chip_info.write_bytes(bytes(range(64)))
    flags = ("--enable-jtag", "--enable-force-spi-boot")
    key = secure_fixture(P256_KEY)
    espsecure("generate-sdc-certificate", "-k", key, "--chip-info", chip_info, *flags,
              "-o", tmp_path / "theirs.bin")  # fmt: skip
    result = secure("generate-sdc-certificate", "-k", key, "--chip-info", chip_info, *flags,
                    "-o", tmp_path / "ours.bin")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "Enabled features: JTAG, Force SPI Boot" in result.stdout
    ours = _fields((tmp_path / "ours.bin").read_bytes())
    theirs = _fields((tmp_path / "theirs.bin").read_bytes())
    for same in ("header_without_crc", "usc", "public_key", "nonce"):
        assert ours[same] == theirs[same], same
    assert ours["usc"][:4] == bytes([0, 0, 0, 0b101])
    assert ours["crc"] == zlib.crc32(ours["body"], 0xFFFFFFFF)
    assert ours["hash"] == hashlib.sha256(ours["body"][:384]).digest()
    public = ec.EllipticCurvePublicNumbers(
        int.from_bytes(ours["public_key"][:32], "big"),
        int.from_bytes(ours["public_key"][32:], "big"),
        ec.SECP256R1(),
    ).public_key()
    signature = ours["signature"]
    public.verify(
        encode_dss_signature(
            int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
        ),
        ours["usc"] + bytes(range(32)),
        ec.ECDSA(hashes.SHA256()),
    )


@pytest.mark.oracle
@settings(max_examples=40, deadline=None)
@given(
    mac=st.binary(min_size=6, max_size=6),
    counter=st.sampled_from(sdc.SESSION_COUNTERS),
    nonce=st.binary(min_size=32, max_size=32),
)
def test_chip_info_is_derived_as_espsecure_derives_it(mac, counter, nonce):
    oracle = pytest.importorskip("espsecure.esp_sdc")
    expected = oracle._calculate_chip_info(mac.hex(":"), counter, nonce)
    assert sdc.chip_info_from_mac(sdc.parse_mac(mac.hex(":")), counter, nonce) == expected


def test_mac_addresses_are_read_in_every_written_form(tmp_path):
    expected = bytes.fromhex("30eda0ed789c")
    (tmp_path / "mac.bin").write_bytes(expected)
    (tmp_path / "mac.hex").write_text("30 ED A0 ED 78 9C\n")
    for text in (
        MAC,
        "30-ed-a0-ed-78-9c",
        "30EDA0ED789C",
        str(tmp_path / "mac.bin"),
        str(tmp_path / "mac.hex"),
    ):
        assert sdc.parse_mac(text) == expected, text
    for bad in ("30:ed:a0", "zz:ed:a0:ed:78:9c", "30:ed:a0:ed:78:9c:00:01"):
        with pytest.raises(SecureError, match="MAC address"):
            sdc.parse_mac(bad)


def test_usc_json_flags_override_the_command_line(tmp_path):
    usc = tmp_path / "usc.json"
    entries = [
        {"key": "enable_jtag", "value": False},
        {"key": "enable_download_reuse", "value": True},
    ]
    usc.write_text(
        json.dumps(
            {
                "version": 1,
                "groups": [
                    {"group": "config_flags", "entries": entries},
                    {"group": "pmp", "entries": 5},
                ],
            }
        )
    )
    result = secure("generate-sdc-certificate", "-k", secure_fixture(P256_KEY), "--mac", MAC,
                    "--enable-jtag", "--usc", usc, "-o", tmp_path / "cert.bin")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "Enabled features: Download Reuse" in result.stdout
    assert (tmp_path / "cert.bin").read_bytes()[20:24] == bytes([0, 0, 0, 0b010])


@pytest.mark.parametrize(
    ("document", "words"),
    [
        ({"groups": []}, '"version": 1'),
        (
            {
                "version": 1,
                "groups": [{"group": "config_flags", "entries": [{"key": "x", "value": True}]}],
            },
            "unknown flag",
        ),
        (
            {
                "version": 1,
                "groups": [
                    {"group": "config_flags", "entries": [{"key": "enable_jtag", "value": 1}]}
                ],
            },
            "true or false",
        ),
    ],
)
def test_bad_usc_json_is_named(tmp_path, document, words):
    usc = tmp_path / "usc.json"
    usc.write_text(json.dumps(document))
    result = secure("generate-sdc-certificate", "-k", secure_fixture(P256_KEY), "--mac", MAC,
                    "--usc", usc, "-o", tmp_path / "cert.bin")  # fmt: skip
    assert_fails(result, "usc.json", words)
    assert not (tmp_path / "cert.bin").exists()


def test_certificate_input_errors(tmp_path):
    key = secure_fixture(P256_KEY)
    output = tmp_path / "cert.bin"
    short = tmp_path / "chip_info.bin"
    short.write_bytes(bytes(40))
    cases = [
        (("-k", secure_fixture("rsa_secure_boot_signing_key.pem"), "--mac", MAC), "P-256"),
        (("-k", secure_fixture("ecdsa384_secure_boot_signing_key.pem"), "--mac", MAC), "P-256"),
        (("-k", key), "--mac"),
        (("-k", key, "--mac", MAC, "--sdc-session-counter", "2"), "0, 1, 3 or 7"),
        (("-k", key, "--chip-info", short), "64"),
        ((), "--keyfile"),
    ]
    for args, words in cases:
        assert_fails(secure("generate-sdc-certificate", *args, "-o", output), words)
        assert not output.exists()
    usage = secure("generate-sdc-certificate", "-k", key, "--hsm", "--mac", MAC, "-o", output)
    assert usage.exit_code == 2 and "cannot be combined" in usage.stderr
