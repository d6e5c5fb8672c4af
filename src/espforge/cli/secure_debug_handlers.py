"""Handlers of espsecure's Secure Debug commands: SDC certificates and public key digests."""

from __future__ import annotations

import os
from contextlib import ExitStack
from dataclasses import dataclass

from espforge.cli.framework import CommandOptions, Invocation, command
from espforge.cli.secure_files import (
    check_not_overwriting,
    hsm_session,
    private_key_signer,
    public_key,
    read,
    write,
)
from espforge.errors import EspforgeError
from espforge.secure import sdc


@dataclass(frozen=True)
class CertificateOptions(CommandOptions):
    keyfile: str | None
    output: str
    hsm: bool
    hsm_config: str | None
    pub_key: str | None
    enable_jtag: bool
    enable_download_reuse: bool
    enable_force_spi_boot: bool
    mac: str | None
    sdc_session_counter: int
    chip_info: str | None
    usc: str | None
    verbose: bool

    def unlock_flags(self) -> dict[str, bool]:
        """The --enable-* flags by their name in `sdc.UNLOCK_FLAGS`."""
        return {name: getattr(self, name) for name in sdc.UNLOCK_FLAGS}


@command(CertificateOptions)
def run_generate_sdc_certificate(invocation: Invocation, options: CertificateOptions) -> None:
    output = options.output
    # espsecure's argument checks, in its order and words
    if options.hsm and not options.hsm_config:
        raise EspforgeError("--hsm-config is required when --hsm is used")
    if options.hsm_config and not options.hsm:
        raise EspforgeError("--hsm-config requires --hsm to be used")
    if not options.hsm and options.keyfile is None:
        raise EspforgeError(
            "Either --keyfile or --hsm with --hsm-config must be provided, to sign the certificate"
        )
    if options.chip_info is None and not options.mac:
        raise EspforgeError(
            "--mac is required when --chip-info is not provided (give --mac, with "
            "--sdc-session-counter, or --chip-info read from the chip)"
        )
    check_not_overwriting(
        output,
        options.keyfile,
        options.chip_info,
        options.usc,
        options.pub_key,
        options.hsm_config,
    )
    if options.keyfile and options.pub_key:
        invocation.warn("--pub-key is ignored: the public key comes from --keyfile.")
    flags = options.unlock_flags()
    if options.usc is not None:
        flags.update(sdc.read_usc_json(read(options.usc).decode(errors="replace"), options.usc))
    chip_info, nonce = _chip_info_and_nonce(invocation, options)
    with ExitStack() as stack:
        if options.hsm:
            known_key = public_key(options.pub_key) if options.pub_key else None
            signer = stack.enter_context(hsm_session(invocation, options.hsm_config, known_key))
        else:
            signer = private_key_signer(options.keyfile)
        certificate = sdc.build_certificate(sdc.usc_data(flags), chip_info, nonce, signer)
    write(output, certificate.data)
    if options.verbose:
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


def _chip_info_and_nonce(
    invocation: Invocation, options: CertificateOptions
) -> tuple[bytes, bytes]:
    """From --chip-info as read from the chip, or derived from --mac with a fresh nonce."""
    counter = options.sdc_session_counter
    if options.chip_info is not None:
        if options.mac or counter:
            invocation.warn("--mac and --sdc-session-counter are ignored with --chip-info.")
        return sdc.split_chip_info_file(read(options.chip_info), options.chip_info)
    nonce = os.urandom(sdc.NUMBER_SIZE)
    return sdc.chip_info_from_mac(sdc.parse_mac(options.mac), counter, nonce), nonce


@dataclass(frozen=True)
class SdcKeyDigestOptions(CommandOptions):
    keyfile: str | None
    pub_key: str | None
    hsm: bool
    hsm_config: str | None
    verbose: bool
    output: str


@command(SdcKeyDigestOptions)
def run_digest_sdc_public_key(invocation: Invocation, options: SdcKeyDigestOptions) -> None:
    output = options.output
    # espsecure's argument checks, in its order and words
    given = [source for source in (options.keyfile, options.pub_key, options.hsm) if source]
    if not given:
        raise EspforgeError("One of --keyfile, --pub-key, or --hsm must be provided")
    if options.hsm and not options.hsm_config:
        raise EspforgeError("--hsm-config is required when using --hsm")
    if len(given) > 1:
        raise EspforgeError("Only one of --keyfile, --pub-key, or --hsm can be provided")
    check_not_overwriting(output, options.keyfile, options.pub_key, options.hsm_config)
    with ExitStack() as stack:
        if options.hsm:
            signer = stack.enter_context(hsm_session(invocation, options.hsm_config))
            key, source = signer.public_key(), signer.source
        elif options.pub_key is not None:
            source = options.pub_key
            key = public_key(source)
        else:
            signer = private_key_signer(options.keyfile)
            key, source = signer.public_key(), signer.source
    digest = sdc.public_key_digest(key, source)
    if options.verbose:
        invocation.echo(f"Public key: {sdc.public_key_bytes(key, source).hex()}")
    write(output, digest)
    invocation.echo(f'SDC public key digest generated successfully: "{output}"')
    invocation.echo(f"Digest size: {len(digest)} bytes")
    invocation.echo(
        "Burn it into eFuse with 'espefuse burn-key <BLOCK> <digest_file> SDC_KEY_DIGEST'."
    )
