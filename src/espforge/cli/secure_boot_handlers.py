"""Handlers of espsecure's Secure Boot commands: signing keys, signatures, digests."""

from __future__ import annotations

import os
from contextlib import ExitStack
from dataclasses import dataclass

from espforge.cli.framework import CommandOptions, Invocation, command
from espforge.cli.secure_files import (
    SECRET_FILE_MODE,
    check_not_overwriting,
    hsm_session,
    private_key_signer,
    public_key,
    read,
    refuse_existing,
    write,
)
from espforge.errors import EspforgeError
from espforge.secure import keys
from espforge.secure import secure_boot_v1 as v1
from espforge.secure import secure_boot_v2 as v2
from espforge.secure.bootloader_digest import digest_secure_bootloader
from espforge.secure.signature_block import MAX_BLOCKS, public_key_digest


@dataclass(frozen=True)
class SigningKeyOptions(CommandOptions):
    version: str
    scheme: str | None
    keyfile: str


@command(SigningKeyOptions)
def run_generate_signing_key(invocation: Invocation, options: SigningKeyOptions) -> None:
    path = options.keyfile
    refuse_existing(path)
    scheme_name = options.scheme
    if options.version == "1":
        if scheme_name not in (None, keys.V1_SCHEME.name):
            raise EspforgeError(
                f"Secure Boot v1 supports only {keys.V1_SCHEME.name}, not {scheme_name}"
            )
        scheme = keys.V1_SCHEME
    else:
        scheme = keys.V2_SCHEMES[scheme_name or "rsa3072"]
    write(path, keys.generate_private_key(scheme), mode=SECRET_FILE_MODE)
    invocation.echo(f'{scheme.title} private key in PEM format written to "{path}".')


# ---------------------------------------------------------------------- sign-data


@dataclass(frozen=True)
class SignOptions(CommandOptions):
    version: str
    keyfile: tuple[str, ...]
    output: str | None
    append_signatures: bool
    hsm: bool
    hsm_config: str | None
    pub_key: tuple[str, ...]
    signature: tuple[str, ...]
    skip_padding: bool
    datafile: str


@command(SignOptions)
def run_sign_data(invocation: Invocation, options: SignOptions) -> None:
    datafile = options.datafile
    check_not_overwriting(
        options.output, datafile, *options.keyfile, *options.pub_key, *options.signature
    )
    output = options.output or datafile
    if options.version == "1":
        _sign_v1(invocation, options, output)
    else:
        _sign_v2(invocation, options, output)


def _sign_v1(invocation: Invocation, options: SignOptions, output: str) -> None:
    if options.hsm:
        raise EspforgeError("Secure Boot v1 cannot sign with an HSM; use a key file")
    image = read(options.datafile)
    if options.signature:
        public_keys, signatures = options.pub_key, options.signature
        if len(public_keys) != 1 or len(signatures) != 1:
            raise EspforgeError("Secure Boot v1 takes exactly one --pub-key and one --signature")
        invocation.echo("Pre-calculated signature found...")
        key = v1.load_verifying_key(read(public_keys[0]), public_keys[0])
        signed = v1.attach_signature(image, key, read(signatures[0]), signatures[0])
    else:
        key_files = options.keyfile
        if len(key_files) != 1:
            raise EspforgeError("Secure Boot v1 signs with exactly one --keyfile")
        signing_key = v1.load_signing_key(read(key_files[0]), key_files[0])
        signed = v1.sign_image(image, signing_key)
    write(output, signed)
    invocation.echo(f'Signed {len(image)} bytes of data from "{options.datafile}".')


def _sign_v2(invocation: Invocation, options: SignOptions, output: str) -> None:
    datafile = options.datafile
    image = read(datafile)
    with ExitStack() as stack:
        signers = _v2_signers(invocation, options, stack)
        invocation.echo(f"{len(signers)} signing key(s) found.")
        signed = v2.sign_image(
            image,
            signers,
            append=options.append_signatures,
            skip_padding=options.skip_padding,
            source=datafile,
        )
    if signed.padded_by:
        invocation.echo(
            f"Padded the data by {signed.padded_by} bytes so the signature sector starts at "
            "a sector boundary."
        )
    elif len(image) % 0x1000 and options.skip_padding:
        invocation.echo("Skipped sector padding: the data does not end at a sector boundary.")
    if options.append_signatures:
        invocation.echo(
            f"{signed.kept_blocks} valid signature block(s) already present in the signature "
            "sector."
            if signed.kept_blocks
            else "No valid signature blocks found: signing the image afresh."
        )
    write(output, signed.data)
    invocation.echo(
        f'Signed {signed.signed_length} bytes of data from "{datafile}". '
        f"Signature sector now has {signed.total_blocks} signature blocks."
    )


def _v2_signers(invocation: Invocation, options: SignOptions, stack: ExitStack) -> list[v2.Signer]:
    """Who signs: the HSM, pre-calculated signatures, or private key files."""
    public_keys = options.pub_key
    if options.hsm:
        known_key = public_key(public_keys[0]) if public_keys else None
        return [stack.enter_context(hsm_session(invocation, options.hsm_config, known_key))]
    if options.signature:
        signatures = options.signature
        if len(public_keys) != len(signatures):
            raise EspforgeError(
                f"{len(public_keys)} --pub-key file(s) for {len(signatures)} --signature "
                "file(s): give one public key per pre-calculated signature"
            )
        invocation.echo("Pre-calculated signatures found...")
        return [
            v2.PrecalculatedSignature(public_key(key_path), read(path), path)
            for key_path, path in zip(public_keys, signatures, strict=True)
        ]
    return [private_key_signer(path) for path in options.keyfile]


# ---------------------------------------------------------------------- verify-signature


