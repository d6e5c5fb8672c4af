"""Handlers of espsecure's flash encryption commands: make a key, encrypt and decrypt data."""

from __future__ import annotations

from dataclasses import dataclass

from espforge.cli.framework import CommandOptions, Invocation, command
from espforge.cli.secure_files import SECRET_FILE_MODE, check_not_overwriting, read, write
from espforge.secure.flash_encryption import (
    decrypt_flash_data,
    encrypt_flash_data,
    generate_flash_encryption_key,
)


@dataclass(frozen=True)
class FlashKeyOptions(CommandOptions):
    keylen: int
    key_file: str


@command(FlashKeyOptions)
def run_generate_flash_encryption_key(invocation: Invocation, options: FlashKeyOptions) -> None:
    key = generate_flash_encryption_key(options.keylen)
    invocation.echo(f'Writing {options.keylen} random bits to key file "{options.key_file}".')
    write(options.key_file, key, mode=SECRET_FILE_MODE)


@dataclass(frozen=True)
class FlashDataOptions(CommandOptions):
    keyfile: str
    output: str
    address: int
    flash_crypt_conf: int
    aes_xts: bool


@dataclass(frozen=True)
class EncryptOptions(FlashDataOptions):
    plaintext_file: str


@dataclass(frozen=True)
class DecryptOptions(FlashDataOptions):
    encrypted_file: str


@command(EncryptOptions)
def run_encrypt_flash_data(invocation: Invocation, options: EncryptOptions) -> None:
    _flash_data(options, options.plaintext_file, decrypt=False)


@command(DecryptOptions)
def run_decrypt_flash_data(invocation: Invocation, options: DecryptOptions) -> None:
    _flash_data(options, options.encrypted_file, decrypt=True)


def _flash_data(options: FlashDataOptions, input_path: str, *, decrypt: bool) -> None:
    check_not_overwriting(options.output, options.keyfile, input_path)
    operation = decrypt_flash_data if decrypt else encrypt_flash_data
    result = operation(
        read(options.keyfile),
        read(input_path),
        options.address,
        flash_crypt_conf=options.flash_crypt_conf,
        aes_xts=options.aes_xts,
        source=input_path,
    )
    write(options.output, result)
