"""espforge secure's refusals hold espsecure 5.6's sentence for the same case, with its exit code,
each checked against espsecure run the same way on inputs made here."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from conftest import run_espforge, run_stock_tool

pytestmark = pytest.mark.oracle


def _ecdsa_key(path: Path) -> Path:
    key = ec.generate_private_key(ec.SECP256R1())
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
    )
    return path


def _both_fail_with(args: list[str | Path], sentence: str, exit_code: int = 2) -> None:
    """espsecure and `espforge secure` fail the same way, both naming `sentence`."""
    theirs = run_stock_tool("espsecure", *args)
    ours = run_espforge("secure", *map(str, args))
    assert theirs.returncode == exit_code, theirs.stdout + theirs.stderr
    assert sentence in " ".join((theirs.stdout + theirs.stderr).replace("│", " ").split())
    assert ours.returncode == exit_code, ours.stdout + ours.stderr
    assert sentence in ours.stderr


def _signed(tmp_path: Path, version: str, data: bytes, name: str) -> Path:
    """`data` signed by espforge for Secure Boot v`version` with a key made here."""
    unsigned = tmp_path / f"{name}.bin"
    unsigned.write_bytes(data)
    key = _ecdsa_key(tmp_path / f"v{version}_key.pem")
    signed = tmp_path / f"signed_v{version}.bin"
    result = run_espforge("secure", "sign-data", "-v", version, "-k", str(key), "-o", str(signed),
                          str(unsigned))  # fmt: skip
    assert result.returncode == 0, result.stderr
    return signed


@pytest.fixture
def signed_v1(tmp_path: Path) -> Path:
    return _signed(tmp_path, "1", bytes(range(256)) * 20, "data")


@pytest.fixture
def signed_v2(tmp_path: Path) -> Path:
    return _signed(tmp_path, "2", bytes(range(256)) * 32, "app")


def test_v1_with_another_key_says_signature_is_not_valid(tmp_path, signed_v1):
    other = _ecdsa_key(tmp_path / "other.pem")
    _both_fail_with(["verify-signature", "-v", "1", "-k", other, signed_v1],
                    "Signature is not valid.")  # fmt: skip


def test_v1_with_a_nonzero_version_word_names_it(tmp_path, signed_v1):
    image = bytearray(signed_v1.read_bytes())
    image[-68] = 7
    changed = tmp_path / "version7.bin"
    changed.write_bytes(image)
    key = tmp_path / "v1_key.pem"
    _both_fail_with(["verify-signature", "-v", "1", "-k", key, changed],
                    "Signature block has version 7.")  # fmt: skip


def test_v2_with_another_key_could_not_be_verified(tmp_path, signed_v2):
    other = _ecdsa_key(tmp_path / "other.pem")
    _both_fail_with(
        ["verify-signature", "-v", "2", "-k", other, signed_v2],
        "Checked all blocks. Signature could not be verified with the provided key.",
    )


def test_v2_of_unsigned_data_could_not_be_verified(tmp_path):
    unsigned = tmp_path / "unsigned.bin"
    unsigned.write_bytes(b"\x5a" * 8192)
    _both_fail_with(
        ["verify-signature", "-v", "2", "-k", _ecdsa_key(tmp_path / "k.pem"), unsigned],
        "Checked all blocks. Signature could not be verified with the provided key.",
    )
    # signature-info-v2 only reports it, with exit 0
    theirs = run_stock_tool("espsecure", "signature-info-v2", unsigned)
    ours = run_espforge("secure", "signature-info-v2", str(unsigned))
    sentence = "Signature block 0 absent/invalid. Skipping checking next blocks..."
    assert theirs.returncode == ours.returncode == 0
    assert sentence in theirs.stdout and sentence in ours.stdout


def test_v2_of_changed_data_says_the_digest_does_not_match(tmp_path, signed_v2):
    image = bytearray(signed_v2.read_bytes())
    image[10] ^= 0xFF
    changed = tmp_path / "changed.bin"
    changed.write_bytes(image)
    key = tmp_path / "v2_key.pem"
    _both_fail_with(
        ["verify-signature", "-v", "2", "-k", key, changed],
        "Signature block image digest does not match the actual image digest",
    )
    _both_fail_with(["signature-info-v2", changed],
                    "Digest in signature block 0 doesn't match the image digest.")  # fmt: skip


@pytest.mark.parametrize("size", [100, 4096 + 100])
def test_v2_of_a_short_or_unaligned_file_is_an_invalid_datafile(tmp_path, size):
    data = tmp_path / "short.bin"
    data.write_bytes(b"\x01" * size)
    sentence = "Invalid datafile. Data size should be non-zero & a multiple of 4096."
    _both_fail_with(["verify-signature", "-v", "2", "-k", _ecdsa_key(tmp_path / "k.pem"), data],
                    sentence)  # fmt: skip
    _both_fail_with(["signature-info-v2", data], sentence)


def test_v2_skip_padding_of_a_short_file_is_too_small(tmp_path):
    data = tmp_path / "short.bin"
    data.write_bytes(b"\x01" * 100)
    key = _ecdsa_key(tmp_path / "k.pem")
    _both_fail_with(
        ["verify-signature", "-v", "2", "--skip-padding", "-k", key, data],
        "Invalid datafile. File too small (must be at least 4096 bytes).",
    )


MAC = "30:ed:a0:ed:78:9c"


@pytest.mark.parametrize(
    ("args", "sentence"),
    [
        (["--hsm", "--mac", MAC], "--hsm-config is required when --hsm is used"),
        (["--hsm-config", "HSM", "--mac", MAC], "--hsm-config requires --hsm to be used"),
        (["--mac", MAC], "Either --keyfile or --hsm with --hsm-config must be provided"),
        (["-k", "KEY"], "--mac is required when --chip-info is not provided"),
    ],
)
def test_sdc_certificate_argument_errors(tmp_path, args, sentence):
    hsm_config = tmp_path / "hsm.ini"
    hsm_config.write_text("[hsm_config]\n")
    key = _ecdsa_key(tmp_path / "p256.pem")
    args = [{"KEY": key, "HSM": hsm_config}.get(arg, arg) for arg in args]
    output = tmp_path / "cert.bin"
    _both_fail_with(["generate-sdc-certificate", *args, "-o", output], sentence)
    assert not output.exists()


@pytest.mark.parametrize(
    ("args", "sentence"),
    [
        ([], "One of --keyfile, --pub-key, or --hsm must be provided"),
        (["--hsm"], "--hsm-config is required when using --hsm"),
        (["-k", "KEY", "--pub-key", "KEY"],
         "Only one of --keyfile, --pub-key, or --hsm can be provided"),
    ],
)  # fmt: skip
def test_sdc_digest_argument_errors(tmp_path, args, sentence):
    key = _ecdsa_key(tmp_path / "p256.pem")
    args = [key if arg == "KEY" else arg for arg in args]
    _both_fail_with(["digest-sdc-public-key", *args, "-o", tmp_path / "digest.bin"], sentence)


def test_generate_signing_key_over_an_existing_file(tmp_path):
    existing = _ecdsa_key(tmp_path / "existing.pem")
    _both_fail_with(["generate-signing-key", "-v", "2", existing],
                    f"Key file {existing} already exists.")  # fmt: skip


def test_encrypt_flash_data_at_an_unaligned_address(tmp_path):
    key, data = tmp_path / "key.bin", tmp_path / "data.bin"
    key.write_bytes(bytes(range(32)))
    data.write_bytes(bytes(64))
    _both_fail_with(
        ["encrypt-flash-data", "-k", key, "-a", "0x1001", "-o", tmp_path / "out.bin", data],
        "Starting flash address 0x1001 must be a multiple of 16.",
    )


def test_v1_keys_that_are_not_keys(tmp_path, signed_v1):
    not_a_key = tmp_path / "k.bin"
    not_a_key.write_bytes(bytes(32))
    _both_fail_with(
        ["sign-data", "-v", "1", "-k", not_a_key, "-o", tmp_path / "out.bin", signed_v1],
        "Incorrect ECDSA private key specified. Please check algorithm and/or format.",
    )
    _both_fail_with(
        ["verify-signature", "-v", "1", "-k", not_a_key, signed_v1],
        "Verification key does not appear to be an EC key in PEM format or binary EC public "
        "key data. Unsupported.",
    )


def test_digest_secure_bootloader_of_not_an_image(tmp_path):
    key, data = tmp_path / "key.bin", tmp_path / "data.bin"
    key.write_bytes(bytes(range(32)))
    data.write_bytes(b"\xfc" + bytes(99))
    _both_fail_with(["digest-secure-bootloader", "-k", key, "-o", tmp_path / "out.bin", data],
                    "Invalid firmware image magic=0xfc")  # fmt: skip
