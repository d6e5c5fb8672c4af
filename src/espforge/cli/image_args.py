"""What the image commands share: the chip they build for, and optional sizes."""

from __future__ import annotations

from espforge.chips import CHIP_NAMES, ChipSpec, get_chip
from espforge.cli.framework import Invocation
from espforge.cli.options import size_in_bytes
from espforge.errors import EspforgeError


def chosen_chip(invocation: Invocation) -> ChipSpec:
    """The chip named by --chip; image building cannot guess it."""
    if invocation.settings.chip == "auto":
        raise EspforgeError(f"Specify the --chip argument (choose from {', '.join(CHIP_NAMES)}).")
    return get_chip(invocation.settings.chip)


def optional_size(text: str | None) -> int | None:
    return None if text is None else size_in_bytes(text)