@dataclass(frozen=True)
class VerifyOptions(CommandOptions):
    version: str
    hsm: bool
    hsm_config: str | None
    keyfile: str | None
    skip_padding: bool
    datafile: str

    def required_keyfile(self) -> str:
        if self.keyfile is None:
            raise EspforgeError("verify-signature needs --keyfile (or --hsm with --hsm-config)")
        return self.keyfile


@command(VerifyOptions)
def run_verify_signature(invocation: Invocation, options: VerifyOptions) -> None:
    if options.version == "1":
        _verify_v1(invocation, options)
    else:
        _verify_v2(invocation, options)


def _verify_v1(invocation: Invocation, options: VerifyOptions) -> None:
    if options.hsm:
        raise EspforgeError("Secure Boot v1 cannot verify with an HSM; use --keyfile")
    key_path = options.required_keyfile()
    key = v1.load_verifying_key(read(key_path), key_path)
    length = v1.verify_image(read(options.datafile), key, options.datafile)
    invocation.echo(f"Verified {length} bytes of data.")
    invocation.echo("Signature is valid.")


def _verify_v2(invocation: Invocation, options: VerifyOptions) -> None:
    with ExitStack() as stack:
        if options.hsm:
            signer = stack.enter_context(hsm_session(invocation, options.hsm_config))
            key, key_source = signer.public_key(), signer.source
        else:
            key_source = options.required_keyfile()
            key = public_key(key_source)
    checks = v2.verify_image(
        read(options.datafile),
        key,
        skip_padding=options.skip_padding,
        source=options.datafile,
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


# ---------------------------------------------------------------------- keys and digests


@dataclass(frozen=True)
class ExtractKeyOptions(CommandOptions):
    version: str
    keyfile: str
    public_keyfile: str


@command(ExtractKeyOptions)
def run_extract_public_key(invocation: Invocation, options: ExtractKeyOptions) -> None:
    key_path, output = options.keyfile, options.public_keyfile
    check_not_overwriting(output, key_path)
    pem = read(key_path)
    if options.version == "1":
        public_bytes = keys.raw_public_point(v1.load_signing_key(pem, key_path).public_key())
    else:
        private_key = keys.load_private_key(pem, key_path)
        keys.v2_scheme_of(private_key, key_path)
        public_bytes = keys.public_key_pem(private_key.public_key())
    write(output, public_bytes)
    invocation.echo(f'"{key_path}" public key extracted to "{output}".')


@dataclass(frozen=True)
class KeyDigestOptions(CommandOptions):
    keyfile: str
    output: str


@command(KeyDigestOptions)
def run_digest_sbv2_public_key(invocation: Invocation, options: KeyDigestOptions) -> None:
    key_path, output = options.keyfile, options.output
    check_not_overwriting(output, key_path)
    key = public_key(key_path)
    digest = public_key_digest(key, keys.v2_scheme_of(key, key_path))
    invocation.echo(f'Writing the public key digest of "{key_path}" to "{output}".')
    write(output, digest)


@command(KeyDigestOptions)
def run_digest_rsa_public_key(invocation: Invocation, options: KeyDigestOptions) -> None:
    invocation.warn("digest-rsa-public-key is deprecated; use digest-sbv2-public-key.")
    run_digest_sbv2_public_key(invocation)


@dataclass(frozen=True)
class SignatureInfoOptions(CommandOptions):
    datafile: str


@command(SignatureInfoOptions)
def run_signature_info_v2(invocation: Invocation, options: SignatureInfoOptions) -> None:
    blocks = v2.signature_blocks(read(options.datafile), options.datafile)
    for block in blocks:
        invocation.echo(f"Signature block {block.index} is valid ({block.algorithm}).")
        invocation.echo(f"Public key digest for block {block.index}: {block.key_digest.hex(' ')}")
    if len(blocks) < MAX_BLOCKS:
        invocation.echo(
            f"Signature block {len(blocks)} absent/invalid. Skipping checking next blocks..."
        )
    if not blocks:
        invocation.warn(f"{options.datafile} is not signed (no valid signature block 0).")


@dataclass(frozen=True)
class PrivateKeyDigestOptions(CommandOptions):
    keyfile: str
    keylen: int
    digest_file: str


@command(PrivateKeyDigestOptions)
def run_digest_private_key(invocation: Invocation, options: PrivateKeyDigestOptions) -> None:
    key_path, output, bits = options.keyfile, options.digest_file, options.keylen
    if bits not in (192, 256):
        raise EspforgeError(f"--keylen {bits}: give 256, or 192 for the 3/4 coding scheme")
    check_not_overwriting(output, key_path)
    key = v1.load_signing_key(read(key_path), key_path)
    write(output, keys.private_key_digest(key, bits), mode=SECRET_FILE_MODE)
    truncated = "" if bits == 256 else " (truncated to 192 bits)"
    invocation.echo(f'SHA-256 digest of private key "{key_path}"{truncated} written to "{output}".')


@dataclass(frozen=True)
class BootloaderDigestOptions(CommandOptions):
    keyfile: str
    output: str | None
    iv: str | None
    image: str


@command(BootloaderDigestOptions)
def run_digest_secure_bootloader(invocation: Invocation, options: BootloaderDigestOptions) -> None:
    image_path, iv_path = options.image, options.iv
    output = options.output or os.path.splitext(image_path)[0] + "-digest-0x0000.bin"
    check_not_overwriting(output, options.keyfile, image_path, iv_path)
    if iv_path is not None:
        invocation.warn("--iv is for TESTING PURPOSES ONLY")
    digested = digest_secure_bootloader(
        read(options.keyfile),
        read(image_path),
        iv=None if iv_path is None else read(iv_path),
        source=image_path,
    )
    write(output, digested)
    invocation.echo(f'Digest + image written to "{output}".')
