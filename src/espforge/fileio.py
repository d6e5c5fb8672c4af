"""File output that never leaves a half-written file behind."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from espforge.errors import EspforgeError


def read_input(path: str | os.PathLike[str]) -> bytes:
    """The bytes of an input file, or a one-line error naming it."""
    try:
        return Path(path).read_bytes()
    except FileNotFoundError:
        raise EspforgeError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise EspforgeError(f"{path}: is a directory, not a file") from None
    except OSError as exc:
        raise EspforgeError(f"{path}: cannot read ({exc.strerror})") from None


def write_output(path: str | os.PathLike[str], data: bytes, mode: int | None = None) -> None:
    """Write `data` to `path` atomically: a temporary file beside it, renamed into place.

    `mode` sets the file's permission bits (0o600 for secrets); None keeps the default that a new
    file gets under the umask.
    """
    target = Path(path)
    directory = target.parent if str(target.parent) else Path(".")
    try:
        fd, temp_name = tempfile.mkstemp(prefix=f".{target.name}.", dir=directory)
    except OSError as exc:
        raise EspforgeError(f"{path}: cannot write ({exc.strerror})") from None
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.chmod(temp_name, _default_mode() if mode is None else mode)
        os.replace(temp_name, target)
    except OSError as exc:
        os.unlink(temp_name)
        raise EspforgeError(f"{path}: cannot write ({exc.strerror})") from None


def _default_mode() -> int:
    """What a plain open() would give a new file: 0o666 less the umask (mkstemp makes 0o600)."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask
