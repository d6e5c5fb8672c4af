"""`espforge secure`: espsecure 5.6's commands, as data.

Their handlers are in `secure_boot_handlers`, `flash_encryption_handlers` and
`secure_debug_handlers`.
"""

from __future__ import annotations

import click

from espforge.cli.framework import (
    FLASH_ENCRYPTION,
    SECURE_BOOT,
    SECURE_DEBUG,
    SECURITY,
    CommandSpec,
    GroupSpec,
)
from espforge.cli.options import AnyInt, Arg, Opt, flag, option


def _input_file() -> click.Path:
    return click.Path(exists=True, dir_okay=False)


def _version(*, required: bool = False, default: str | None = None) -> Opt:
    return option(
        "--version",
        "-v",
        help="Version of the secure boot signing scheme to use.",
        type=click.Choice(("1", "2")),
        required=required,
        default=default,
    )


_HSM = flag(
    "--hsm",
    help="Use an external Hardware Security Module over its PKCS#11 interface.",
)
_HSM_CONFIG = option(
    "--hsm-config",
    help="Config file of the external Hardware Security Module (espsecure's format).",
    type=_input_file(),
)
_SKIP_PADDING = flag(
    "--skip-padding",
    help="Secure Boot v2: do not pad the data to a 4 KB sector boundary (sign or verify "
    "it as it is).",
)
_PUBLIC_KEY_FILE = option(
    "--keyfile",
    "-k",
    help="Public key file for verification: a PEM private or public key.",
    type=_input_file(),
    required=True,
)
_DIGEST_OUTPUT = option(
    "--output", "-o", help="Output file for the digest.", type=click.STRING, required=True
)
_FLASH_KEYLEN = option(
    "--keylen",
    "-l",
    help="Key length in bits: 128 or 256 (AES-XTS or ESP32), 512 (AES-XTS), 192 (ESP32 with "
    "the 3/4 coding scheme).",
    type=click.INT,
    default=256,
)

_SDC_VERBOSE = flag("--verbose", help="Print the certificate's intermediate values.")


def _flash_data_params(direction: str, argument: str) -> tuple[Opt | Arg, ...]:
    return (
        option(
            "--keyfile",
            "-k",
            help="File with the flash encryption key.",
            type=_input_file(),
            required=True,
        ),
        option(
            "--output",
            "-o",
            help=f"Output file for the {direction} data.",
            type=click.STRING,
            required=True,
        ),
        option(
            "--address",
            "-a",
            help="Flash address the data is (or will be) written at.",
            type=AnyInt(),
            required=True,
        ),
        option(
            "--flash-crypt-conf",
            help="ESP32 only: override the FLASH_CRYPT_CONF eFuse value.",
            type=AnyInt(),
            default=0xF,
        ),
        flag("--aes-xts", "-x", help="Use AES-XTS, the scheme of every chip but the ESP32."),
        Arg(argument, _input_file()),
    )


