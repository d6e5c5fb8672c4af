"""Atomic output files: permissions as a plain open() gives, secrets private, no debris."""

from __future__ import annotations

import os
import stat

import pytest

from espforge.errors import EspforgeError
from espforge.fileio import read_input, write_output


def test_output_gets_the_usual_permissions(tmp_path) -> None:
    umask = os.umask(0o022)
    try:
        write_output(tmp_path / "image.bin", b"data")
    finally:
        os.umask(umask)
    assert stat.S_IMODE((tmp_path / "image.bin").stat().st_mode) == 0o644


def test_secret_output_is_private(tmp_path) -> None:
    write_output(tmp_path / "key.bin", b"secret", mode=0o600)
    assert stat.S_IMODE((tmp_path / "key.bin").stat().st_mode) == 0o600


def test_failed_write_leaves_nothing(tmp_path) -> None:
    with pytest.raises(EspforgeError, match="cannot write"):
        write_output(tmp_path / "missing-dir" / "out.bin", b"data")
    assert list(tmp_path.iterdir()) == []


def test_missing_input_is_one_line(tmp_path) -> None:
    with pytest.raises(EspforgeError, match=r"nothing\.bin: no such file"):
        read_input(tmp_path / "nothing.bin")
