"""Signing through a PKCS#11 HSM: a SoftHSM2 token set up in a temporary folder for this run.

Needs Debian's softhsm2 (`apt-get install -y softhsm2`) and python-pkcs11
(`pip install python-pkcs11`); skipped, saying which is missing, otherwise.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from test_secure_cli import assert_fails, espsecure, secure, secure_fixture

from espforge.secure.errors import SecureError
from espforge.secure.hsm import read_hsm_config

SOFTHSM_LIBRARIES = (
    "/usr/lib/softhsm/libsofthsm2.so",
    "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
    "/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so",
)
PIN = "1234"
# label -> the fixture key imported under it (its public key digest is known)
IMPORTED = {
    "rsa": "rsa_secure_boot_signing_key.pem",
    "ecdsa192": "ecdsa192_secure_boot_signing_key_v2.pem",
    "ecdsa256": "ecdsa256_secure_boot_signing_key_v2.pem",
    "ecdsa384": "ecdsa384_secure_boot_signing_key.pem",
}
GENERATED = "made-in-token"


@dataclass(frozen=True)
class Token:
    library: str
    slot: int
    folder: Path

    def config(self, label: str, *, pin: str | None = PIN, slot: int | None = None) -> Path:
        path = self.folder / f"{label}-{pin}-{slot}.ini"
        lines = [
            "[hsm_config]",
            f"pkcs11_lib = {self.library}",
            f"slot = {self.slot if slot is None else slot}",
            f"label = {label}",
        ]
        if pin is not None:
            lines.append(f"credentials = {pin}")
        path.write_text("\n".join(lines) + "\n")
        return path


@pytest.fixture(scope="session")
def token(tmp_path_factory) -> Token:
    pkcs11 = pytest.importorskip(
        "pkcs11", reason="python-pkcs11 is not installed (pip install python-pkcs11)"
    )
    library = next((path for path in SOFTHSM_LIBRARIES if os.path.isfile(path)), None)
    utility = shutil.which("softhsm2-util")
    if library is None or utility is None:
        pytest.skip("SoftHSM2 is not installed (apt-get install -y softhsm2)")
    folder = tmp_path_factory.mktemp("softhsm")
    (folder / "tokens").mkdir()
    config = folder / "softhsm2.conf"
    config.write_text(f"directories.tokendir = {folder / 'tokens'}\nobjectstore.backend = file\n")
    # SoftHSM reads its configuration once, when the library is first initialised.
    os.environ["SOFTHSM2_CONF"] = str(config)
    subprocess.run(
        [
            utility,
            "--init-token",
            "--free",
            "--label",
            "espforge",
            "--pin",
            PIN,
            "--so-pin",
            "0000",
        ],
        check=True,
        capture_output=True,
    )
    pkcs11_token = pkcs11.lib(library).get_token(token_label="espforge")
    with pkcs11_token.open(rw=True, user_pin=PIN) as session:
        for label, name in IMPORTED.items():
            _import_key_pair(pkcs11, session, label, secure_fixture(name).read_bytes())
        session.generate_keypair(pkcs11.KeyType.RSA, 3072, label=GENERATED, store=True)
    return Token(library, pkcs11_token.slot.slot_id, folder)


def _import_key_pair(pkcs11, session, label: str, pem: bytes) -> None:
    from pkcs11.util.ec import decode_ec_private_key, decode_ec_public_key
    from pkcs11.util.rsa import decode_rsa_private_key, decode_rsa_public_key

    key = serialization.load_pem_private_key(pem, password=None)
    common = {pkcs11.Attribute.LABEL: label, pkcs11.Attribute.TOKEN: True}
    if label == "rsa":
        private = decode_rsa_private_key(
            key.private_bytes(
                serialization.Encoding.DER,
                serialization.PrivateFormat.TraditionalOpenSSL,
                serialization.NoEncryption(),
            )
        )
        public = decode_rsa_public_key(
            key.public_key().public_bytes(
                serialization.Encoding.DER, serialization.PublicFormat.PKCS1
            )
        )
    else:
        private = decode_ec_private_key(
            key.private_bytes(
                serialization.Encoding.DER,
                serialization.PrivateFormat.TraditionalOpenSSL,
                serialization.NoEncryption(),
            )
        )
        private[pkcs11.Attribute.SIGN] = True
        public = decode_ec_public_key(
            key.public_key().public_bytes(
                serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )
    session.create_object({**private, **common, pkcs11.Attribute.PRIVATE: True})
    session.create_object({**public, **common})


def _public_pem(name: str, tmp_path: Path) -> Path:
    key = serialization.load_pem_private_key(secure_fixture(name).read_bytes(), password=None)
    path = tmp_path / f"{name}.pub.pem"
    path.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return path


@pytest.mark.oracle
@pytest.mark.parametrize("label", list(IMPORTED))
def test_hsm_signatures_verify_with_espsecure_and_carry_the_keys_digest(token, tmp_path, label):
    signed = tmp_path / "signed.bin"
    result = secure("sign-data", "-v", "2", "--hsm", "--hsm-config", token.config(label),
                    "-o", signed, secure_fixture("bootloader_unsigned_v2.bin"))  # fmt: skip
    assert result.exit_code == 0, result.output
    espsecure("verify-signature", "-v", "2", "-k", _public_pem(IMPORTED[label], tmp_path), signed)
    info = secure("signature-info-v2", signed)
    expected = tmp_path / "digest.bin"
    assert secure("digest-sbv2-public-key", "-k", secure_fixture(IMPORTED[label]),
                  "-o", expected).exit_code == 0  # fmt: skip
    assert f"Public key digest for block 0: {expected.read_bytes().hex(' ')}" in info.stdout


@pytest.mark.oracle
@pytest.mark.parametrize("label", ["rsa", "ecdsa384"])
def test_espsecure_hsm_signatures_verify_with_espforge_hsm(token, tmp_path, label):
    signed = tmp_path / "signed.bin"
    config = token.config(label)
    espsecure("sign-data", "-v", "2", "--hsm", "--hsm-config", config, "-o", signed,
              secure_fixture("bootloader_unsigned_v2.bin"))  # fmt: skip
    result = secure("verify-signature", "-v", "2", "--hsm", "--hsm-config", config, signed)
    assert result.exit_code == 0, result.output
    assert "Signature block 0 verification successful" in result.stdout


def test_a_key_that_never_left_the_token_signs_and_verifies(token, tmp_path):
    config = token.config(GENERATED)
    image = tmp_path / "image.bin"
    image.write_bytes(bytes(range(256)) * 50)
    assert secure("sign-data", "-v", "2", "--hsm", "--hsm-config", config, image).exit_code == 0
    assert len(image.read_bytes()) == 0x5000
    result = secure("verify-signature", "-v", "2", "--hsm", "--hsm-config", config, image)
    assert result.exit_code == 0, result.output
    assert_fails(
        secure(
            "verify-signature",
            "-v",
            "2",
            "-k",
            secure_fixture("rsa_secure_boot_signing_pubkey.pem"),
            image,
        ),  # fmt: skip
        "block 0 is signed by another key",
    )


def test_a_given_public_key_stands_in_for_the_tokens(token, tmp_path):
    signed = tmp_path / "signed.bin"
    public = secure_fixture("ecdsa384_secure_boot_signing_pubkey.pem")
    result = secure("sign-data", "-v", "2", "--hsm", "--hsm-config", token.config("ecdsa384"),
                    "--pub-key", public, "-o", signed,
                    secure_fixture("bootloader_unsigned_v2.bin"))  # fmt: skip
    assert result.exit_code == 0, result.output
    wrong = secure("sign-data", "-v", "2", "--hsm", "--hsm-config", token.config("ecdsa256"),
                   "--pub-key", public, "-o", tmp_path / "wrong.bin",
                   secure_fixture("bootloader_unsigned_v2.bin"))  # fmt: skip
    assert_fails(wrong, "HSM key 'ecdsa256'")
    assert not (tmp_path / "wrong.bin").exists()


def test_sdc_certificate_and_digest_through_the_hsm(token, tmp_path):
    config = token.config("ecdsa256")
    from_hsm, from_file = tmp_path / "hsm.bin", tmp_path / "file.bin"
    assert (
        secure("digest-sdc-public-key", "--hsm", "--hsm-config", config, "-o", from_hsm).exit_code
        == 0
    )
    key = secure_fixture(IMPORTED["ecdsa256"])
    assert secure("digest-sdc-public-key", "-k", key, "-o", from_file).exit_code == 0
    assert from_hsm.read_bytes() == from_file.read_bytes()
    certificate = tmp_path / "cert.bin"
    result = secure("generate-sdc-certificate", "--hsm", "--hsm-config", config,
                    "--mac", "30:ed:a0:ed:78:9c", "-o", certificate)  # fmt: skip
    assert result.exit_code == 0, result.output
    assert len(certificate.read_bytes()) == 468


@pytest.mark.parametrize(
    ("settings", "words"),
    [
        ({"label": "rsa", "pin": "9999"}, ("PIN is wrong",)),
        ({"label": "no-such-key"}, ("no such key label",)),
        ({"label": "rsa", "slot": 4242}, ("no token in slot 4242",)),
    ],
)
def test_hsm_failures_are_one_line_and_leave_no_output(token, tmp_path, settings, words):
    output = tmp_path / "signed.bin"
    result = secure("sign-data", "-v", "2", "--hsm", "--hsm-config", token.config(**settings),
                    "-o", output, secure_fixture("bootloader_unsigned_v2.bin"))  # fmt: skip
    assert_fails(result, *words)
    assert not output.exists()
    assert PIN not in result.output


def test_config_problems_are_named(tmp_path):
    bad = tmp_path / "bad.ini"
    bad.write_text("[other]\nx = 1\n")
    image = secure_fixture("bootloader_unsigned_v2.bin")
    assert_fails(secure("sign-data", "-v", "2", "--hsm", "--hsm-config", bad, "-o",
                        tmp_path / "o.bin", image), "bad.ini", "[hsm_config]")  # fmt: skip
    assert_fails(secure("sign-data", "-v", "2", "--hsm", "-o", tmp_path / "o.bin", image),
                 "--hsm-config")  # fmt: skip
    missing_library = tmp_path / "lib.ini"
    missing_library.write_text("[hsm_config]\npkcs11_lib = /nowhere/lib.so\nslot = 0\nlabel = x\n"
                               "credentials = 1\n")  # fmt: skip
    assert_fails(secure("sign-data", "-v", "2", "--hsm", "--hsm-config", missing_library,
                        "-o", tmp_path / "o.bin", image), "/nowhere/lib.so")  # fmt: skip
    v1_image = secure_fixture("bootloader.bin")
    assert_fails(secure("sign-data", "-v", "1", "--hsm", "--hsm-config", missing_library,
                        "-o", tmp_path / "o.bin", v1_image), "v1")  # fmt: skip


def test_a_config_without_credentials_asks_for_the_pin():
    text = "[hsm_config]\npkcs11_lib = lib.so\nslot = 3\nlabel = key\n"
    asked = []
    config = read_hsm_config(text, "hsm.ini", ask_pin=lambda prompt: asked.append(prompt) or "42")
    assert (config.slot, config.label, config.public_label, config.pin) == (3, "key", "key", "42")
    assert len(asked) == 1 and "PIN" in asked[0] and "42" not in repr(config)
    with pytest.raises(SecureError, match="lacks label"):
        read_hsm_config("[hsm_config]\npkcs11_lib = x\nslot = 1\n", "hsm.ini")