SECURE_COMMANDS: tuple[CommandSpec, ...] = (
    CommandSpec(
        "digest-secure-bootloader",
        SECURE_BOOT,
        "Secure Boot v1: digest a bootloader with the secure boot key, for flashing at 0x0.",
        params=(
            option(
                "--keyfile",
                "-k",
                help="256-bit secure boot key.",
                type=_input_file(),
                required=True,
            ),
            option(
                "--output",
                "-o",
                help="Output file for the digest and image (default: IMAGE-digest-0x0000.bin).",
                type=click.STRING,
            ),
            option(
                "--iv",
                help="128-byte IV file, for testing only (random when not given).",
                type=_input_file(),
            ),
            Arg("image", _input_file()),
        ),
        handler="secure_boot_handlers:run_digest_secure_bootloader",
    ),
    CommandSpec(
        "generate-signing-key",
        SECURE_BOOT,
        "Generate a private key for signing secure boot images.",
        params=(
            _version(default="1"),
            option(
                "--scheme",
                "-s",
                help="Signing scheme (Secure Boot v2 offers all; v1 only ecdsa256).",
                type=click.Choice(("rsa3072", "ecdsa192", "ecdsa256", "ecdsa384")),
            ),
            Arg("keyfile", click.Path(dir_okay=False)),
        ),
        handler="secure_boot_handlers:run_generate_signing_key",
    ),
    CommandSpec(
        "sign-data",
        SECURE_BOOT,
        "Sign a data file for use with secure boot.",
        params=(
            _version(required=True),
            option(
                "--keyfile",
                "-k",
                help="Private key file(s) in PEM format (Secure Boot v2: up to three).",
                type=_input_file(),
                multiple=True,
                eat_all=True,
            ),
            option(
                "--output",
                "-o",
                help="Output file for the signed data (default: sign the input file in place).",
                type=click.STRING,
            ),
            flag(
                "--append-signatures",
                "-a",
                help="Add signature block(s) to an already signed image (not for ESP32 and "
                "ESP32-C2).",
            ),
            _HSM,
            _HSM_CONFIG,
            option(
                "--pub-key",
                help="Public key file(s) (PEM) of the keys that made the pre-calculated "
                "signatures.",
                type=_input_file(),
                multiple=True,
                eat_all=True,
            ),
            option(
                "--signature",
                help="Pre-calculated signature file(s), made elsewhere (e.g. in an HSM).",
                type=_input_file(),
                multiple=True,
                eat_all=True,
            ),
            _SKIP_PADDING,
            Arg("datafile", _input_file()),
        ),
        handler="secure_boot_handlers:run_sign_data",
    ),
    CommandSpec(
        "verify-signature",
        SECURE_BOOT,
        "Verify a data file signed by sign-data, with the public key.",
        params=(
            _version(required=True),
            _HSM,
            _HSM_CONFIG,
            option(
                "--keyfile",
                "-k",
                help="Key file for verification: a PEM private or public key (Secure Boot v1 "
                "also takes the raw 64-byte public key).",
                type=_input_file(),
            ),
            _SKIP_PADDING,
            Arg("datafile", _input_file()),
        ),
        handler="secure_boot_handlers:run_verify_signature",
    ),
    CommandSpec(
        "extract-public-key",
        SECURE_BOOT,
        "Extract the public key of a private signing key (v1: raw 64 bytes; v2: PEM).",
        params=(
            _version(default="1"),
            option(
                "--keyfile",
                "-k",
                help="Private key file (PEM) to extract the public key from.",
                type=_input_file(),
                required=True,
            ),
            Arg("public_keyfile", click.Path(dir_okay=False)),
        ),
        handler="secure_boot_handlers:run_extract_public_key",
    ),
    CommandSpec(
        "digest-rsa-public-key",
        SECURE_BOOT,
        "(Deprecated: use digest-sbv2-public-key.) Write the SHA-256 digest of an RSA public key.",
        params=(_PUBLIC_KEY_FILE, _DIGEST_OUTPUT),
        handler="secure_boot_handlers:run_digest_rsa_public_key",
    ),
    CommandSpec(
        "digest-sbv2-public-key",
        SECURE_BOOT,
        "Write the SHA-256 digest of a Secure Boot v2 public key, for eFuse.",
        params=(_PUBLIC_KEY_FILE, _DIGEST_OUTPUT),
        handler="secure_boot_handlers:run_digest_sbv2_public_key",
    ),
    CommandSpec(
        "signature-info-v2",
        SECURE_BOOT,
        "Print the signature blocks of a Secure Boot v2 signed image and their key digests.",
        params=(Arg("datafile", _input_file()),),
        handler="secure_boot_handlers:run_signature_info_v2",
    ),
    CommandSpec(
        "digest-private-key",
        SECURE_BOOT,
        "Write the SHA-256 digest of a private signing key (a Secure Boot v1 eFuse key).",
        params=(
            option(
                "--keyfile",
                "-k",
                help="Private key file (PEM) to digest.",
                type=_input_file(),
                required=True,
            ),
            option(
                "--keylen",
                "-l",
                help="Digest length in bits: 256, or 192 for the 3/4 coding scheme.",
                type=click.INT,
                default=256,
            ),
            Arg("digest_file", click.Path(dir_okay=False)),
        ),
        handler="secure_boot_handlers:run_digest_private_key",
    ),
    CommandSpec(
        "generate-flash-encryption-key",
        FLASH_ENCRYPTION,
        "Generate a development flash encryption key from random data.",
        params=(_FLASH_KEYLEN, Arg("key_file", click.Path(dir_okay=False))),
        handler="flash_encryption_handlers:run_generate_flash_encryption_key",
    ),
    CommandSpec(
        "decrypt-flash-data",
        FLASH_ENCRYPTION,
        "Decrypt data read from encrypted flash, with a known key.",
        params=_flash_data_params("plaintext", "encrypted_file"),
        handler="flash_encryption_handlers:run_decrypt_flash_data",
    ),
    CommandSpec(
        "encrypt-flash-data",
        FLASH_ENCRYPTION,
        "Encrypt data for writing to encrypted flash, with a known key.",
        params=_flash_data_params("encrypted", "plaintext_file"),
        handler="flash_encryption_handlers:run_encrypt_flash_data",
    ),
    CommandSpec(
        "generate-sdc-certificate",
        SECURE_DEBUG,
        "Generate a Secure Debug Controller (SDC) certificate that unlocks debugging on one chip.",
        params=(
            option(
                "--keyfile",
                "-k",
                help="ECDSA P-256 private key (PEM) to sign with, unless --hsm.",
                type=_input_file(),
            ),
            option(
                "--output",
                "-o",
                help="Output file for the certificate.",
                type=click.STRING,
                default="sdc_cert.bin",
            ),
            _HSM,
            _HSM_CONFIG,
            option(
                "--pub-key",
                help="Public key (PEM) of the HSM's key pair, if the HSM cannot export it.",
                type=_input_file(),
            ),
            flag("--enable-jtag", help="Unlock the JTAG debugging interface."),
            flag("--enable-download-reuse", help="Unlock download mode reuse."),
            flag("--enable-force-spi-boot", help="Unlock forced SPI boot."),
            option(
                "--mac",
                help="The chip's MAC address (30:ed:a0:ed:78:9c, 30-ed-..., 30eda0ed789c, or a "
                ".bin/.hex file); needed unless --chip-info.",
                type=click.STRING,
            ),
            option(
                "--sdc-session-counter",
                help="The chip's SDC_SESSION_COUNTER eFuse value: 0, 1, 3 or 7.",
                type=AnyInt(),
                default=0,
            ),
            option(
                "--chip-info",
                help="chip_info.bin read from the chip (chip info and nonce, 64 bytes); "
                "replaces --mac and --sdc-session-counter.",
                type=_input_file(),
            ),
            option(
                "--usc",
                help="USC JSON file of unlock flags; overrides the --enable-* flags.",
                type=_input_file(),
            ),
            _SDC_VERBOSE,
        ),
        handler="secure_debug_handlers:run_generate_sdc_certificate",
        exclusive=(("keyfile", "hsm"), ("keyfile", "hsm_config")),
    ),
    CommandSpec(
        "digest-sdc-public-key",
        SECURE_DEBUG,
        "Write the SDC public key digest to burn into eFuse (SDC_KEY_DIGEST).",
        params=(
            option(
                "--keyfile",
                "-k",
                help="ECDSA P-256 private key (PEM) whose public key to digest.",
                type=_input_file(),
            ),
            option("--pub-key", help="ECDSA P-256 public key (PEM).", type=_input_file()),
            flag("--hsm", help="Read the public key from a Hardware Security Module."),
            option(
                "--hsm-config",
                help="Config file of the Hardware Security Module (with --hsm).",
                type=_input_file(),
            ),
            _SDC_VERBOSE,
            option(
                "--output",
                "-o",
                help="Output file for the digest.",
                type=click.STRING,
                default="sdc_pub_key_digest.bin",
            ),
        ),
        handler="secure_debug_handlers:run_digest_sdc_public_key",
    ),
)


SECURE_GROUP = GroupSpec(
    "secure",
    SECURITY,
    short_help="Secure Boot and flash encryption: the home of espsecure's commands.",
    help="Secure Boot signing and flash encryption: the home of espsecure's commands, "
    "under their espsecure names.",
    commands=SECURE_COMMANDS,
)
