"""Building the stub's C sources for this machine, so pytest can call them through ctypes.

A library is built once per set of sources and flags (the key is a hash of both) into a
folder under the system's temporary directory, so repeated test runs do not recompile.
"""

from __future__ import annotations

import ctypes
import hashlib
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

STUB_SOURCE = Path(__file__).resolve().parents[2] / "stub"
HOST_FLAGS = ("-O1", "-g", "-std=c11", "-Wall", "-Wextra", "-Werror", "-fPIC", "-shared")


def build_library(
    sources: list[Path], include_dirs: list[Path] = (), defines: list[str] = ()
) -> ctypes.CDLL:
    """The host build of `sources` as a loaded shared library (a skip without gcc)."""
    compiler = shutil.which("gcc") or shutil.which("cc")
    if compiler is None:
        pytest.skip("no host C compiler (gcc) to build the stub's sources for tests")
    flags = [*HOST_FLAGS, *(f"-I{folder}" for folder in include_dirs), *(f"-D{d}" for d in defines)]
    key = hashlib.sha256()
    for part in [*flags, *map(str, sources)]:
        key.update(part.encode())
    for source in sorted({*sources, *_headers(include_dirs)}):
        key.update(source.read_bytes())
    target = Path(tempfile.gettempdir()) / "espforge-stub-host" / f"{key.hexdigest()[:16]}.so"
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_suffix(".tmp.so")
        command = [compiler, *flags, "-o", str(partial), *map(str, sources)]
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise AssertionError(f"host build failed:\n{result.stderr}")
        partial.replace(target)
    return ctypes.CDLL(str(target))


def _headers(include_dirs: list[Path]) -> list[Path]:
    return [header for folder in include_dirs for header in folder.glob("*.h")]
