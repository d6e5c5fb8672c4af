"""`espforge secure`: espsecure 5.6's commands and options, their outputs against espsecure's and
the fixtures, and one clear line for every kind of bad input."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import click
import pytest
from click.testing import CliRunner, Result
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from conftest import fixture_files, fixture_path, run_espforge
from espforge.cli.compat import underscore_spelling
from espforge.cli.main import build_cli, parse_command_line
from espforge.cli.secure_commands import SECURE_COMMANDS

FATAL = "A fatal error occurred: "
V2_KINDS = ("rsa", "ecdsa192", "ecdsa256", "ecdsa384")


# ------------------------------------------------------------------ helpers shared by the
# other test_secure_* files


def secure(*args: str | Path) -> Result:
    """Run `espforge secure ...` in-process."""
    return CliRunner().invoke(build_cli(), ["secure", *map(str, args)])


def espsecure(*args: str | Path) -> None:
    """Run the stock espsecure 5.6 (test-only oracle) in-process; raises on failure."""
    oracle = pytest.importorskip("espsecure", reason="espsecure (test-only oracle) is absent")
    oracle.main([str(arg) for arg in args])


def secure_fixture(name: str) -> Path:
    return fixture_path("secure", name)


def assert_fails(result: Result, *words: str) -> None:
    """Exit code 2 and a single 'A fatal error occurred' line holding `words`."""
    assert result.exit_code == 2, result.output
    errors = [line for line in result.stderr.splitlines() if line.startswith(FATAL)]
    assert len(errors) == 1, result.stderr
    for word in words:
        assert word in errors[0]


def private_key_files() -> list[Path]:
    return [path for path in fixture_files("secure", "*_key*.pem")]


def file_mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# ------------------------------------------------------------------ the command line


def _option_facts(param: click.Parameter) -> tuple:
    choices = getattr(param.type, "choices", None)
    default = None if param.is_flag or repr(param.default).endswith("UNSET") else param.default
    return (sorted(param.opts), param.is_flag, choices and tuple(choices), default)


@pytest.mark.oracle
def test_every_espsecure_command_and_option_exists():
    oracle = pytest.importorskip("espsecure")
    ours = build_cli().commands["secure"].commands
    assert set(ours) == set(oracle.cli.commands)
    for name, theirs in oracle.cli.commands.items():
        mine = {param.name: param for param in ours[name].params}
        for param in theirs.params:
            if not isinstance(param, click.Option) or param.name == "help":
                continue
            assert param.name in mine, f"{name} {param.name}"
            assert _option_facts(mine[param.name]) == _option_facts(param), f"{name} {param.name}"
        arguments = [(p.name, p.nargs) for p in theirs.params if isinstance(p, click.Argument)]
        assert arguments == [
            (p.name, p.nargs) for p in ours[name].params if isinstance(p, click.Argument)
        ]


@pytest.mark.parametrize("spec", SECURE_COMMANDS, ids=lambda spec: spec.name)
def test_v4_underscore_command_names_resolve(spec):
    command = build_cli().commands["secure"]
    context = click.Context(command)
    assert command.get_command(context, underscore_spelling(spec.name)).name == spec.name


def test_v4_option_spellings_parse(tmp_path):
    image = tmp_path / "image.bin"
    image.write_bytes(b"\x00" * 16)
    invocation = parse_command_line(
        ["secure", "sign_data", "--version", "2", "--append_signatures", "--skip_padding",
         "--pub_key", str(image), "--signature", str(image), "--hsm_config", str(image),
         "--output", "out.bin", str(image)]
    )  # fmt: skip
    values = invocation.arguments
    assert invocation.command == "sign-data"
    assert values["append_signatures"] and values["skip_padding"]
    assert values["pub_key"] == (str(image),) and values["hsm_config"] == str(image)
    flash = parse_command_line(
        ["secure", "encrypt_flash_data", "--aes_xts", "--flash_crypt_conf", "3", "-k", str(image),
         "-o", "out.bin", "-a", "0x1000", str(image)]
    )  # fmt: skip
    assert flash.arguments["aes_xts"] and flash.arguments["flash_crypt_conf"] == 3


def test_keyfile_takes_every_following_word_like_espsecure(tmp_path):
    keys = [tmp_path / f"key{n}.pem" for n in range(3)]
    for key in keys:
        key.write_text("x")
    invocation = parse_command_line(
        ["secure", "sign-data", "-v", "2", str(keys[2]), "--keyfile", *map(str, keys[:2])]
    )
    assert invocation.arguments["keyfile"] == tuple(map(str, keys[:2]))
    assert invocation.arguments["datafile"] == str(keys[2])


def test_help_lists_the_commands_by_section():
    result = secure("--help")
    assert result.exit_code == 0
    for heading in ("Secure Boot:", "Flash encryption:", "Secure Debug:"):
        assert heading in result.stdout
    assert "sign-data" in result.stdout and "generate-sdc-certificate" in result.stdout


# ------------------------------------------------------------------ keys


@pytest.mark.parametrize(
    ("version", "scheme", "key_type", "size"),
    [
        ("1", None, ec.EllipticCurvePrivateKey, 256),
        ("2", "ecdsa192", ec.EllipticCurvePrivateKey, 192),
        ("2", "ecdsa256", ec.EllipticCurvePrivateKey, 256),
        ("2", "ecdsa384", ec.EllipticCurvePrivateKey, 384),
        ("2", None, rsa.RSAPrivateKey, 3072),
    ],
)
def test_generate_signing_key_writes_a_private_key_for_the_owner_only(
    tmp_path, version, scheme, key_type, size
):
    path = tmp_path / "key.pem"
    result = secure("generate-signing-key", "--version", version,
                    *(["--scheme", scheme] if scheme else []), path)  # fmt: skip
    assert result.exit_code == 0, result.output
    assert file_mode(path) == 0o600
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    assert isinstance(key, key_type) and key.key_size == size
    assert b"PRIVATE KEY" not in result.stdout_bytes + result.stderr_bytes
    if version == "2" and pytest.importorskip("espsecure"):
        espsecure("digest-sbv2-public-key", "-k", path, "-o", tmp_path / "theirs.bin")
        assert (
            secure("digest-sbv2-public-key", "-k", path, "-o", tmp_path / "ours.bin").exit_code == 0
        )
        assert (tmp_path / "ours.bin").read_bytes() == (tmp_path / "theirs.bin").read_bytes()


def test_generate_signing_key_refuses_to_overwrite_and_v1_other_schemes(tmp_path):
    existing = tmp_path / "key.pem"
    existing.write_text("mine")
    assert_fails(secure("generate-signing-key", existing), "already exists")
    assert existing.read_text() == "mine"
    assert_fails(secure("generate-signing-key", "-v", "1", "-s", "rsa3072", tmp_path / "new.pem"),
                 "v1 supports only ecdsa256")  # fmt: skip
    assert not (tmp_path / "new.pem").exists()


@pytest.mark.oracle
@pytest.mark.parametrize("key", private_key_files(), ids=lambda path: path.name)
def test_extract_public_key_v2_matches_espsecure(tmp_path, key):
    espsecure("extract-public-key", "--version", "2", "-k", key, tmp_path / "theirs.pem")
    result = secure("extract-public-key", "--version", "2", "-k", key, tmp_path / "ours.pem")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "ours.pem").read_bytes() == (tmp_path / "theirs.pem").read_bytes()


@pytest.mark.oracle
def test_extract_public_key_v1_is_the_raw_point_espsecure_writes(tmp_path):
    key = secure_fixture("ecdsa256_secure_boot_signing_key.pem")
    espsecure("extract-public-key", "--version", "1", "-k", key, tmp_path / "theirs.bin")
    assert secure("extract-public-key", "-k", key, tmp_path / "ours.bin").exit_code == 0
    ours = (tmp_path / "ours.bin").read_bytes()
    assert ours == (tmp_path / "theirs.bin").read_bytes()
    assert ours == secure_fixture("ecdsa256_secure_boot_signing_pubkey_raw.bin").read_bytes()


@pytest.mark.parametrize(
    ("key", "digest"),
    [
        ("rsa_secure_boot_signing_key.pem", "rsa_public_key_digest.bin"),
        ("rsa_secure_boot_signing_pubkey.pem", "rsa_public_key_digest.bin"),
        ("ecdsa192_secure_boot_signing_key_v2.pem", "ecdsa192_public_key_digest_v2.bin"),
        ("ecdsa256_secure_boot_signing_key_v2.pem", "ecdsa256_public_key_digest_v2.bin"),
    ],
)
@pytest.mark.parametrize("command", ["digest-sbv2-public-key", "digest-rsa-public-key"])
def test_public_key_digests_equal_the_fixtures(tmp_path, key, digest, command):
    output = tmp_path / "digest.bin"
    result = secure(command, "--keyfile", secure_fixture(key), "--output", output)
    assert result.exit_code == 0, result.output
    assert output.read_bytes() == secure_fixture(digest).read_bytes()
    assert ("deprecated" in result.stderr) == (command == "digest-rsa-public-key")


@pytest.mark.oracle
@pytest.mark.parametrize("key", fixture_files("secure", "*.pem"), ids=lambda path: path.name)
def test_public_key_digest_of_every_fixture_key_matches_espsecure(tmp_path, key):
    espsecure("digest-sbv2-public-key", "-k", key, "-o", tmp_path / "theirs.bin")
    assert secure("digest-sbv2-public-key", "-k", key, "-o", tmp_path / "ours.bin").exit_code == 0
    assert (tmp_path / "ours.bin").read_bytes() == (tmp_path / "theirs.bin").read_bytes()


@pytest.mark.oracle
@pytest.mark.parametrize("bits", ["256", "192"])
def test_digest_private_key_matches_espsecure_and_is_private(tmp_path, bits):
    key = secure_fixture("ecdsa256_secure_boot_signing_key.pem")
    espsecure("digest-private-key", "-k", key, "--keylen", bits, tmp_path / "theirs.bin")
    result = secure("digest-private-key", "-k", key, "-l", bits, tmp_path / "ours.bin")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "ours.bin").read_bytes() == (tmp_path / "theirs.bin").read_bytes()
    assert len((tmp_path / "ours.bin").read_bytes()) == int(bits) // 8
    assert file_mode(tmp_path / "ours.bin") == 0o600


# ------------------------------------------------------------------ Secure Boot v1


def test_sign_data_v1_is_byte_identical_to_the_fixture(tmp_path):
    output = tmp_path / "signed.bin"
    result = secure("sign-data", "--version", "1", "--keyfile",
                    secure_fixture("ecdsa256_secure_boot_signing_key.pem"),
                    "--output", output, secure_fixture("bootloader.bin"))  # fmt: skip
    assert result.exit_code == 0, result.output
    assert output.read_bytes() == secure_fixture("bootloader_signed.bin").read_bytes()


def test_sign_data_without_output_signs_in_place(tmp_path):
    image = tmp_path / "image.bin"
    image.write_bytes(secure_fixture("bootloader.bin").read_bytes())
    key = secure_fixture("ecdsa256_secure_boot_signing_key.pem")
    assert secure("sign-data", "-v", "1", image, "-k", key).exit_code == 0
    assert image.read_bytes() == secure_fixture("bootloader_signed.bin").read_bytes()


@pytest.mark.oracle
def test_sign_data_v1_with_a_pre_calculated_signature_matches_espsecure(tmp_path):
    common = ("--pub-key", secure_fixture("ecdsa256_secure_boot_signing_pubkey.pem"),
              "--signature", secure_fixture("pre_calculated_bootloader_signature.bin"))  # fmt: skip
    image = secure_fixture("bootloader.bin")
    espsecure("sign-data", "-v", "1", *common, "-o", tmp_path / "theirs.bin", image)
    result = secure("sign-data", "-v", "1", *common, "-o", tmp_path / "ours.bin", image)
    assert result.exit_code == 0, result.output
    assert (tmp_path / "ours.bin").read_bytes() == (tmp_path / "theirs.bin").read_bytes()


@pytest.mark.parametrize(
    "key",
    [
        "ecdsa256_secure_boot_signing_pubkey_raw.bin",
        "ecdsa256_secure_boot_signing_pubkey.pem",
        "ecdsa256_secure_boot_signing_key.pem",
        "ecdsa256_secure_boot_signing_key_pkcs8.pem",
    ],
)
def test_verify_signature_v1_takes_raw_public_and_private_keys(key):
    result = secure("verify-signature", "--version", "1", "--keyfile", secure_fixture(key),
                    secure_fixture("bootloader_signed.bin"))  # fmt: skip
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[1:] == [
        "Verified 21696 bytes of data.",
        "Signature is valid.",
    ]


def test_verify_signature_v1_rejects_another_key_and_an_unsigned_image():
    assert_fails(
        secure(
            "verify-signature",
            "-v",
            "1",
            "-k",
            secure_fixture("ecdsa256_secure_boot_signing_key2.pem"),
            secure_fixture("bootloader_signed.bin"),
        ),  # fmt: skip
        "bootloader_signed.bin",
        "not valid",
    )
    assert_fails(
        secure(
            "verify-signature",
            "-v",
            "1",
            "-k",
            secure_fixture("ecdsa256_secure_boot_signing_key.pem"),
            secure_fixture("bootloader.bin"),
        ),  # fmt: skip
        "bootloader.bin",
    )


# ------------------------------------------------------------------ Secure Boot v2


@pytest.mark.oracle
@pytest.mark.parametrize("kind", V2_KINDS)
def test_pre_calculated_signature_blocks_match_espsecure_and_the_fixture(tmp_path, kind):
    signature = secure_fixture(f"pre_calculated_bootloader_signature_{kind}.bin")
    common = ("--pub-key", secure_fixture(f"{kind}_secure_boot_signing_pubkey.pem"),
              "--signature", signature)  # fmt: skip
    image = secure_fixture("bootloader_unsigned_v2.bin")
    espsecure("sign-data", "-v", "2", *common, "-o", tmp_path / "theirs.bin", image)
    result = secure("sign-data", "-v", "2", *common, "-o", tmp_path / "ours.bin", image)
    assert result.exit_code == 0, result.output
    ours = (tmp_path / "ours.bin").read_bytes()
    assert ours == (tmp_path / "theirs.bin").read_bytes()
    if kind == "ecdsa384":  # the one fixture made from this very signature
        assert ours == secure_fixture("bootloader_signed_v2_ecdsa384.bin").read_bytes()


@pytest.mark.parametrize("kind", V2_KINDS)
def test_fixtures_signed_v2_verify_and_name_the_block(kind):
    result = secure("verify-signature", "--version", "2", "--keyfile",
                    secure_fixture(f"{kind}_secure_boot_signing_pubkey.pem"),
                    secure_fixture(f"bootloader_signed_v2_{kind}.bin"))  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "Signature block 0 verification successful using the supplied key" in result.stdout


@pytest.mark.parametrize("kind", ("rsa", "ecdsa192", "ecdsa256"))
@pytest.mark.parametrize("key_number", ("", "2", "3"))
def test_multi_signed_fixtures_verify_with_each_of_their_keys(kind, key_number):
    result = secure("verify-signature", "-v", "2", "-k",
                    secure_fixture(f"{kind}_secure_boot_signing_key{key_number}.pem"),
                    secure_fixture(f"bootloader_multi_signed_v2_{kind}.bin"))  # fmt: skip
    assert result.exit_code == 0, result.output
    block = {"": 0, "2": 1, "3": 2}[key_number]
    assert f"Signature block {block} verification successful" in result.stdout


@pytest.mark.parametrize("kind", ("rsa", "ecdsa192", "ecdsa256"))
def test_a_fourth_key_verifies_no_block_and_says_why_for_each(kind):
    result = secure("verify-signature", "-v", "2", "-k",
                    secure_fixture(f"{kind}_secure_boot_signing_key4.pem"),
                    secure_fixture(f"bootloader_multi_signed_v2_{kind}.bin"))  # fmt: skip
    assert_fails(
        result,
        "Signature could not be verified with the provided key.",
        "No signature block verifies",
        "block 0 is signed by another key",
        "block 1 is signed by another key",
        "block 2 is signed by another key",
    )


@pytest.mark.oracle
@pytest.mark.parametrize("image", fixture_files("secure", "bootloader_*signed_v2_*.bin"),
                         ids=lambda path: path.name)  # fmt: skip
def test_signature_info_v2_prints_what_espsecure_prints(capsys, image):
    espsecure("signature-info-v2", image)
    theirs = capsys.readouterr().out.splitlines()[1:]  # after espsecure's banner
    result = secure("signature-info-v2", image)
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[1:] == theirs


@pytest.mark.oracle
@pytest.mark.parametrize("kind", V2_KINDS)
def test_signatures_cross_verify_between_the_tools(tmp_path, kind):
    image = secure_fixture("bootloader_unsigned_v2.bin")
    key = secure_fixture(f"{kind}_secure_boot_signing_key.pem")
    public = secure_fixture(f"{kind}_secure_boot_signing_pubkey.pem")
    assert (
        secure("sign-data", "-v", "2", "-k", key, "-o", tmp_path / "ours.bin", image).exit_code == 0
    )
    espsecure("verify-signature", "-v", "2", "-k", public, tmp_path / "ours.bin")
    espsecure("sign-data", "-v", "2", "-k", key, "-o", tmp_path / "theirs.bin", image)
    result = secure("verify-signature", "-v", "2", "-k", public, tmp_path / "theirs.bin")
    assert result.exit_code == 0, result.output
    ours, theirs = (tmp_path / "ours.bin").read_bytes(), (tmp_path / "theirs.bin").read_bytes()
    # Everything but the (randomised) signature is identical.
    signature_start = 0x8000 + (812 if kind == "rsa" else 101 if kind != "ecdsa384" else 149)
    assert ours[:signature_start] == theirs[:signature_start]


@pytest.mark.oracle
def test_append_signatures_fills_the_sector_block_by_block(tmp_path):
    image = tmp_path / "image.bin"
    image.write_bytes(secure_fixture("bootloader.bin").read_bytes())  # not 4 KB aligned: padded
    keys = [secure_fixture(f"ecdsa256_secure_boot_signing_key{n}.pem") for n in ("", "2", "3")]
    first = secure("sign-data", "-v", "2", image, "-k", keys[0])
    assert "Padded the data by" in first.stdout
    for key in keys[1:]:
        result = secure("sign-data", "-v", "2", "--append-signatures", image, "-k", key)
        assert result.exit_code == 0, result.output
    assert "Signature sector now has 3 signature blocks" in result.stdout
    for block, key in enumerate(keys):
        verified = secure("verify-signature", "-v", "2", "-k", key, image)
        assert f"Signature block {block} verification successful" in verified.stdout
        espsecure("verify-signature", "-v", "2", "-k", key, image)
    before = image.read_bytes()
    full = secure("sign-data", "-v", "2", "-a", image, "-k",
                  secure_fixture("ecdsa256_secure_boot_signing_key4.pem"))  # fmt: skip
    assert_fails(full, "already has 3 signature blocks")
    assert image.read_bytes() == before


def test_up_to_three_keys_sign_at_once_and_a_fourth_is_refused(tmp_path):
    keys = [secure_fixture(f"ecdsa384_secure_boot_signing_key{n}.pem") for n in ("", "2", "3", "4")]
    image = secure_fixture("bootloader_unsigned_v2.bin")
    output = tmp_path / "signed.bin"
    result = secure("sign-data", "-v", "2", "-o", output, image, "-k", *keys[:3])
    assert result.exit_code == 0, result.output
    info = secure("signature-info-v2", output)
    assert [line for line in info.stdout.splitlines() if "is valid (ECDSA)" in line] == [
        f"Signature block {n} is valid (ECDSA)." for n in range(3)
    ]
    assert_fails(secure("sign-data", "-v", "2", "-o", tmp_path / "four.bin", image, "-k", *keys),
                 "4 keys")  # fmt: skip
    assert not (tmp_path / "four.bin").exists()


def test_skip_padding_signs_and_verifies_an_unaligned_image(tmp_path):
    image = secure_fixture("bootloader.bin")
    output = tmp_path / "signed.bin"
    key = secure_fixture("ecdsa256_secure_boot_signing_key.pem")
    result = secure("sign-data", "-v", "2", "--skip-padding", "-k", key, "-o", output, image)
    assert result.exit_code == 0, result.output
    assert len(output.read_bytes()) == len(image.read_bytes()) + 0x1000
    assert_fails(secure("verify-signature", "-v", "2", "-k", key, output), "--skip-padding")
    assert secure("verify-signature", "-v", "2", "--skip-padding", "-k", key, output).exit_code == 0


# ------------------------------------------------------------------ bad input


@pytest.fixture
def bad_keys(tmp_path) -> dict[str, Path]:
    """Keys no Secure Boot accepts, and files that are not keys."""
    made = {
        "rsa2048": rsa.generate_private_key(public_exponent=65537, key_size=2048),
        "p521": ec.generate_private_key(ec.SECP521R1()),
        "ed25519": ed25519.Ed25519PrivateKey.generate(),
    }
    paths = {}
    for name, key in made.items():
        paths[name] = tmp_path / f"{name}.pem"
        paths[name].write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
    pem = secure_fixture("ecdsa256_secure_boot_signing_key.pem").read_bytes()
    paths["corrupt"] = tmp_path / "corrupt.pem"
    paths["corrupt"].write_bytes(pem[:60] + b"AAAA" + pem[64:])
    paths["text"] = tmp_path / "notes.txt"
    paths["text"].write_text("not a key")
    return paths


@pytest.mark.parametrize(
    ("key", "words"),
    [
        ("rsa2048", ("rsa2048.pem", "RSA key has 2048 bits")),
        ("p521", ("p521.pem", "secp521r1")),
        ("ed25519", ("ed25519.pem", "Ed25519 key")),
        ("corrupt", ("corrupt.pem", "not a PEM private key")),
        ("text", ("notes.txt", "not a PEM private key")),
    ],
)
def test_unusable_signing_keys_fail_in_one_line_leaving_no_output(tmp_path, bad_keys, key, words):
    output = tmp_path / "signed.bin"
    image = secure_fixture("bootloader_unsigned_v2.bin")
    result = secure("sign-data", "-v", "2", "-k", bad_keys[key], "-o", output, image)
    assert_fails(result, *words)
    assert not output.exists()
    assert "PRIVATE" not in result.output


def test_v1_refuses_keys_other_than_p256(tmp_path, bad_keys):
    for path in (bad_keys["rsa2048"], secure_fixture("ecdsa384_secure_boot_signing_key.pem")):
        result = secure("sign-data", "-v", "1", "-k", path, "-o", tmp_path / "out.bin",
                        secure_fixture("bootloader.bin"))  # fmt: skip
        assert_fails(result, path.name, "P-256")
    assert not (tmp_path / "out.bin").exists()


def test_a_damaged_signature_block_is_named(tmp_path):
    signed = bytearray(secure_fixture("bootloader_signed_v2_rsa.bin").read_bytes())
    signed[0x8000 + 900] ^= 0x01  # inside the signature: the block's CRC no longer matches
    damaged = tmp_path / "damaged.bin"
    damaged.write_bytes(signed)
    result = secure("verify-signature", "-v", "2", "-k",
                    secure_fixture("rsa_secure_boot_signing_pubkey.pem"), damaged)  # fmt: skip
    assert_fails(result, "damaged.bin", "block 0 is damaged")


def test_a_changed_image_is_reported_against_its_blocks(tmp_path):
    signed = bytearray(secure_fixture("bootloader_signed_v2_ecdsa256.bin").read_bytes())
    signed[100] ^= 0xFF
    changed = tmp_path / "changed.bin"
    changed.write_bytes(signed)
    key = secure_fixture("ecdsa256_secure_boot_signing_pubkey.pem")
    assert_fails(secure("verify-signature", "-v", "2", "-k", key, changed),
                 "block 0 holds a digest that does not match the image")  # fmt: skip
    assert_fails(secure("signature-info-v2", changed),
                 "Digest in signature block 0 doesn't match the image digest.")  # fmt: skip


def test_unsigned_images_are_reported_as_not_signed():
    image = secure_fixture("bootloader_unsigned_v2.bin")
    key = secure_fixture("rsa_secure_boot_signing_pubkey.pem")
    assert_fails(secure("verify-signature", "-v", "2", "-k", key, image), "not signed")
    unsigned = secure("signature-info-v2", image)  # espsecure, too, exits 0
    assert unsigned.exit_code == 0, unsigned.output
    assert "Signature block 0 absent/invalid. Skipping checking next blocks..." in unsigned.stdout
    assert "is not signed" in unsigned.stderr
    assert_fails(secure("signature-info-v2", secure_fixture("bootloader.bin")), "multiple of 4096")


def test_a_key_of_the_other_scheme_is_named_in_the_failure():
    result = secure("verify-signature", "-v", "2", "-k",
                    secure_fixture("ecdsa192_secure_boot_signing_pubkey.pem"),
                    secure_fixture("bootloader_signed_v2_rsa.bin"))  # fmt: skip
    assert_fails(result, "block 0 is signed with RSA-3072 but the key is ECDSA P-192")


def test_a_pre_calculated_signature_of_another_key_is_refused(tmp_path):
    output = tmp_path / "out.bin"
    result = secure("sign-data", "-v", "2",
                    "--pub-key", secure_fixture("rsa_secure_boot_signing_pubkey2.pem"),
                    "--signature", secure_fixture("pre_calculated_bootloader_signature_rsa.bin"),
                    "-o", output, secure_fixture("bootloader_unsigned_v2.bin"))  # fmt: skip
    assert_fails(result, "pre_calculated_bootloader_signature_rsa.bin", "does not verify")
    assert not output.exists()


def test_output_may_not_overwrite_an_input(tmp_path):
    image = tmp_path / "image.bin"
    image.write_bytes(secure_fixture("bootloader_unsigned_v2.bin").read_bytes())
    key = secure_fixture("rsa_secure_boot_signing_key.pem")
    assert_fails(secure("sign-data", "-v", "2", "-k", key, "-o", image, image), "should not be")


# ------------------------------------------------------------------ flash encryption and the
# v1 bootloader digest (helper E's library, wired here)

ENCRYPTED_FIXTURES = [
    ("bootloader-encrypted.bin", "bootloader.bin", "256bit_key.bin", "0x1000", []),
    ("bootloader-encrypted-conf0.bin", "bootloader.bin", "256bit_key.bin", "0x1000",
     ["--flash-crypt-conf", "0"]),
    ("bootloader-encrypted-conf3.bin", "bootloader.bin", "256bit_key.bin", "0x1000",
     ["--flash-crypt-conf", "3"]),
    ("bootloader-encrypted-conf9.bin", "bootloader.bin", "256bit_key.bin", "0x1000",
     ["--flash-crypt-conf", "9"]),
    ("bootloader-encrypted-aes-xts.bin", "bootloader.bin", "256bit_key.bin", "0x1000",
     ["--aes-xts"]),
    ("hello-world-signed-encrypted.bin", "hello-world-signed.bin", "ef-flashencryption-key.bin",
     "0x20000", []),
    ("hello-world-signed-encrypted-aes-xts.bin", "hello-world-signed.bin",
     "ef-flashencryption-key.bin", "0x20000", ["--aes-xts"]),
]  # fmt: skip


@pytest.mark.parametrize(("encrypted", "plain", "key", "address", "extra"), ENCRYPTED_FIXTURES)
def test_flash_encryption_commands_reproduce_the_fixtures(
    tmp_path, encrypted, plain, key, address, extra
):
    common = ("--keyfile", secure_fixture(key), "--address", address, *extra)
    result = secure(
        "encrypt-flash-data", *common, "-o", tmp_path / "enc.bin", secure_fixture(plain)
    )
    assert result.exit_code == 0, result.output
    assert (tmp_path / "enc.bin").read_bytes() == secure_fixture(encrypted).read_bytes()
    result = secure("decrypt-flash-data", *common, "-o", tmp_path / "dec.bin",
                    secure_fixture(encrypted))  # fmt: skip
    assert result.exit_code == 0, result.output
    assert (tmp_path / "dec.bin").read_bytes() == secure_fixture(plain).read_bytes()


@pytest.mark.parametrize("bits", [128, 256, 512])
def test_generate_flash_encryption_key_is_random_and_private(tmp_path, bits):
    paths = [tmp_path / "a.bin", tmp_path / "b.bin"]
    for path in paths:
        result = secure("generate-flash-encryption-key", "--keylen", str(bits), path)
        assert result.exit_code == 0, result.output
        assert len(path.read_bytes()) == bits // 8 and file_mode(path) == 0o600
    assert paths[0].read_bytes() != paths[1].read_bytes()


def test_encrypting_at_an_unaligned_address_fails_without_output(tmp_path):
    result = secure("encrypt-flash-data", "-k", secure_fixture("256bit_key.bin"), "-a", "0x1001",
                    "-o", tmp_path / "enc.bin", secure_fixture("bootloader.bin"))  # fmt: skip
    assert result.exit_code == 2 and FATAL in result.stderr
    assert not (tmp_path / "enc.bin").exists()


def test_digest_secure_bootloader_reproduces_the_fixture(tmp_path):
    image = tmp_path / "bootloader.bin"
    image.write_bytes(secure_fixture("bootloader.bin").read_bytes())
    result = secure("digest-secure-bootloader", "--keyfile", secure_fixture("256bit_key.bin"),
                    "--iv", secure_fixture("256bit_iv.bin"), image)  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "TESTING PURPOSES ONLY" in result.stderr
    digested = tmp_path / "bootloader-digest-0x0000.bin"
    assert digested.read_bytes() == secure_fixture("bootloader_digested.bin").read_bytes()


def test_secret_outputs_are_never_printed(tmp_path):
    key_path = tmp_path / "key.pem"
    runs = [
        secure("generate-signing-key", "-v", "2", "-s", "ecdsa256", key_path),
        secure("digest-private-key", "-k", secure_fixture("ecdsa256_secure_boot_signing_key.pem"),
               tmp_path / "digest.bin"),
        secure("generate-flash-encryption-key", tmp_path / "flash.bin"),
    ]  # fmt: skip
    secrets = [
        key_path.read_bytes(),
        (tmp_path / "digest.bin").read_bytes(),
        (tmp_path / "flash.bin").read_bytes(),
    ]
    printed = b"".join(run.stdout_bytes + run.stderr_bytes for run in runs)
    for secret in secrets:
        assert secret not in printed and secret.hex().encode() not in printed
    assert b"PRIVATE KEY" not in printed
    assert all(os.stat(path).st_mode & 0o077 == 0 for path in tmp_path.iterdir())


def test_the_installed_command_line_reports_failures_in_one_line():
    result = run_espforge("secure", "verify_signature", "--version", "2", "--keyfile",
                          str(secure_fixture("rsa_secure_boot_signing_pubkey.pem")),
                          str(secure_fixture("bootloader_unsigned_v2.bin")))  # fmt: skip
    assert result.returncode == 2
    assert result.stderr.splitlines()[-1].startswith(FATAL)
    assert "not signed" in result.stderr.splitlines()[-1]
    assert "verify_signature -> verify-signature" in result.stderr
