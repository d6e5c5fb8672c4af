"""What the secure handlers share: reading and writing their files, refusing to overwrite an
input, loading keys, and a session with an HSM."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

from espforge import fileio
from espforge.cli.framework import Invocation
from espforge.errors import EspforgeError
from espforge.secure.hsm import open_hsm, read_hsm_config
from espforge.secure.keys import PublicKey, load_private_key, load_public_key
from espforge.secure.secure_boot_v2 import PrivateKeySigner, Signer

SECRET_FILE_MODE = 0o600  # private keys and key digests: readable by their owner only


def read(path: str) -> bytes:
    return fileio.read_input(path)


def write(path: str, data: bytes, mode: int | None = None) -> None:
    fileio.write_output(path, data, mode=mode)


def check_not_overwriting(output: str | None, *inputs: str | None) -> None:
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


def refuse_existing(path: str) -> None:
    if os.path.lexists(path):
        raise EspforgeError(f"Key file {path} already exists. Choose another name.")


def public_key(path: str) -> PublicKey:
    return load_public_key(read(path), path)


def private_key_signer(path: str) -> Signer:
    return PrivateKeySigner(load_private_key(read(path), path), path)


@contextmanager
def hsm_session(
    invocation: Invocation, config_path: str | None, known_key: PublicKey | None = None
) -> Iterator[Signer]:
    """A session with the HSM that --hsm-config (`config_path`) names."""
    if config_path is None:
        raise EspforgeError("--hsm needs --hsm-config: the HSM's config file")
    config = read_hsm_config(read(config_path).decode(errors="replace"), config_path)
    invocation.echo(f"Opening a session with the HSM (slot {config.slot})...")
    with open_hsm(config, known_key) as signer:
        yield signer
