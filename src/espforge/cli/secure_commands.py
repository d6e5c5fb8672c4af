"""`espforge secure`: espsecure 5.6's commands, as data, and their handlers.

The handlers import the signing and encryption library only when they run, so listing the
commands stays cheap.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from typing import TYPE_CHECKING

import click

from espforge.cli.commands import CommandSpec, Invocation
from espforge.cli.options import AnyInt, Arg, Opt, flag, option
from espforge.errors import EspforgeError

if TYPE_CHECKING:
    from espforge.secure.keys import PublicKey
    from espforge.secure.secure_boot_v2 import Signer

SECURE_BOOT = "Secure Boot"
FLASH_ENCRYPTION = "Flash encryption"
SECURE_DEBUG = "Secure Debug"
SECURE_SECTIONS = (SECURE_BOOT, FLASH_ENCRYPTION, SECURE_DEBUG)

SECRET_FILE_MODE = 0o600  # private keys and key digests: readable by their owner only

_HANDLERS = "espforge.cli.secure_commands"


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
        handler=f"{_HANDLERS}:run_digest_secure_bootloader",
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
        handler=f"{_HANDLERS}:run_generate_signing_key",
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
        handler=f"{_HANDLERS}:run_sign_data",
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
        handler=f"{_HANDLERS}:run_verify_signature",
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
        handler=f"{_HANDLERS}:run_extract_public_key",
    ),
    CommandSpec(
        "digest-rsa-public-key",
        SECURE_BOOT,
        "(Deprecated: use digest-sbv2-public-key.) Write the SHA-256 digest of an RSA public key.",
        params=(_PUBLIC_KEY_FILE, _DIGEST_OUTPUT),
        handler=f"{_HANDLERS}:run_digest_rsa_public_key",
    ),
    CommandSpec(
        "digest-sbv2-public-key",
        SECURE_BOOT,
        "Write the SHA-256 digest of a Secure Boot v2 public key, for eFuse.",
        params=(_PUBLIC_KEY_FILE, _DIGEST_OUTPUT),
        handler=f"{_HANDLERS}:run_digest_sbv2_public_key",
    ),
    CommandSpec(
        "signature-info-v2",
        SECURE_BOOT,
        "Print the signature blocks of a Secure Boot v2 signed image and their key digests.",
        params=(Arg("datafile", _input_file()),),
        handler=f"{_HANDLERS}:run_signature_info_v2",
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
        handler=f"{_HANDLERS}:run_digest_private_key",
    ),
    CommandSpec(
        "generate-flash-encryption-key",
        FLASH_ENCRYPTION,
        "Generate a development flash encryption key from random data.",
        params=(_FLASH_KEYLEN, Arg("key_file", click.Path(dir_okay=False))),
        handler=f"{_HANDLERS}:run_generate_flash_encryption_key",
    ),
    CommandSpec(
        "decrypt-flash-data",
        FLASH_ENCRYPTION,
        "Decrypt data read from encrypted flash, with a known key.",
        params=_flash_data_params("plaintext", "encrypted_file"),
        handler=f"{_HANDLERS}:run_decrypt_flash_data",
    ),
    CommandSpec(
        "encrypt-flash-data",
        FLASH_ENCRYPTION,
        "Encrypt data for writing to encrypted flash, with a known key.",
        params=_flash_data_params("encrypted", "plaintext_file"),
        handler=f"{_HANDLERS}:run_encrypt_flash_data",
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
        handler=f"{_HANDLERS}:run_generate_sdc_certificate",
        exclusive=(("keyfile", "hsm"), ("keyfile", "hsm_config")),
        requires=(("hsm", "hsm_config"), ("hsm_config", "hsm")),
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
        handler=f"{_HANDLERS}:run_digest_sdc_public_key",
        exclusive=(("keyfile", "pub_key", "hsm"),),
        requires=(("hsm", "hsm_config"),),
    ),
)


# ------------------------------------------------------------------ shared steps


def _read(path: str) -> bytes:
    """Read an input file (fileio is imported only when a command runs)."""
    from espforge import fileio

    return fileio.read_input(path)


def _write(path: str, data: bytes, mode: int | None = None) -> None:
    from espforge import fileio

    fileio.write_output(path, data, mode=mode)


def _check_not_overwriting(output: str | None, *inputs: str | None) -> None:
    """Refuse an output path that is one of the inputs, as espsecure does."""
    if output is None:
        return
    for path in inputs:
        if path is not None and _same_file(path, output):
            raise EspforgeError(f'The input "{path}" and output "{output}" should not be the same!')


def _same_file(first: str, second: str) -> bool:
    if os.path.exists(first) and os.path.exists(second):
        return os.path.samefile(first, second)
    return os.path.realpath(first) == os.path.realpath(second)


def _refuse_existing(path: str) -> None:
    if os.path.lexists(path):
        raise EspforgeError(f"{path}: the key file already exists; choose another name")


def _public_key(path: str) -> PublicKey:
    from espforge.secure.keys import load_public_key

    return load_public_key(_read(path), path)


@contextmanager
def _hsm(invocation: Invocation, public_key: PublicKey | None = None) -> Iterator[Signer]:
    """A session with the HSM that --hsm-config names."""
    from espforge.secure.hsm import open_hsm, read_hsm_config

    config_path = invocation.arguments["hsm_config"]
    if config_path is None:
        raise EspforgeError("--hsm needs --hsm-config: the HSM's config file")
    config = read_hsm_config(_read(config_path).decode(errors="replace"), config_path)
    invocation.echo(f"Opening a session with the HSM (slot {config.slot})...")
    with open_hsm(config, public_key) as signer:
        yield signer


# ------------------------------------------------------------------ Secure Boot


def run_generate_signing_key(invocation: Invocation) -> None:
    from espforge.secure.keys import V1_SCHEME, V2_SCHEMES, generate_private_key

    values = invocation.arguments
    path = values["keyfile"]
    _refuse_existing(path)
    scheme_name = values["scheme"]
    if values["version"] == "1":
        if scheme_name not in (None, V1_SCHEME.name):
            raise EspforgeError(f"Secure Boot v1 supports only {V1_SCHEME.name}, not {scheme_name}")
        scheme = V1_SCHEME
    else:
        scheme = V2_SCHEMES[scheme_name or "rsa3072"]
    _write(path, generate_private_key(scheme), mode=SECRET_FILE_MODE)
    invocation.echo(f'{scheme.title} private key in PEM format written to "{path}".')


def run_sign_data(invocation: Invocation) -> None:
    values = invocation.arguments
    datafile = values["datafile"]
    _check_not_overwriting(
        values["output"], datafile, *values["keyfile"], *values["pub_key"], *values["signature"]
    )
    output = values["output"] or datafile
    if values["version"] == "1":
        _sign_v1(invocation, datafile, output)
    else:
        _sign_v2(invocation, datafile, output)


def _sign_v1(invocation: Invocation, datafile: str, output: str) -> None:
    from espforge.secure import secure_boot_v1 as v1

    values = invocation.arguments
    if values["hsm"]:
        raise EspforgeError("Secure Boot v1 cannot sign with an HSM; use a key file")
    image = _read(datafile)
    if values["signature"]:
        public_keys, signatures = values["pub_key"], values["signature"]
        if len(public_keys) != 1 or len(signatures) != 1:
            raise EspforgeError("Secure Boot v1 takes exactly one --pub-key and one --signature")
        invocation.echo("Pre-calculated signature found...")
        key = v1.load_verifying_key(_read(public_keys[0]), public_keys[0])
        signed = v1.attach_signature(image, key, _read(signatures[0]), signatures[0])
    else:
        key_files = values["keyfile"]
        if len(key_files) != 1:
            raise EspforgeError("Secure Boot v1 signs with exactly one --keyfile")
        signing_key = v1.load_signing_key(_read(key_files[0]), key_files[0])
        signed = v1.sign_image(image, signing_key)
    _write(output, signed)
    invocation.echo(f'Signed {len(image)} bytes of data from "{datafile}".')


def _sign_v2(invocation: Invocation, datafile: str, output: str) -> None:
    from espforge.secure import secure_boot_v2 as v2

    values = invocation.arguments
    image = _read(datafile)
    with ExitStack() as stack:
        signers = _v2_signers(invocation, stack)
        invocation.echo(f"{len(signers)} signing key(s) found.")
        signed = v2.sign_image(
            image,
            signers,
            append=values["append_signatures"],
            skip_padding=values["skip_padding"],
            source=datafile,
        )
    if signed.padded_by:
        invocation.echo(
            f"Padded the data by {signed.padded_by} bytes so the signature sector starts at "
            "a sector boundary."
        )
    elif len(image) % 0x1000 and values["skip_padding"]:
        invocation.echo("Skipped sector padding: the data does not end at a sector boundary.")
    if values["append_signatures"]:
        invocation.echo(
            f"{signed.kept_blocks} valid signature block(s) already present in the signature "
            "sector."
            if signed.kept_blocks
            else "No valid signature blocks found: signing the image afresh."
        )
    _write(output, signed.data)
    invocation.echo(
        f'Signed {signed.signed_length} bytes of data from "{datafile}". '
        f"Signature sector now has {signed.total_blocks} signature blocks."
    )


def _v2_signers(invocation: Invocation, stack: ExitStack) -> list[Signer]:
    """Who signs: the HSM, pre-calculated signatures, or private key files."""
    from espforge.secure.secure_boot_v2 import PrecalculatedSignature

    values = invocation.arguments
    public_keys: Sequence[str] = values["pub_key"]
    if values["hsm"]:
        known_key = _public_key(public_keys[0]) if public_keys else None
        return [stack.enter_context(_hsm(invocation, known_key))]
    if values["signature"]:
        signatures: Sequence[str] = values["signature"]
        if len(public_keys) != len(signatures):
            raise EspforgeError(
                f"{len(public_keys)} --pub-key file(s) for {len(signatures)} --signature "
                "file(s): give one public key per pre-calculated signature"
            )
        invocation.echo("Pre-calculated signatures found...")
        return [
            PrecalculatedSignature(_public_key(key_path), _read(path), path)
            for key_path, path in zip(public_keys, signatures, strict=True)
        ]
    return [_private_key_signer(path) for path in values["keyfile"]]


def run_verify_signature(invocation: Invocation) -> None:
    values = invocation.arguments
    if values["version"] == "1":
        _verify_v1(invocation)
    else:
        _verify_v2(invocation)


def _verify_v1(invocation: Invocation) -> None:
    from espforge.secure import secure_boot_v1 as v1

    values = invocation.arguments
    if values["hsm"]:
        raise EspforgeError("Secure Boot v1 cannot verify with an HSM; use --keyfile")
    key_path = _required_keyfile(values["keyfile"])
    key = v1.load_verifying_key(_read(key_path), key_path)
    datafile = values["datafile"]
    length = v1.verify_image(_read(datafile), key, datafile)
    invocation.echo(f"Verified {length} bytes of data.")
    invocation.echo("Signature is valid.")


def _verify_v2(invocation: Invocation) -> None:
    from espforge.secure import secure_boot_v2 as v2

    values = invocation.arguments
    datafile = values["datafile"]
    with ExitStack() as stack:
        if values["hsm"]:
            signer = stack.enter_context(_hsm(invocation))
            key, key_source = signer.public_key(), signer.source
        else:
            key_source = _required_keyfile(values["keyfile"])
            key = _public_key(key_source)
    checks = v2.verify_image(
        _read(datafile),
        key,
        skip_padding=values["skip_padding"],
        source=datafile,
        key_source=key_source,
    )
    for check in checks:
        if check.verified:
            invocation.echo(
                f"Signature block {check.index} verification successful using the supplied "
                f"key ({check.algorithm})."
            )
        else:
            invocation.echo(f"Signature block {check.index} {check.reason}.")


def _required_keyfile(path: str | None) -> str:
    if path is None:
        raise EspforgeError("verify-signature needs --keyfile (or --hsm with --hsm-config)")
    return path


def run_extract_public_key(invocation: Invocation) -> None:
    from espforge.secure import keys, secure_boot_v1

    values = invocation.arguments
    key_path, output = values["keyfile"], values["public_keyfile"]
    _check_not_overwriting(output, key_path)
    pem = _read(key_path)
    if values["version"] == "1":
        public_bytes = keys.raw_public_point(
            secure_boot_v1.load_signing_key(pem, key_path).public_key()
        )
    else:
        private_key = keys.load_private_key(pem, key_path)
        keys.v2_scheme_of(private_key, key_path)
        public_bytes = keys.public_key_pem(private_key.public_key())
    _write(output, public_bytes)
    invocation.echo(f'"{key_path}" public key extracted to "{output}".')


def run_digest_sbv2_public_key(invocation: Invocation) -> None:
    from espforge.secure.keys import v2_scheme_of
    from espforge.secure.signature_block import public_key_digest

    values = invocation.arguments
    key_path, output = values["keyfile"], values["output"]
    _check_not_overwriting(output, key_path)
    key = _public_key(key_path)
    digest = public_key_digest(key, v2_scheme_of(key, key_path))
    invocation.echo(f'Writing the public key digest of "{key_path}" to "{output}".')
    _write(output, digest)


def run_digest_rsa_public_key(invocation: Invocation) -> None:
    invocation.warn("digest-rsa-public-key is deprecated; use digest-sbv2-public-key.")
    run_digest_sbv2_public_key(invocation)


def run_signature_info_v2(invocation: Invocation) -> None:
    from espforge.secure.secure_boot_v2 import signature_blocks
    from espforge.secure.signature_block import MAX_BLOCKS

    datafile = invocation.arguments["datafile"]
    blocks = signature_blocks(_read(datafile), datafile)
    for block in blocks:
        invocation.echo(f"Signature block {block.index} is valid ({block.algorithm}).")
        invocation.echo(f"Public key digest for block {block.index}: {block.key_digest.hex(' ')}")
    if len(blocks) < MAX_BLOCKS:
        invocation.echo(
            f"Signature block {len(blocks)} absent/invalid. Skipping checking next blocks..."
        )


def run_digest_private_key(invocation: Invocation) -> None:
    from espforge.secure.keys import private_key_digest
    from espforge.secure.secure_boot_v1 import load_signing_key

    values = invocation.arguments
    key_path, output, bits = values["keyfile"], values["digest_file"], values["keylen"]
    if bits not in (192, 256):
        raise EspforgeError(f"--keylen {bits}: give 256, or 192 for the 3/4 coding scheme")
    _check_not_overwriting(output, key_path)
    key = load_signing_key(_read(key_path), key_path)
    _write(output, private_key_digest(key, bits), mode=SECRET_FILE_MODE)
    truncated = "" if bits == 256 else " (truncated to 192 bits)"
    invocation.echo(f'SHA-256 digest of private key "{key_path}"{truncated} written to "{output}".')


def run_digest_secure_bootloader(invocation: Invocation) -> None:
    from espforge.secure.bootloader_digest import digest_secure_bootloader

    values = invocation.arguments
    image_path, iv_path = values["image"], values["iv"]
    output = values["output"] or os.path.splitext(image_path)[0] + "-digest-0x0000.bin"
    _check_not_overwriting(output, values["keyfile"], image_path, iv_path)
    if iv_path is not None:
        invocation.warn("--iv is for TESTING PURPOSES ONLY")
    digested = digest_secure_bootloader(
        _read(values["keyfile"]),
        _read(image_path),
        iv=None if iv_path is None else _read(iv_path),
        source=image_path,
    )
    _write(output, digested)
    invocation.echo(f'Digest + image written to "{output}".')


# ------------------------------------------------------------------ flash encryption


def run_generate_flash_encryption_key(invocation: Invocation) -> None:
    from espforge.secure.flash_encryption import generate_flash_encryption_key

    values = invocation.arguments
    bits, path = values["keylen"], values["key_file"]
    key = generate_flash_encryption_key(bits)
    invocation.echo(f'Writing {bits} random bits to key file "{path}".')
    _write(path, key, mode=SECRET_FILE_MODE)


def run_encrypt_flash_data(invocation: Invocation) -> None:
    _flash_data(invocation, "plaintext_file", decrypt=False)


def run_decrypt_flash_data(invocation: Invocation) -> None:
    _flash_data(invocation, "encrypted_file", decrypt=True)


def _flash_data(invocation: Invocation, input_name: str, *, decrypt: bool) -> None:
    from espforge.secure import flash_encryption

    values = invocation.arguments
    input_path, key_path, output = values[input_name], values["keyfile"], values["output"]
    _check_not_overwriting(output, key_path, input_path)
    operation = (
        flash_encryption.decrypt_flash_data if decrypt else flash_encryption.encrypt_flash_data
    )
    result = operation(
        _read(key_path),
        _read(input_path),
        values["address"],
        flash_crypt_conf=values["flash_crypt_conf"],
        aes_xts=values["aes_xts"],
        source=input_path,
    )
    _write(output, result)


# ------------------------------------------------------------------ Secure Debug


def run_generate_sdc_certificate(invocation: Invocation) -> None:
    from espforge.secure import sdc

    values = invocation.arguments
    output = values["output"]
    _check_not_overwriting(
        output,
        values["keyfile"],
        values["chip_info"],
        values["usc"],
        values["pub_key"],
        values["hsm_config"],
    )
    if not values["hsm"] and values["keyfile"] is None:
        raise EspforgeError("give --keyfile, or --hsm with --hsm-config, to sign the certificate")
    if values["keyfile"] and values["pub_key"]:
        invocation.warn("--pub-key is ignored: the public key comes from --keyfile.")
    flags = {name: values[name] for name in sdc.UNLOCK_FLAGS}
    if values["usc"] is not None:
        flags.update(
            sdc.read_usc_json(_read(values["usc"]).decode(errors="replace"), values["usc"])
        )
    chip_info, nonce = _chip_info_and_nonce(invocation)
    with ExitStack() as stack:
        if values["hsm"]:
            known_key = _public_key(values["pub_key"]) if values["pub_key"] else None
            signer = stack.enter_context(_hsm(invocation, known_key))
        else:
            signer = _private_key_signer(values["keyfile"])
        certificate = sdc.build_certificate(sdc.usc_data(flags), chip_info, nonce, signer)
    _write(output, certificate.data)
    if values["verbose"]:
        invocation.echo(f"Chip info: {chip_info.hex()}")
        invocation.echo(f"Nonce: {nonce.hex()}")
        invocation.echo(f"Public key hash: {certificate.public_key_hash.hex()}")
        invocation.echo(f"Certificate hash: {certificate.certificate_hash.hex()}")
    invocation.echo(f'SDC certificate generated successfully: "{output}"')
    invocation.echo(f"Certificate size: {len(certificate.data)} bytes")
    features = sdc.enabled_features(flags)
    invocation.echo(
        f"Enabled features: {', '.join(features)}"
        if features
        else "No additional features enabled (default security configuration)"
    )


def _chip_info_and_nonce(invocation: Invocation) -> tuple[bytes, bytes]:
    """From --chip-info as read from the chip, or derived from --mac with a fresh nonce."""
    from espforge.secure import sdc

    values = invocation.arguments
    counter = values["sdc_session_counter"]
    if values["chip_info"] is not None:
        if values["mac"] or counter:
            invocation.warn("--mac and --sdc-session-counter are ignored with --chip-info.")
        return sdc.split_chip_info_file(_read(values["chip_info"]), values["chip_info"])
    if not values["mac"]:
        raise EspforgeError("give --mac (with --sdc-session-counter), or --chip-info")
    nonce = os.urandom(sdc.NUMBER_SIZE)
    return sdc.chip_info_from_mac(sdc.parse_mac(values["mac"]), counter, nonce), nonce


def _private_key_signer(path: str) -> Signer:
    from espforge.secure.keys import load_private_key
    from espforge.secure.secure_boot_v2 import PrivateKeySigner

    return PrivateKeySigner(load_private_key(_read(path), path), path)


def run_digest_sdc_public_key(invocation: Invocation) -> None:
    from espforge.secure import sdc

    values = invocation.arguments
    output = values["output"]
    _check_not_overwriting(output, values["keyfile"], values["pub_key"], values["hsm_config"])
    with ExitStack() as stack:
        if values["hsm"]:
            signer = stack.enter_context(_hsm(invocation))
            key, source = signer.public_key(), signer.source
        elif values["pub_key"] is not None:
            source = values["pub_key"]
            key = _public_key(source)
        elif values["keyfile"] is not None:
            signer = _private_key_signer(values["keyfile"])
            key, source = signer.public_key(), signer.source
        else:
            raise EspforgeError("give one of --keyfile, --pub-key, or --hsm with --hsm-config")
    digest = sdc.public_key_digest(key, source)
    if values["verbose"]:
        invocation.echo(f"Public key: {sdc.public_key_bytes(key, source).hex()}")
    _write(output, digest)
    invocation.echo(f'SDC public key digest generated successfully: "{output}"')
    invocation.echo(f"Digest size: {len(digest)} bytes")
    invocation.echo(
        "Burn it into eFuse with 'espefuse burn-key <BLOCK> <digest_file> SDC_KEY_DIGEST'."
    )
