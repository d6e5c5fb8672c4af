"""Registers as chip facts name them: a reader of 32-bit registers and bit fields within them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

# A way to read a 32-bit register of the chip (READ_REG, or a virtual chip's register file).
RegisterReader = Callable[[int], int]


@dataclass(frozen=True)
class RegisterField:
    """A bit field of a 32-bit register: `(word >> shift) & (2**width - 1)` at `address`."""

    address: int
    shift: int
    width: int

    @property
    def mask(self) -> int:
        return (1 << self.width) - 1

    def extract(self, word: int) -> int:
        return (word >> self.shift) & self.mask

    def insert(self, word: int, value: int) -> int:
        """`word` with this field replaced by `value` (truncated to the field's width)."""
        cleared = word & ~(self.mask << self.shift) & 0xFFFFFFFF
        return cleared | ((value & self.mask) << self.shift)


def read_joined(fields: tuple[RegisterField, ...], read_reg: RegisterReader) -> int:
    """The value made of `fields` put side by side, the first one most significant."""
    value = 0
    for field in fields:
        value = (value << field.width) | field.extract(read_reg(field.address))
    return value
